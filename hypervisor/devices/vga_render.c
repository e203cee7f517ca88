/* From VGA registers to the display channel. Legacy modes (text, 16-colour
 * planar, 256-colour chained) are converted into our own memfd; a 32 bpp
 * VBE mode is the VRAM memfd itself (zero copies), other VBE depths are
 * converted. Rendering runs on the I/O thread from a one-shot timer that a
 * guest write arms, so an idle text screen costs nothing; only a VBE mode,
 * whose writes never exit, is polled through KVM's dirty log. */
#include "vga_int.h"
#include "core/event_loop.h"
#include "core/memslot.h"
#include "core/vm.h"
#include "vdisplay/display_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define FRAME_NS      (1000000000L / 30)
#define OUT_SIZE      (64u << 20)        /* enough for the largest 8 bpp VBE mode in 16 MiB */
#define TEXT_CELLS    (160u * 120u)
#define LEGACY_MAX_W  2048u
#define LEGACY_MAX_H  2048u

static void arm(struct vga *s)
{
    if (s->timer_fd < 0 || s->timer_armed)
        return;
    struct itimerspec it = { .it_value = { .tv_nsec = FRAME_NS } };
    if (timerfd_settime(s->timer_fd, 0, &it, NULL) == 0)
        s->timer_armed = true;
}

void vga_touch(struct vga *s, uint32_t lo, uint32_t hi)
{
    if (lo <= hi) {
        if (lo < s->dirty_lo)
            s->dirty_lo = lo;
        if (hi > s->dirty_hi)
            s->dirty_hi = hi;
    }
    arm(s);
}

void vga_touch_all(struct vga *s)
{
    s->full = true;
    arm(s);
}

void vga_decode_mode(const struct vga *s, struct vga_mode *m)
{
    memset(m, 0, sizeof(*m));
    const uint16_t *v = s->vbe;
    if (v[VBE_ENABLE] & VBE_ENABLED) {
        uint32_t bpp = v[VBE_BPP], bytes = (bpp + 7) / 8;
        uint64_t line = (uint64_t)v[VBE_VIRT_WIDTH] * bytes;
        uint64_t start = (uint64_t)v[VBE_Y_OFFSET] * line + (uint64_t)v[VBE_X_OFFSET] * bytes;
        uint64_t need = line * (v[VBE_YRES] - 1u) + (uint64_t)v[VBE_XRES] * bytes;
        if (!v[VBE_XRES] || !v[VBE_YRES] || start > s->vram_size || need > s->vram_size - start)
            return;                           /* panned past the end: show nothing */
        *m = (struct vga_mode){ .kind = VGA_VBE, .width = v[VBE_XRES], .height = v[VBE_YRES],
                                .start = (uint32_t)start, .line = (uint32_t)line, .bpp = bpp };
        return;
    }
    const uint8_t *cr = s->crtc;
    uint32_t cols = cr[0x01] + 1u;
    uint32_t lines = (cr[0x12] | (cr[0x07] & 0x02) << 7 | (cr[0x07] & 0x40) << 3) + 1u;
    uint32_t start = (uint32_t)cr[0x0C] << 8 | cr[0x0D];
    uint32_t scan = (cr[0x09] & 0x1Fu) + 1;
    if (cols < 2 || lines < 2)
        return;
    if (!(s->attr[0x10] & 0x01)) {
        uint32_t cw = (s->seq[1] & 1) ? 8 : 9, rows = lines / scan;
        if (!rows || cols * rows > TEXT_CELLS)
            return;
        *m = (struct vga_mode){ .kind = VGA_TEXT, .cols = cols, .rows = rows, .cw = cw, .ch = scan,
                                .width = cols * cw, .height = rows * scan, .start = start,
                                .line = cr[0x13] * 2u };
        return;
    }
    uint32_t h = lines / (scan * ((cr[0x09] & 0x80) ? 2 : 1));
    if (s->gfx[5] & 0x40)
        *m = (struct vga_mode){ .kind = VGA_CHAIN8, .width = cols * 4, .height = h,
                                .start = start * 4, .line = cr[0x13] * 8u };
    else if (!(s->gfx[5] & 0x20))
        *m = (struct vga_mode){ .kind = VGA_PLANAR4, .width = cols * 8, .height = h,
                                .start = start, .line = cr[0x13] * 2u };
    if (!h || m->width > LEGACY_MAX_W || h > LEGACY_MAX_H)
        m->kind = VGA_OFF;
    if (m->kind == VGA_OFF)
        memset(m, 0, sizeof(*m));
}

/* Tells the clients about mode @m; false if it cannot be shown (nothing
 * may then be drawn for it). */
static bool publish(struct vga *s, const struct vga_mode *m)
{
    struct dc_mode dm = { .format = DC_FORMAT_XRGB8888 };
    int fd = -1;
    if (m->kind == VGA_VBE && m->bpp == 32) {
        dm = (struct dc_mode){ .width = m->width, .height = m->height, .stride = m->line,
                               .format = DC_FORMAT_XRGB8888, .offset = m->start,
                               .size = s->vram_size - m->start };
        fd = s->vram_fd;
    } else if (m->kind != VGA_OFF && (uint64_t)m->width * m->height * 4 <= s->out_size) {
        dm = (struct dc_mode){ .width = m->width, .height = m->height, .stride = m->width * 4,
                               .format = DC_FORMAT_XRGB8888, .size = (uint64_t)m->width * m->height * 4 };
        fd = s->out_fd;
    }
    if (fd < 0)
        dm.width = dm.height = 0;
    display_server_set_mode(s->ds, &dm, fd);
    s->shown = *m;
    if (fd < 0)
        s->shown.kind = VGA_OFF;
    memset(s->cells, 0xFF, TEXT_CELLS * sizeof(*s->cells));
    s->cursor_drawn = UINT32_MAX;
    s->full = true;
    return fd >= 0;
}

/* One line of a graphics mode into XRGB8888. */
static void convert_row(struct vga *s, const struct vga_mode *m, uint32_t y)
{
    uint32_t *dst = (uint32_t *)s->out + (size_t)y * m->width;
    if (m->kind == VGA_PLANAR4) {
        uint8_t enable = s->attr[0x12] & 0x0F;
        for (uint32_t x = 0; x < m->width; x++) {
            uint32_t off = (m->start + y * m->line + x / 8) & (VGA_PLANE_SIZE - 1);
            const uint8_t *p = &s->vram[off * 4];
            unsigned bit = 7 - (x & 7), c = 0;
            for (unsigned pl = 0; pl < 4; pl++)
                c |= ((p[pl] >> bit) & 1u) << pl;
            dst[x] = vga_palette_rgb(s, (uint8_t)(c & enable));
        }
        return;
    }
    if (m->kind == VGA_CHAIN8) {
        for (uint32_t x = 0; x < m->width; x++) {
            uint32_t i = (m->start + y * m->line + x) & (4 * VGA_PLANE_SIZE - 1);
            dst[x] = vga_dac_rgb(s, s->vram[i] & s->pel_mask);
        }
        return;
    }
    const uint8_t *src = s->vram + m->start + (size_t)y * m->line;   /* VBE, checked by decode */
    for (uint32_t x = 0; x < m->width; x++) {
        uint32_t v;
        switch (m->bpp) {
        case 8: v = vga_dac_rgb(s, src[x]); break;
        case 15:
            v = (uint32_t)src[2 * x] | (uint32_t)src[2 * x + 1] << 8;
            v = ((v >> 10) & 31) << 19 | ((v >> 5) & 31) << 11 | (v & 31) << 3;
            break;
        case 16:
            v = (uint32_t)src[2 * x] | (uint32_t)src[2 * x + 1] << 8;
            v = ((v >> 11) & 31) << 19 | ((v >> 5) & 63) << 10 | (v & 31) << 3;
            break;
        case 24: v = (uint32_t)src[3 * x] | (uint32_t)src[3 * x + 1] << 8 | (uint32_t)src[3 * x + 2] << 16; break;
        default: v = 0; break;
        }
        dst[x] = v;
    }
}

/* Rows [*y0, *y1] touched by VRAM bytes [lo, hi], in a mode starting at
 * byte @start with @pitch bytes per row; false if none. */
static bool rows_of(uint64_t lo, uint64_t hi, uint64_t start, uint64_t pitch, uint32_t h,
                    uint32_t *y0, uint32_t *y1)
{
    if (hi < start || !pitch)
        return false;
    uint64_t a = lo > start ? (lo - start) / pitch : 0, b = (hi - start) / pitch;
    if (a >= h)
        return false;
    *y0 = (uint32_t)a;
    *y1 = (uint32_t)(b >= h ? h - 1 : b);
    return true;
}

static void damage_rows(struct vga *s, const struct vga_mode *m, const uint8_t *rows)
{
    bool convert = !(m->kind == VGA_VBE && m->bpp == 32);
    for (uint32_t y = 0; y < m->height;) {
        if (!rows[y]) {
            y++;
            continue;
        }
        uint32_t y0 = y;
        while (y < m->height && rows[y]) {
            if (convert)
                convert_row(s, m, y);
            y++;
        }
        display_server_damage(s->ds, 0, (int32_t)y0, m->width, y - y0);
    }
}

static void render_graphics(struct vga *s, const struct vga_mode *m)
{
    uint8_t *rows = calloc(m->height, 1);
    if (!rows)
        return;
    uint32_t y0, y1;
    /* Byte units of VRAM: planar rows span line plane offsets = 4*line bytes. */
    uint64_t start = m->kind == VGA_PLANAR4 ? 4ull * m->start : m->start;
    uint64_t pitch = m->kind == VGA_PLANAR4 ? 4ull * m->line : m->line;
    if (s->full) {
        memset(rows, 1, m->height);
    } else if (s->dirty_lo <= s->dirty_hi && rows_of(s->dirty_lo, s->dirty_hi, start, pitch, m->height, &y0, &y1)) {
        memset(rows + y0, 1, y1 - y0 + 1);
    }
    if (m->kind == VGA_VBE && !s->full) {
        unsigned pages = s->vram_size / 4096;
        if (s->vm && s->lfb_slot >= 0 && vm_memslot_dirty(s->vm, s->lfb_slot, s->dirty_bitmap) == 0)
            for (unsigned p = 0; p < pages; p++)
                if ((s->dirty_bitmap[p / 64] >> (p % 64)) & 1 &&
                    rows_of((uint64_t)p * 4096, (uint64_t)p * 4096 + 4095, start, pitch, m->height, &y0, &y1))
                    memset(rows + y0, 1, y1 - y0 + 1);
    } else if (m->kind == VGA_VBE && s->vm && s->lfb_slot >= 0) {
        vm_memslot_dirty(s->vm, s->lfb_slot, s->dirty_bitmap);   /* drop what the full redraw covers */
    }
    damage_rows(s, m, rows);
    free(rows);
}

void vga_render(struct vga *s)
{
    vga_fast_sync(s);
    if (s->ds && !(s->other_active && s->other_active(s->other_opaque))) {
        struct vga_mode m;
        vga_decode_mode(s, &m);
        bool ok = true;
        if (!s->published || memcmp(&m, &s->shown, sizeof(m)) != 0) {
            ok = publish(s, &m);
            s->published = true;
        }
        if (!ok)
            ;
        else if (m.kind == VGA_TEXT)
            vga_render_text(s, &m, s->full);
        else if (m.kind != VGA_OFF)
            render_graphics(s, &m);
    } else {
        s->published = false;                     /* publish again once it is ours */
    }
    s->full = false;
    s->dirty_lo = UINT32_MAX;
    s->dirty_hi = 0;
}

static void on_timer(void *opaque, uint32_t events)
{
    struct vga *s = opaque;
    uint64_t n;
    if (read(s->timer_fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
        return;
    pthread_mutex_lock(&s->lock);
    s->timer_armed = false;
    vga_render(s);
    if ((s->published && s->shown.kind == VGA_VBE) || s->text_mapped)
        arm(s);                                   /* writes to RAM slots never exit: poll the dirty log */
    pthread_mutex_unlock(&s->lock);
}

int vga_render_init(struct vga *s)
{
    s->dirty_lo = UINT32_MAX;
    s->cells = calloc(TEXT_CELLS, sizeof(*s->cells));
    s->dirty_bitmap = calloc(s->vram_size / 4096 / 64 + 1, sizeof(uint64_t));
    if (!s->cells || !s->dirty_bitmap)
        return -ENOMEM;
    s->out_size = OUT_SIZE;
    s->out_fd = memfd_create("domus-vga-screen", MFD_CLOEXEC);
    if (s->out_fd < 0 || ftruncate(s->out_fd, s->out_size) < 0)
        return -errno;
    s->out = mmap(NULL, s->out_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->out_fd, 0);
    if (s->out == MAP_FAILED) {
        s->out = NULL;
        return -errno;
    }
    if (s->ds && s->vm && s->vm->loop) {
        s->timer_fd = event_loop_add_timer(s->vm->loop, on_timer, s);
        if (s->timer_fd < 0)
            return s->timer_fd;
    }
    return 0;
}

void vga_render_free(struct vga *s)
{
    if (s->out)
        munmap(s->out, s->out_size);
    if (s->out_fd >= 0)
        close(s->out_fd);
    if (s->timer_fd >= 0)
        close(s->timer_fd);
    free(s->cells);
    free(s->dirty_bitmap);
}
