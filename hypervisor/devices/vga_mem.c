/* The legacy window 0xA0000-0xBFFFF: chain-4 (mode 13h), odd/even (text)
 * and planar access with the four write modes, latches and both read
 * modes, as vgabios and DOS-era code use them. Every VRAM index is checked
 * against vram_size, so no register setting reaches outside VRAM. */
#include "vga_int.h"

#include <string.h>

/* Byte lanes of the 32-bit latch selected by a 4-bit plane mask. */
static uint32_t plane_mask(unsigned m)
{
    return (m & 1 ? 0x000000FFu : 0) | (m & 2 ? 0x0000FF00u : 0) |
           (m & 4 ? 0x00FF0000u : 0) | (m & 8 ? 0xFF000000u : 0);
}

/* Maps a window address to a window-relative one, or returns false when
 * the memory map select (GR06) leaves it undecoded. In VBE mode the
 * 64 KiB bank at 0xA0000 slides over the whole VRAM. */
static bool decode(const struct vga *s, uint32_t *addr, uint32_t *bank)
{
    *bank = 0;
    switch ((s->gfx[6] >> 2) & 3) {
    case 0:
        break;
    case 1:
        if (*addr >= 0x10000)
            return false;
        if (s->vbe[VBE_ENABLE] & VBE_ENABLED)
            *bank = (uint32_t)s->vbe[VBE_BANK] << 16;
        break;
    case 2:
        if (*addr < 0x10000 || *addr >= 0x18000)
            return false;
        *addr -= 0x10000;
        break;
    default:
        if (*addr < 0x18000)
            return false;
        *addr -= 0x18000;
        break;
    }
    return true;
}

static bool in_vram(const struct vga *s, uint64_t index, uint64_t len)
{
    return index < s->vram_size && len <= s->vram_size - index;
}

uint8_t vga_mem_read(struct vga *s, uint32_t addr)
{
    uint32_t bank;
    if (!decode(s, &addr, &bank))
        return 0xFF;
    if (s->seq[4] & 0x08) {                              /* chain 4 */
        uint64_t i = (uint64_t)bank + addr;
        return in_vram(s, i, 1) ? s->vram[i] : 0xFF;
    }
    if (s->gfx[5] & 0x10) {                              /* odd/even */
        unsigned plane = (s->gfx[4] & 2) | (addr & 1);
        uint64_t i = ((uint64_t)(addr & ~1u) << 1) | plane;
        return in_vram(s, i, 1) ? s->vram[i] : 0xFF;
    }
    uint64_t i = (uint64_t)addr * 4;
    if (!in_vram(s, i, 4))
        return 0xFF;
    memcpy(&s->latch, s->vram + i, 4);
    if (!(s->gfx[5] & 0x08))                             /* read mode 0: one plane */
        return (uint8_t)(s->latch >> (8 * (s->gfx[4] & 3)));
    /* read mode 1: colour compare over the planes in "colour don't care" */
    uint32_t v = (s->latch ^ plane_mask(s->gfx[2])) & plane_mask(s->gfx[7]);
    v |= v >> 16;
    v |= v >> 8;
    return (uint8_t)~v;
}

static uint8_t rotate(uint8_t v, unsigned n)
{
    n &= 7;
    return (uint8_t)((v >> n) | (v << (8 - n)));
}

void vga_mem_write(struct vga *s, uint32_t addr, uint8_t v)
{
    uint32_t bank;
    if (!decode(s, &addr, &bank))
        return;
    if (s->seq[4] & 0x08) {                              /* chain 4 */
        uint64_t i = (uint64_t)bank + addr;
        if ((s->seq[2] & (1u << (addr & 3))) && in_vram(s, i, 1)) {
            s->vram[i] = v;
            vga_touch(s, (uint32_t)i, (uint32_t)i);
        }
        return;
    }
    if (s->gfx[5] & 0x10) {                              /* odd/even */
        unsigned plane = (s->gfx[4] & 2) | (addr & 1);
        uint64_t i = ((uint64_t)(addr & ~1u) << 1) | plane;
        if ((s->seq[2] & (1u << plane)) && in_vram(s, i, 1)) {
            s->vram[i] = v;
            if (plane == 2)
                vga_touch_all(s);                        /* a glyph changed */
            else
                vga_touch(s, (uint32_t)i, (uint32_t)i);
        }
        return;
    }
    uint64_t i = (uint64_t)addr * 4;
    if (!in_vram(s, i, 4))
        return;
    uint8_t mode = s->gfx[5] & 3, bit_mask = s->gfx[8];
    uint32_t val;
    switch (mode) {
    case 0: {
        uint8_t b = rotate(v, s->gfx[3]);
        val = b * 0x01010101u;
        uint32_t sr_en = plane_mask(s->gfx[1]);
        val = (val & ~sr_en) | (plane_mask(s->gfx[0]) & sr_en);
        break;
    }
    case 1:
        val = s->latch;
        goto store;
    case 2:
        val = plane_mask(v);
        break;
    default:
        bit_mask &= rotate(v, s->gfx[3]);
        val = plane_mask(s->gfx[0]);
        break;
    }
    switch ((s->gfx[3] >> 3) & 3) {                      /* logical function */
    case 1: val &= s->latch; break;
    case 2: val |= s->latch; break;
    case 3: val ^= s->latch; break;
    }
    uint32_t bm = bit_mask * 0x01010101u;
    val = (val & bm) | (s->latch & ~bm);
store:;
    uint32_t wm = plane_mask(s->seq[2]), old;
    memcpy(&old, s->vram + i, 4);
    val = (old & ~wm) | (val & wm);
    memcpy(s->vram + i, &val, 4);
    if (s->seq[2] & 4)
        vga_touch_all(s);                                /* plane 2 holds the font */
    else
        vga_touch(s, (uint32_t)i, (uint32_t)i + 3);
}
