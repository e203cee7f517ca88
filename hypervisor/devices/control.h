/* The control socket (--control unix:PATH): newline-delimited JSON, one
 * request per line, one reply per request, for domusd and scripts.
 *   {"execute":"status"}   -> {"return":{"name":…,"state":"running",…}}
 *   {"execute":"pause"|"resume"|"powerdown"|"reset"|"quit"} -> {"return":{}}
 *   anything else          -> {"error":{"class":…,"desc":…}}
 * Several clients may be connected; a malformed message closes only that client. */
#pragma once

struct vm;
/* Listens on @path (replacing a stale socket). Returns 0 or -errno with *error set. */
int control_open(struct vm *vm, const char *path, char **error);
void control_close(void);
