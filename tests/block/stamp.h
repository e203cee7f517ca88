/* The stamped 4 KiB blocks of the crash tests: block @idx of generation
 * @gen is its index, its generation, then a pattern derived from both, so a
 * torn, misplaced or stale block is told apart from the right one. */
#pragma once
#include "block/block.h"
#include <stdint.h>
#include <string.h>

#define BLK 4096

static inline void stamp(uint8_t *p, uint32_t idx, uint32_t gen)
{
    uint64_t x = ((uint64_t)idx << 32 | gen) * 0x9e3779b97f4a7c15ULL + 1;
    memcpy(p, &idx, 4);
    memcpy(p + 4, &gen, 4);
    for (int i = 8; i < BLK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
}

/* Writes blocks [i, i+k) (clipped to @n) each one generation newer than
 * @gen says, through @buf (k blocks big); updates @gen. */
static inline int stamp_write(struct block *b, uint8_t *buf, uint32_t *gen, uint32_t n, uint32_t i, uint32_t k)
{
    if (i + k > n)
        k = n - i;
    for (uint32_t j = 0; j < k; j++)
        stamp(buf + (size_t)j * BLK, i + j, ++gen[i + j]);
    return block_pwrite(b, buf, (size_t)k * BLK, (uint64_t)i * BLK);
}
