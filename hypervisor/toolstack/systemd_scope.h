/* A VMM in a transient systemd user scope: what systemd-run --user --scope
 * does, asked of the user manager (org.freedesktop.systemd1 on the session
 * bus) over D-Bus, with the VM's CPU and memory limits as unit properties. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

struct systemd_scope_limits {
    uint32_t cpu_weight;             /* 1-10000 */
    uint32_t cpu_quota;              /* percent of one CPU, 0 = unlimited */
    uint64_t memory_max;             /* bytes */
};

/* Does a systemd user manager answer on @bus? */
bool systemd_scope_available(GDBusConnection *bus);
/* "domus-vm-NAME-PID.scope", NAME escaped as systemd wants unit names. */
char *systemd_scope_unit_name(const char *vm_name, int pid);
/* @unit is the scope @pid now runs in, or NULL with @error saying why
 * systemd would not (or did not answer in time). */
typedef void (*systemd_scope_done_fn)(const char *unit, const char *error, void *data);
/* Starts the scope (job mode "fail") and calls @done once its job is gone. */
void systemd_scope_start(GDBusConnection *bus, const char *vm_name, int pid,
                         const struct systemd_scope_limits *limits, systemd_scope_done_fn done, void *data);
