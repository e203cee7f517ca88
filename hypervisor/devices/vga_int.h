/* Internals of the standard VGA shared by vga*.c and the unit tests, which
 * drive the registers and memory without a VM. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "vga.h"

/* VRAM: the four 64 KiB planes sit interleaved at its start (plane p of
 * offset o is byte 4*o + p), so chain-4 and VBE see it as linear memory. */
#define VGA_PLANE_SIZE    0x10000u

/* Bochs DISPI registers (index at 0x1CE, data at 0x1CF) */
enum {
    VBE_ID, VBE_XRES, VBE_YRES, VBE_BPP, VBE_ENABLE, VBE_BANK, VBE_VIRT_WIDTH, VBE_VIRT_HEIGHT,
    VBE_X_OFFSET, VBE_Y_OFFSET, VBE_VIDEO_MEMORY_64K, VBE_NREGS
};
#define VBE_ID5               0xB0C5
#define VBE_ENABLED           0x01
#define VBE_GETCAPS           0x02
#define VBE_8BIT_DAC          0x20
#define VBE_LFB_ENABLED       0x40
#define VBE_NOCLEARMEM        0x80
#define VBE_MAX_XRES          4096
#define VBE_MAX_YRES          4096

/* What the guest shows, decoded from the registers. */
enum vga_kind { VGA_OFF, VGA_TEXT, VGA_PLANAR4, VGA_CHAIN8, VGA_VBE };

struct vga_mode {
    enum vga_kind kind;
    uint32_t width, height;
    /* text: cell size and grid; graphics: bytes per VRAM line */
    uint32_t cols, rows, cw, ch;
    uint32_t start, line;            /* VRAM start (plane offsets, bytes for VBE) and line pitch */
    uint32_t bpp;                    /* VBE */
};

struct vga {
    struct vm *vm;
    pthread_mutex_t lock;
    struct display_server *ds;
    bool (*other_active)(void *opaque);
    void *other_opaque;

    uint8_t *vram;
    uint32_t vram_size;
    int vram_fd;
    uint8_t *rom;                    /* page aligned, rom_bar_size bytes (zero padded) */
    uint32_t rom_size, rom_bar_size;
    int rom_slot;                    /* read-only KVM memslot of the ROM BAR, -1 when MMIO */

    /* legacy registers */
    uint8_t misc, feature, seq_index, gfx_index, crtc_index, attr_index;
    uint8_t seq[8], gfx[16], crtc[32], attr[32];
    bool attr_data;                  /* 0x3C0 flip-flop: next write is data */
    uint8_t st01;                    /* toggles retrace bits on every read */
    uint8_t dac[768], dac_read, dac_write, dac_sub, dac_state, pel_mask;
    uint8_t dac_latch[3];
    uint32_t latch;

    /* VBE */
    uint16_t vbe_index, vbe[VBE_NREGS];

    /* rendering (vga_render.c) */
    int out_fd;                      /* converted pixels for every mode but 32 bpp VBE */
    uint8_t *out;
    uint32_t out_size;
    struct vga_mode shown;           /* what the channel currently has */
    bool published;                  /* shown has been sent since we (re)gained the channel */
    bool full;                       /* redraw everything (font, palette, mode) */
    uint32_t dirty_lo, dirty_hi;     /* VRAM bytes written through MMIO since the last render */
    bool timer_armed;
    int timer_fd;
    uint16_t *cells;                 /* text: char|attr<<8 last drawn; 0xFFFF unknown */
    uint32_t cursor_drawn;           /* cell index of the drawn cursor, UINT32_MAX none */
    uint16_t cursor_shape;           /* CR0A/CR0B it was drawn with */
    int lfb_slot;                    /* KVM memslot of BAR0, -1 when MMIO only */
    int text_slot;                   /* vga_fast.c: 0xB8000 as RAM over text_shadow, -1 none */
    uint8_t *text_shadow;
    bool text_mapped;
    uint64_t *dirty_bitmap;
};

/* Without a VM (unit tests): no PCI function, no timer; call vga_render(). */
int vga_new(struct display_server *ds, struct vga **out);
void vga_free(struct vga *s);
/* vga.c: port I/O, offsets 0x3B0..0x3DF */
uint8_t vga_port_read(struct vga *s, uint16_t port);
void vga_port_write(struct vga *s, uint16_t port, uint8_t v);
/* vga_mem.c: the 0xA0000-0xBFFFF window, @addr relative to 0xA0000 */
uint8_t vga_mem_read(struct vga *s, uint32_t addr);
void vga_mem_write(struct vga *s, uint32_t addr, uint8_t v);
/* vga_vbe.c */
uint16_t vga_vbe_read(struct vga *s);
void vga_vbe_write(struct vga *s, uint16_t v);
void vga_vbe_reset(struct vga *s);
/* vga_render.c; lock held */
void vga_decode_mode(const struct vga *s, struct vga_mode *m);
void vga_touch(struct vga *s, uint32_t lo, uint32_t hi);   /* VRAM bytes [lo, hi] written */
void vga_touch_all(struct vga *s);                          /* palette, font, mode */
/* Renders what changed into the channel (timer tick). Lock held. */
void vga_render(struct vga *s);
int vga_render_init(struct vga *s);
void vga_render_free(struct vga *s);
/* vga_fast.c: text memory as a RAM slot while the configuration allows */
int vga_fast_init(struct vga *s);
void vga_fast_update(struct vga *s);          /* after a register write; lock held */
bool vga_fast_sync(struct vga *s);            /* before rendering: true while mapped */
void vga_fast_flush(struct vga *s);           /* shadow -> VRAM now (snapshot save) */
void vga_fast_reload(struct vga *s);          /* VRAM -> shadow, then remap as the registers say */
/* vga_state.c */
int vga_state_register(struct vga *s, void *pci_owner);
/* vga_text.c */
void vga_render_text(struct vga *s, const struct vga_mode *m, bool full);
uint32_t vga_palette_rgb(const struct vga *s, uint8_t attr_index);
uint32_t vga_dac_rgb(const struct vga *s, uint8_t index);
