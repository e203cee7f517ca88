/* Confinement of VMMs in cgroup v2: each VM gets PARENT/vm-NAME with
 * cpu.weight, cpu.max and memory.max from its config. PARENT is
 * $DOMUS_CGROUP (a delegated cgroup), or domusd's own cgroup when domusd is
 * alone in it and may write it; otherwise VMs run unconfined and
 * cgroup_describe() says why. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_record;

void cgroup_init(void);
/* "cgroup:PATH" or "none: REASON". */
const char *cgroup_describe(void);
/* Creates (or reuses) the VM's cgroup and applies its limits. Returns the
 * path of its cgroup.procs, for the child to join before exec, or NULL when
 * VMs are not confined (a warning is in @warning). */
char *cgroup_prepare_vm(const struct vm_record *rec, char **warning);
/* Removes an empty VM cgroup after its VMM is gone. */
void cgroup_release_vm(const char *name);
/* The cgroup directory a process is in, or NULL. */
char *cgroup_of_pid(int pid);
