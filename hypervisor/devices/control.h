/* The control socket (--control unix:PATH): newline-delimited JSON, one
 * request per line, one reply per request, for domusd and scripts.
 *   {"execute":"status"}   -> {"return":{"name":…,"state":"running",…}}
 *   {"execute":"pause"|"resume"|"powerdown"|"reset"|"quit"} -> {"return":{}}
 *   {"execute":"set-link","arguments":{"up":false}} -> {"return":{}}  (NIC cable out / in)
 *   {"execute":"snapshot-save","path":P[,"paused":true][,"disk-snapshot":NAME]}
 *       -> {"return":{"pause-ms":…,"total-ms":…,"ram-bytes":…}}: the VM's
 *       state to P and P.ram (and qcow2 snapshot NAME of every disk, taken
 *       while paused); the VM runs on unless "paused" (see core/snapshot.h)
 *   {"execute":"snapshot-load","path":P[,"paused":true][,"disk-snapshot":NAME]
 *       [,"ram":"auto"|"lazy"|"copy"]} -> {"return":{"pause-ms":…,"lazy":…}}:
 *       the VM continues from P (disks back to NAME); a file that does not
 *       fit is refused with the VM untouched
 *   anything else          -> {"error":{"class":…,"desc":…}}
 * Requests may carry an "id", which the reply echoes. Several clients may
 * be connected; a malformed request gets an error reply on that client
 * only, and a client sending a line over 64 KiB is disconnected. */
#pragma once
#include <json-glib/json-glib.h>

struct vm;
/* Listens on @path (replacing a stale socket). Returns 0 or -errno with *error set. */
int control_open(struct vm *vm, const char *path, char **error);
void control_close(void);

/* A device's own command, e.g. the CD drive's "eject": called on the I/O
 * thread with the request's "arguments" object (NULL if none). Returns the
 * "return" value (NULL: {}), or NULL with *error_class (e.g.
 * "GenericError", "DeviceNotFound") and a malloc'ed *desc. */
typedef JsonNode *(*control_command_fn)(void *opaque, JsonObject *args, const char **error_class, char **desc);
/* Registers @name (a static string) before control_open(); -ENOSPC when full. */
int control_add_command(const char *name, control_command_fn fn, void *opaque);
