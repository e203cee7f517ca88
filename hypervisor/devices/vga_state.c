/* Snapshot state of the standard VGA: every register, then the whole VRAM
 * (the text shadow is folded in first). What lives outside the struct --
 * the BAR slots (follow PCI config), the text slot, the channel's picture --
 * is re-derived after a load. */
#include "vga_int.h"
#include "core/state.h"

#include <errno.h>
#include <string.h>

#define VGA_STATE_VERSION 1
struct vga_state {
    uint8_t misc, feature, seq_index, gfx_index, crtc_index, attr_index, attr_data, st01;
    uint8_t seq[8], gfx[16], crtc[32], attr[32];
    uint8_t dac[768];
    uint8_t dac_read, dac_write, dac_sub, dac_state, pel_mask, dac_latch[3];
    uint32_t latch;
    uint16_t vbe_index, vbe[VBE_NREGS], pad;
    uint32_t vram_size;
    /* followed by vram_size bytes of VRAM */
};

static long vga_state_save(void *opaque, void *buf, size_t max)
{
    struct vga *s = opaque;
    if (max < sizeof(struct vga_state) + s->vram_size)
        return -ENOSPC;
    struct vga_state st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&s->lock);
    vga_fast_flush(s);
    st.misc = s->misc, st.feature = s->feature, st.seq_index = s->seq_index;
    st.gfx_index = s->gfx_index, st.crtc_index = s->crtc_index, st.attr_index = s->attr_index;
    st.attr_data = s->attr_data, st.st01 = s->st01;
    memcpy(st.seq, s->seq, sizeof(st.seq));
    memcpy(st.gfx, s->gfx, sizeof(st.gfx));
    memcpy(st.crtc, s->crtc, sizeof(st.crtc));
    memcpy(st.attr, s->attr, sizeof(st.attr));
    memcpy(st.dac, s->dac, sizeof(st.dac));
    st.dac_read = s->dac_read, st.dac_write = s->dac_write, st.dac_sub = s->dac_sub;
    st.dac_state = s->dac_state, st.pel_mask = s->pel_mask;
    memcpy(st.dac_latch, s->dac_latch, sizeof(st.dac_latch));
    st.latch = s->latch;
    st.vbe_index = s->vbe_index;
    memcpy(st.vbe, s->vbe, sizeof(st.vbe));
    st.vram_size = s->vram_size;
    memcpy(buf, &st, sizeof(st));
    memcpy((uint8_t *)buf + sizeof(st), s->vram, s->vram_size);
    pthread_mutex_unlock(&s->lock);
    return (long)(sizeof(st) + s->vram_size);
}

static int vga_state_load(void *opaque, const void *buf, size_t len)
{
    struct vga *s = opaque;
    struct vga_state st;
    if (len < sizeof(st))
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.vram_size != s->vram_size || len != sizeof(st) + st.vram_size || st.dac_sub >= 3)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    s->misc = st.misc, s->feature = st.feature, s->seq_index = st.seq_index;
    s->gfx_index = st.gfx_index, s->crtc_index = st.crtc_index, s->attr_index = st.attr_index;
    s->attr_data = st.attr_data, s->st01 = st.st01;
    memcpy(s->seq, st.seq, sizeof(st.seq));
    memcpy(s->gfx, st.gfx, sizeof(st.gfx));
    memcpy(s->crtc, st.crtc, sizeof(st.crtc));
    memcpy(s->attr, st.attr, sizeof(st.attr));
    memcpy(s->dac, st.dac, sizeof(st.dac));
    s->dac_read = st.dac_read, s->dac_write = st.dac_write, s->dac_sub = st.dac_sub;
    s->dac_state = st.dac_state, s->pel_mask = st.pel_mask;
    memcpy(s->dac_latch, st.dac_latch, sizeof(st.dac_latch));
    s->latch = st.latch;
    s->vbe_index = st.vbe_index;
    memcpy(s->vbe, st.vbe, sizeof(st.vbe));
    memcpy(s->vram, (const uint8_t *)buf + sizeof(st), s->vram_size);
    vga_fast_reload(s);
    s->published = false;
    vga_touch_all(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const struct state_ops vga_state_ops = {
    .version = VGA_STATE_VERSION, .save = vga_state_save, .load = vga_state_load,
};

int vga_state_register(struct vga *s, void *pci_owner)
{
    int r = vm_state_register(s->vm, "vga", &vga_state_ops, s);
    if (r == 0)
        vm_state_claim(s->vm, pci_owner);
    return r;
}
