/* Confinement of VMMs in cgroup v2, the first of these that works:
 * - a transient systemd user scope per VMM (systemd_scope.c), when a
 *   systemd user manager is on domusd's session bus;
 * - PARENT/vm-NAME, PARENT being $DOMUS_CGROUP (a delegated cgroup), or
 *   domusd's own cgroup when domusd is alone in it and may write it; also
 *   where a VMM goes when systemd refuses its scope;
 * - none: VMs run unconfined and cgroup_describe() says why.
 * Each with cpu.weight, cpu.max and memory.max from the VM's config. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_record;

/* @bus: domusd's session bus, where a systemd user manager may be. */
void cgroup_init(GDBusConnection *bus);
/* "systemd", "cgroup:PATH" or "none: REASON". */
const char *cgroup_describe(void);
/* Before spawning a VMM: creates (or reuses) the VM's delegated cgroup and
 * applies its limits. Returns the path of its cgroup.procs, for the child
 * to join before exec, or NULL: VMs are not confined (a warning is in
 * @warning), or go into a systemd scope once they have a pid. */
char *cgroup_prepare_vm(const struct vm_record *rec, char **warning);
/* After spawning: @desc says where the VMM runs ("systemd scope UNIT",
 * "cgroup PATH" or "none: REASON", with why systemd's scope was refused). */
typedef void (*cgroup_placed_fn)(int pid, const char *desc, void *data);
/* Puts VMM @pid into its systemd scope, or into the delegated cgroup when
 * systemd refuses; @procs and @warning are what cgroup_prepare_vm gave.
 * @rec must live until @done is called. */
void cgroup_place_vm(const struct vm_record *rec, int pid, const char *procs, const char *warning,
                     cgroup_placed_fn done, void *data);
/* Removes an empty VM cgroup after its VMM is gone. */
void cgroup_release_vm(const char *name);
/* The cgroup directory a process is in, or NULL. */
char *cgroup_of_pid(int pid);
