/* A client for domus-vmm's control socket (see devices/control.h): one
 * request per connection, asynchronous, with a timeout, so one stuck VMM
 * never stalls domusd. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* Sends {"execute": @command} (plus @args members when given) and completes
 * with the "return" object, or an error carrying the VMM's "desc". */
void vmm_control_call(const char *socket_path, const char *command, JsonObject *args,
                      guint timeout_ms, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data);
JsonObject *vmm_control_call_finish(GAsyncResult *result, GError **error);

/* The same, blocking; for start-up discovery and tests. */
JsonObject *vmm_control_call_sync(const char *socket_path, const char *command, JsonObject *args,
                                  guint timeout_ms, GError **error);
