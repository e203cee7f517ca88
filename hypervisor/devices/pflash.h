/* CFI flash (Intel command set, as QEMU's pflash_cfi01) holding the UEFI
 * variable store. In read-array mode the bytes are a read-only KVM slot,
 * so the firmware reads them at memory speed and only its writes (the
 * commands) exit to us; status and ID modes take the slot away so reads
 * exit too. Programs and erases land in the mapping at once, which is the
 * per-VM file (--nvram) when there is one. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct vm;
struct pflash;

#define PFLASH_BLOCK_SIZE 4096

/* @mem (@size bytes, page aligned) appears at @gpa through KVM slot @slot. */
int pflash_create(struct vm *vm, uint64_t gpa, uint8_t *mem, uint64_t size, unsigned slot,
                  struct pflash **out);
/* Live snapshots ("pflash"): the command state and the whole store. load()
 * refuses another size or an impossible command state (-EINVAL, nothing
 * changed); it writes the store back (into --nvram's file too). */
long pflash_state_save(struct pflash *f, void *buf, size_t max);
int pflash_state_load(struct pflash *f, const void *buf, size_t len);
