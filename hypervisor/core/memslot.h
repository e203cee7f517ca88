/* KVM memory slots beyond guest RAM: device memory the guest reaches
 * without exits (a framebuffer BAR), and holes punched into RAM for legacy
 * MMIO windows (VGA at 0xA0000). One VM per process, so the slot table is
 * process-wide. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;

#define MEMSLOT_UNMAPPED UINT64_MAX

#define MEMSLOT_DIRTY_LOG 1          /* track guest writes for vm_memslot_dirty() */
#define MEMSLOT_READONLY  2          /* guest writes exit as MMIO (-ENOTSUP without KVM support) */

/* Maps @size bytes at @host into the guest at @gpa (MEMSLOT_UNMAPPED: not
 * yet), with MEMSLOT_* @flags. Returns a slot handle (>= 0) or -errno. */
int vm_memslot_add(struct vm *vm, uint64_t gpa, uint64_t size, void *host, unsigned flags);
/* Moves the slot to @gpa, or unmaps it (MEMSLOT_UNMAPPED). -EEXIST if the
 * new place overlaps other memory (the slot is then left unmapped). */
int vm_memslot_move(struct vm *vm, int slot, uint64_t gpa);
/* Fetches and clears the slot's dirty bitmap: one bit per 4 KiB page,
 * @bitmap holds at least size/4096 bits rounded up to 64. Returns 0, or
 * -ENOENT when the slot is unmapped (nothing can have been written). */
int vm_memslot_dirty(struct vm *vm, int slot, uint64_t *bitmap);
/* Takes [gpa, gpa+size) out of the RAM slots so accesses there exit as
 * MMIO (the RAM behind stays allocated and reachable by guest_mem_ptr()).
 * Before the vCPUs run. */
int vm_ram_hole(struct vm *vm, uint64_t gpa, uint64_t size);
