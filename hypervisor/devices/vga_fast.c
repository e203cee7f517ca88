/* Text memory without exits. In the usual text configuration (odd/even at
 * 0xB8000, chain-4 off, planes 0 and 1 enabled) a guest byte at 0xB8000+a
 * is plane (a & 1) of cell a / 2, which our interleaved VRAM does not hold
 * linearly; so while that configuration lasts, 0xB8000-0xBFFFF is a plain
 * RAM slot over a linear shadow of planes 0/1, and the renderer syncs it
 * into VRAM when KVM's dirty log says the guest wrote it. Every other
 * configuration goes back to MMIO with the shadow copied into VRAM first.
 * Firmware clears, scrolls and prints through this window thousands of
 * times per screen; as exits, that took minutes on nested KVM. */
#include "vga_int.h"
#include "core/memslot.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define TEXT_BASE   0xB8000
#define TEXT_SIZE   0x8000
#define TEXT_CELLS  (TEXT_SIZE / 2)

static bool fast_ok(const struct vga *s)
{
    return s->text_slot >= 0 && !(s->vbe[VBE_ENABLE] & VBE_ENABLED) &&
           ((s->gfx[6] >> 2) & 3) == 3 && (s->gfx[5] & 0x10) && !(s->gfx[4] & 2) &&
           !(s->seq[4] & 0x08) && (s->seq[2] & 3) == 3;
}

/* Shadow -> planes 0/1 of the first 16 Ki cells. */
static void shadow_to_vram(struct vga *s)
{
    for (uint32_t i = 0; i < TEXT_CELLS; i++) {
        s->vram[4 * i] = s->text_shadow[2 * i];
        s->vram[4 * i + 1] = s->text_shadow[2 * i + 1];
    }
}

void vga_fast_update(struct vga *s)
{
    bool want = fast_ok(s);
    if (want == s->text_mapped)
        return;
    if (want) {
        for (uint32_t i = 0; i < TEXT_CELLS; i++) {
            s->text_shadow[2 * i] = s->vram[4 * i];
            s->text_shadow[2 * i + 1] = s->vram[4 * i + 1];
        }
        if (vm_memslot_move(s->vm, s->text_slot, TEXT_BASE) < 0)
            return;                      /* stays on MMIO: slower, still right */
        s->text_mapped = true;
    } else {
        vm_memslot_move(s->vm, s->text_slot, MEMSLOT_UNMAPPED);
        s->text_mapped = false;
        shadow_to_vram(s);
    }
    vga_touch_all(s);
}

bool vga_fast_sync(struct vga *s)
{
    if (!s->text_mapped)
        return false;
    uint64_t bits = 0;
    if (vm_memslot_dirty(s->vm, s->text_slot, &bits) == 0 && bits)
        shadow_to_vram(s);
    return true;
}

int vga_fast_init(struct vga *s)
{
    s->text_slot = -1;
    if (!s->vm)
        return 0;
    s->text_shadow = mmap(NULL, TEXT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->text_shadow == MAP_FAILED) {
        s->text_shadow = NULL;
        return -errno;
    }
    int r = vm_memslot_add(s->vm, MEMSLOT_UNMAPPED, TEXT_SIZE, s->text_shadow, MEMSLOT_DIRTY_LOG);
    s->text_slot = r < 0 ? -1 : r;
    return 0;
}

void vga_fast_flush(struct vga *s)
{
    if (s->text_mapped)
        shadow_to_vram(s);
}

void vga_fast_reload(struct vga *s)
{
    if (s->text_mapped)
        for (uint32_t i = 0; i < TEXT_CELLS; i++) {
            s->text_shadow[2 * i] = s->vram[4 * i];
            s->text_shadow[2 * i + 1] = s->vram[4 * i + 1];
        }
    vga_fast_update(s);
}
