/* Linked clones: the source's disks become read-only base images in
 * $XDG_DATA_HOME/domus/bases/, and both the source and the clone continue
 * on qcow2 overlays of them. Nothing is copied, so a clone of any size
 * takes milliseconds; bases nobody uses any more are removed. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>

struct vm_record;

/* Freezes @src's disks into bases (rewriting @src's vm.conf atomically) and
 * creates the clone's overlays in @dst_dir; @dst gets their names. On
 * failure @src is left as it was. @src must be stopped. */
bool clone_link_disks(struct vm_record *src, struct vm_record *dst, const char *dst_dir, GError **error);
/* Removes bases that no VM's disk chain uses. */
void clone_gc_bases(void);
