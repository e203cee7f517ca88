/* domusd's manager object: templates, the VM table, create / delete /
 * clone, statistics. */
#pragma once
#include <gio/gio.h>

struct manager;

struct manager *manager_new(GDBusConnection *bus, GError **error);
void manager_free(struct manager *m);
