/* Shared by the snapshot modules (snapshot.c, snapshot_kvm.c, snapshot_ram.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "snapshot_file.h"

struct vm;
struct guest_mem;

/* Whether a parsed state file fits @vm: vCPUs, RAM size, KVM sections,
 * and exactly the registered devices at their versions. */
int snapshot_check_image(struct vm *vm, const struct snap_image *img, char **error);

int snapshot_kvm_save(struct vm *vm, struct snap_writer *w, char **error);
bool snapshot_kvm_owns(const char *name);
int snapshot_kvm_check(struct vm *vm, const struct snap_image *img, char **error);
int snapshot_kvm_load_chips(struct vm *vm, const struct snap_image *img);
int snapshot_kvm_load_vcpus(struct vm *vm, const struct snap_image *img);
int snapshot_kvm_load_clock(struct vm *vm, const struct snap_image *img);

/* The RAM file: a 4 KiB header, then the guest's RAM as one sparse image
 * (pages of zeros are holes), so it can be mapped as it is. */
int snapshot_ram_save(const struct guest_mem *mem, const char *path, uint64_t ram_id,
                      uint64_t *data_bytes, char **error);
/* Opens and checks the RAM file against the state file; returns an fd. */
int snapshot_ram_open(const char *path, uint64_t ram_size, uint64_t ram_id, char **error);
/* Makes the file's contents the guest's RAM: mapped MAP_PRIVATE over it
 * (@lazy: pages are read when touched) or copied into the memfd (when
 * others share the memfd, e.g. the display). Consumes @fd. */
int snapshot_ram_load(struct guest_mem *mem, int fd, bool lazy);
/* After a lazy load, once the guest runs again: frees the memfd's pages,
 * which are not guest RAM any more (kept out of the pause). */
void snapshot_ram_trim(struct guest_mem *mem);
