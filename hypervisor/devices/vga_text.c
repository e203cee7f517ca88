/* Text mode drawn with the font the guest loaded into plane 2 (the BIOS's
 * own glyphs; we carry no font), colours through the attribute palette and
 * the DAC. Only cells whose character, attribute or cursor changed are
 * drawn, and damage is one rect per text row that changed. */
#include "vga_int.h"
#include "vdisplay/display_server.h"

#include <string.h>

#define TEXT_MAX_CELLS (160u * 120u)

uint32_t vga_dac_rgb(const struct vga *s, uint8_t index)
{
    const uint8_t *c = &s->dac[index * 3];
    if (s->vbe[VBE_ENABLE] & VBE_8BIT_DAC)
        return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
    uint32_t r = (c[0] & 0x3Fu) << 2 | (c[0] & 0x3Fu) >> 4;
    uint32_t g = (c[1] & 0x3Fu) << 2 | (c[1] & 0x3Fu) >> 4;
    uint32_t b = (c[2] & 0x3Fu) << 2 | (c[2] & 0x3Fu) >> 4;
    return r << 16 | g << 8 | b;
}

/* A 4-bit colour through the attribute controller's palette to the DAC. */
uint32_t vga_palette_rgb(const struct vga *s, uint8_t index)
{
    uint8_t pal = s->attr[index & 0xF], sel = s->attr[0x14], dac;
    if (s->attr[0x10] & 0x80)                    /* P5/P4 from the colour select */
        dac = (uint8_t)((pal & 0x0F) | (sel & 0x0F) << 4);
    else
        dac = (uint8_t)((pal & 0x3F) | (sel & 0x0C) << 4);
    return vga_dac_rgb(s, dac & s->pel_mask);
}

/* Plane-2 offset of character map @sel (0-7): 0, 16, 32, 48, 8, 24, 40, 56 KiB. */
static uint32_t font_base(unsigned sel)
{
    return (sel & 3) * 0x4000u + (sel >> 2) * 0x2000u;
}

static void draw_cell(struct vga *s, const struct vga_mode *m, unsigned row, unsigned col,
                      uint16_t cell, int cur_start, int cur_end)
{
    uint8_t chr = (uint8_t)cell, at = (uint8_t)(cell >> 8);
    uint8_t cm = s->seq[3];
    uint32_t fa = font_base(((cm >> 2) & 3) | ((cm >> 3) & 4));
    uint32_t fb = font_base((cm & 3) | ((cm >> 2) & 4));
    uint32_t font = ((at & 8) && fa != fb) ? fb : fa;
    bool blink = s->attr[0x10] & 0x08;
    uint32_t fg = vga_palette_rgb(s, at & 0x0F);
    uint32_t bg = vga_palette_rgb(s, (uint8_t)((at >> 4) & (blink ? 7 : 0x0F)));
    bool wide = m->cw == 9 && (s->attr[0x10] & 0x04) && chr >= 0xC0 && chr <= 0xDF;
    uint32_t stride = m->width;
    uint32_t *px = (uint32_t *)s->out + (size_t)row * m->ch * stride + (size_t)col * m->cw;
    for (unsigned y = 0; y < m->ch; y++, px += stride) {
        uint32_t off = (font + chr * 32u + y) & (VGA_PLANE_SIZE - 1);
        unsigned bits = s->vram[off * 4 + 2];
        if ((int)y >= cur_start && (int)y <= cur_end)
            bits = 0x1FF;                        /* the cursor: an underline or block */
        else
            bits = bits << 1 | (wide ? (bits & 1) : 0);
        for (unsigned x = 0; x < m->cw; x++)
            px[x] = (bits & (0x100u >> x)) ? fg : bg;
    }
}

void vga_render_text(struct vga *s, const struct vga_mode *m, bool full)
{
    unsigned cells = m->cols * m->rows;
    if (cells > TEXT_MAX_CELLS)
        return;
    /* Where the cursor is, if it is on screen and enabled. */
    uint32_t cursor = UINT32_MAX;
    uint32_t loc = (uint32_t)s->crtc[0x0E] << 8 | s->crtc[0x0F];
    if (!(s->crtc[0x0A] & 0x20) && loc >= m->start && m->line) {
        uint32_t r = (loc - m->start) / m->line, c = (loc - m->start) % m->line;
        if (r < m->rows && c < m->cols)
            cursor = r * m->cols + c;
    }
    uint16_t shape = (uint16_t)(s->crtc[0x0A] << 8 | s->crtc[0x0B]);
    bool cursor_moved = cursor != s->cursor_drawn || shape != s->cursor_shape;
    int cs = s->crtc[0x0A] & 0x1F, ce = s->crtc[0x0B] & 0x1F;
    if (ce >= (int)m->ch)
        ce = (int)m->ch - 1;

    for (unsigned r = 0; r < m->rows; r++) {
        int lo = -1, hi = -1;
        for (unsigned c = 0; c < m->cols; c++) {
            unsigned idx = r * m->cols + c;
            uint32_t off = (m->start + r * m->line + c) & (VGA_PLANE_SIZE - 1);
            uint16_t cell = (uint16_t)(s->vram[off * 4] | s->vram[off * 4 + 1] << 8);
            bool cursor_cell = cursor_moved && (idx == cursor || idx == s->cursor_drawn);
            if (!full && s->cells[idx] == cell && !cursor_cell)
                continue;
            s->cells[idx] = cell;
            draw_cell(s, m, r, c, cell, idx == cursor ? cs : 1, idx == cursor ? ce : 0);
            if (lo < 0)
                lo = (int)c;
            hi = (int)c;
        }
        if (lo >= 0)
            display_server_damage(s->ds, lo * (int)m->cw, (int)(r * m->ch),
                                  (uint32_t)(hi - lo + 1) * m->cw, m->ch);
    }
    s->cursor_drawn = cursor;
    s->cursor_shape = shape;
}
