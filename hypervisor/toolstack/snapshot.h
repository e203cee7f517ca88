/* VM snapshots. Each snapshot is an internal qcow2 snapshot of the same
 * name in every disk of the VM, plus snapshots/NAME.snap (a key file:
 * when, which disks, its parent, whether it has VM state) and for a
 * running VM's snapshot the VM state, snapshots/NAME.state (+ .ram). */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>

struct vm_record;

bool vm_snapshot_name_valid(const char *name, GError **error);
bool vm_snapshot_create(const struct vm_record *rec, const char *name, GError **error);
/* Names, oldest first. */
char **vm_snapshot_list(const struct vm_record *rec);
bool vm_snapshot_revert(const struct vm_record *rec, const char *name, GError **error);
bool vm_snapshot_delete(const struct vm_record *rec, const char *name, GError **error);

/* Live snapshots: the VMM writes snapshots/NAME.state (+ .ram) and the
 * disks' snapshots while paused; domusd checks the name first and writes
 * the key file once the VMM has succeeded (or removes its files). */
bool vm_snapshot_check_new(const struct vm_record *rec, const char *name, GError **error);
char *vm_snapshot_state_path(const struct vm_record *rec, const char *name);
bool vm_snapshot_commit_live(const struct vm_record *rec, const char *name, GError **error);
void vm_snapshot_abandon_live(const struct vm_record *rec, const char *name);
bool vm_snapshot_exists(const struct vm_record *rec, const char *name, GError **error);
bool vm_snapshot_has_state(const struct vm_record *rec, const char *name);
/* A running VM went back to @name (the parent of the next snapshot). */
void vm_snapshot_reverted(const struct vm_record *rec, const char *name);
/* The tree: a(ssxbb) of name, parent ("" for a root), created (unix s),
 * has VM state, is the current one; oldest first. */
GVariant *vm_snapshot_tree(const struct vm_record *rec);

/* Saved VM state the next start resumes from (domus stop --save, or a
 * revert to a live snapshot while stopped): NULL if none. */
char *vm_resume_state(const struct vm_record *rec);
char *vm_suspend_state_path(const struct vm_record *rec);
/* Whether the saved state at @path was taken with a display (virtio-gpu):
 * the VMM resuming it needs the same devices. False when unreadable. */
bool vm_state_has_display(const char *path);
void vm_resume_set(const struct vm_record *rec, const char *state_path);
/* The VMM resumed it: a suspend image is removed, the marker cleared. */
void vm_resume_done(const struct vm_record *rec);
