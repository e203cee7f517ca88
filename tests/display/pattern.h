/* The display tests' picture (shared by guest-fb, in the guest, and
 * fake-vmm, on the host): left half red, right half blue, a 64x64 white
 * square at (32,32) and a green one 32 pixels from the bottom-right corner. */
#pragma once
#include <stdint.h>

static inline uint32_t test_pattern(unsigned x, unsigned y, unsigned w, unsigned h)
{
    if (x >= 32 && x < 96 && y >= 32 && y < 96)
        return 0xFFFFFF;
    if (x + 96 >= w && x + 32 < w && y + 96 >= h && y + 32 < h)
        return 0x00FF00;
    return x < w / 2 ? 0xFF0000 : 0x0000FF;
}
