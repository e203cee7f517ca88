/* Changing a stopped VM's settings (the VM object's SetConfig). */
#pragma once
#include "library.h"

/* Applies @settings (a{sv}: memory t, cpus u, disk-size t, net s, sound s: none, hda or virtio)
 * to @rec and its vm.conf, all or nothing; DOMUS_ERROR_INVALID says which
 * value is wrong. The caller makes sure the VM is stopped. */
/* The first disk's virtual size from its header (no lock: the VM may
 * run), 0 when unknown. */
uint64_t vm_settings_disk_size(const struct vm_record *rec);
bool vm_settings_apply(struct vm_record *rec, GVariant *settings, GError **error);
