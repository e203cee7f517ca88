/* The disks of this process (domus-vmm: every disk of the VM, on any
 * controller) that a live snapshot's disk snapshot covers. Controllers add
 * a disk when they open it and remove it before closing it. */
#pragma once
#include <stdbool.h>

struct block;

#define BLOCK_SET_MAX 32

/* -ENOSPC when the set is full. */
int block_set_add(struct block *b);
void block_set_remove(struct block *b);
/* With the VM paused and drained: every disk's state becomes internal
 * qcow2 snapshot @name (create), or goes back to it (@apply). Every disk is
 * checked first (qcow2; has @name when applying), so a refusal changes
 * nothing. -errno with a malloc'ed one-line *error. */
int block_set_snapshot(const char *name, bool apply, char **error);
/* The same for @n disks opened by the caller (domusd, for a stopped VM),
 * all or nothing: every disk is checked first; a create that fails
 * part-way deletes the snapshots it made; a revert first keeps each disk's
 * present state as a snapshot of its own and, failing part-way, puts every
 * disk back to it, so no disk is left at another point in time. */
int block_snapshot_all(struct block *const *disks, unsigned n, const char *name, bool apply, char **error);
/* Takes back snapshot @name of every disk (a live snapshot that failed later). */
void block_set_snapshot_delete(const char *name);
