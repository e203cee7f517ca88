/* The control socket (--control unix:PATH): newline-delimited JSON, one
 * request per line, one reply per request, for domusd and scripts.
 *   {"execute":"status"}   -> {"return":{"name":…,"state":"running",…}}
 *   {"execute":"pause"|"resume"|"powerdown"|"reset"|"quit"} -> {"return":{}}
 *   {"execute":"set-link","arguments":{"up":false}} -> {"return":{}}  (NIC cable out / in)
 *   anything else          -> {"error":{"class":…,"desc":…}}
 * Requests may carry an "id", which the reply echoes. Several clients may
 * be connected; a malformed request gets an error reply on that client
 * only, and a client sending a line over 64 KiB is disconnected. */
#pragma once

struct vm;
/* Listens on @path (replacing a stale socket). Returns 0 or -errno with *error set. */
int control_open(struct vm *vm, const char *path, char **error);
void control_close(void);
