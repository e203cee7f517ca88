/* VM snapshots. Each snapshot is an internal qcow2 snapshot of the same
 * name in every disk of the VM, plus snapshots/NAME.snap (a key file:
 * when, which disks, and later the saved VM state for running VMs). */
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
