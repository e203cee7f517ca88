/* Bochs VBE "DISPI" registers: the interface vgabios-stdvga and guest
 * drivers (bochs-drm, Windows' basic display through VBE) use for linear
 * framebuffer modes. A mode the VRAM cannot hold is refused by leaving
 * VBE disabled, whatever sizes the guest wrote. */
#include "vga_int.h"

#include <string.h>

static const uint16_t max_value[VBE_NREGS] = {
    [VBE_XRES] = VBE_MAX_XRES, [VBE_YRES] = VBE_MAX_YRES, [VBE_BPP] = 32,
};

static unsigned bytes_per_pixel(unsigned bpp)
{
    return (bpp + 7) / 8;
}

static bool bpp_ok(unsigned bpp)
{
    return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

/* The visible area must fit in VRAM from the current offsets; the virtual
 * size the guest asked for is clamped to what VRAM holds. */
static void update_layout(struct vga *s)
{
    uint16_t *r = s->vbe;
    unsigned bpp = bytes_per_pixel(r[VBE_BPP]);
    if (r[VBE_VIRT_WIDTH] < r[VBE_XRES])
        r[VBE_VIRT_WIDTH] = r[VBE_XRES];
    uint64_t pitch = (uint64_t)r[VBE_VIRT_WIDTH] * bpp;
    if (pitch == 0)
        return;
    uint64_t lines = s->vram_size / pitch;
    r[VBE_VIRT_HEIGHT] = (uint16_t)(lines > 0xFFFF ? 0xFFFF : lines);
    if (r[VBE_X_OFFSET] >= r[VBE_VIRT_WIDTH])
        r[VBE_X_OFFSET] = 0;
    if (r[VBE_Y_OFFSET] >= r[VBE_VIRT_HEIGHT])
        r[VBE_Y_OFFSET] = 0;
}

static void enable(struct vga *s, uint16_t v)
{
    uint16_t *r = s->vbe;
    if (!(v & VBE_ENABLED)) {
        r[VBE_ENABLE] = v & (uint16_t)~VBE_ENABLED;
        vga_touch_all(s);
        return;
    }
    unsigned bpp = r[VBE_BPP];
    uint64_t need = (uint64_t)r[VBE_XRES] * bytes_per_pixel(bpp) * r[VBE_YRES];
    if (!bpp_ok(bpp) || !r[VBE_XRES] || !r[VBE_YRES] || (r[VBE_XRES] & 7) || need > s->vram_size) {
        r[VBE_ENABLE] = 0;                /* an impossible mode: stay as we are */
        return;
    }
    r[VBE_VIRT_WIDTH] = r[VBE_XRES];
    r[VBE_X_OFFSET] = r[VBE_Y_OFFSET] = 0;
    update_layout(s);
    if (!(v & VBE_NOCLEARMEM))
        memset(s->vram, 0, need);
    /* As QEMU does: the legacy registers follow into a chained graphics
     * mode so the 0xA0000 bank window reaches the framebuffer. */
    s->gfx[6] = (uint8_t)((s->gfx[6] & ~0x0C) | 0x05);
    s->seq[4] |= 0x08;
    s->attr[0x10] |= 0x01;
    r[VBE_ENABLE] = v;
    vga_touch_all(s);
}

uint16_t vga_vbe_read(struct vga *s)
{
    unsigned i = s->vbe_index;
    if (i >= VBE_NREGS)
        return 0;
    if (i == VBE_VIDEO_MEMORY_64K)
        return (uint16_t)(s->vram_size >> 16);
    if ((s->vbe[VBE_ENABLE] & VBE_GETCAPS) && max_value[i])
        return max_value[i];
    return s->vbe[i];
}

void vga_vbe_write(struct vga *s, uint16_t v)
{
    uint16_t *r = s->vbe;
    unsigned i = s->vbe_index;
    bool on = r[VBE_ENABLE] & VBE_ENABLED;
    switch (i) {
    case VBE_ID:
        if (v >= 0xB0C0 && v <= VBE_ID5)
            r[VBE_ID] = v;
        break;
    case VBE_XRES:
    case VBE_YRES:
    case VBE_BPP:
        /* Ignored while enabled, as on Bochs: modes change by disabling first. */
        if (!on)
            r[i] = (uint16_t)(v > max_value[i] ? max_value[i] : v);
        if (i == VBE_BPP && !on && v == 0)
            r[i] = 8;
        break;
    case VBE_BANK:
        if (((uint32_t)v << 16) < s->vram_size)
            r[VBE_BANK] = v;
        break;
    case VBE_ENABLE:
        enable(s, v);
        break;
    case VBE_VIRT_WIDTH:
        if (on && (uint64_t)v * bytes_per_pixel(r[VBE_BPP]) * r[VBE_YRES] <= s->vram_size) {
            r[VBE_VIRT_WIDTH] = v;
            update_layout(s);
            vga_touch_all(s);
        }
        break;
    case VBE_X_OFFSET:
    case VBE_Y_OFFSET:
        if (on) {
            r[i] = v;
            update_layout(s);
            vga_touch_all(s);
        }
        break;
    default:
        break;                            /* read-only or unknown */
    }
}

void vga_vbe_reset(struct vga *s)
{
    memset(s->vbe, 0, sizeof(s->vbe));
    s->vbe[VBE_ID] = VBE_ID5;
    s->vbe[VBE_BPP] = 8;
    s->vbe_index = 0;
}
