/* What the vga payload draws and vga-check expects: shared so the two can
 * never disagree. The glyphs are test data the payload uploads into plane
 * 2 as its "font"; the VMM must draw text with exactly these bits. */
#pragma once
#include <stdint.h>

static inline uint8_t vga_test_glyph(uint8_t c, unsigned line)
{
    if (c == ' ')
        return 0;
    return (uint8_t)((c * 37u) ^ (line * 29u) ^ (line << 4) ^ 0x81u);
}

#define VGA_TEST_TEXT       "DOMUS"
#define VGA_TEST_TEXT_ROW   2
#define VGA_TEST_TEXT_COL   3
#define VGA_TEST_TEXT_ATTR  0x1F          /* white on blue */
#define VGA_TEST_CURSOR_COL 8             /* on row VGA_TEST_TEXT_ROW, attribute 0x07 */

/* VBE phase: 320x200x32, a red square on blue */
#define VGA_TEST_VBE_W 320
#define VGA_TEST_VBE_H 200
static inline uint32_t vga_test_vbe_pixel(unsigned x, unsigned y)
{
    return (x >= 40 && x < 120 && y >= 30 && y < 110) ? 0xFF0000u : 0x0000FFu;
}

/* Mode 13h phase: colour 4 (red in the DAC) rectangle on colour 0 */
#define VGA_TEST_13H_X 100
#define VGA_TEST_13H_Y 50
#define VGA_TEST_13H_W 40
#define VGA_TEST_13H_H 30
