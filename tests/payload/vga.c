/* Standard VGA: the PCI function and its ROM BAR, a Bochs VBE mode drawn
 * through the linear framebuffer, text mode with a font uploaded to plane
 * 2, and mode 13h. After each picture the payload waits for a key on the
 * PS/2 keyboard: vga-check, a display channel client, checks the pixels
 * and then presses a key, so every step is seen from outside. */
#include "payload.h"
#include "vga_test.h"

#define PM_TMR 0x608
#define PM_HZ  3579545u

static void seq(uint8_t i, uint8_t v) { outb(0x3C4, i); outb(0x3C5, v); }
static void gfx(uint8_t i, uint8_t v) { outb(0x3CE, i); outb(0x3CF, v); }
static void crtc(uint8_t i, uint8_t v) { outb(0x3D4, i); outb(0x3D5, v); }
static void attr(uint8_t i, uint8_t v) { inb(0x3DA); outb(0x3C0, i); outb(0x3C0, v); }
static void vbe(uint16_t i, uint16_t v) { outw(0x1CE, i); outw(0x1CF, v); }
static uint16_t vbe_get(uint16_t i) { outw(0x1CE, i); return inw(0x1CF); }
static void dac(uint8_t i, uint8_t r, uint8_t g, uint8_t b) { outb(0x3C8, i); outb(0x3C9, r); outb(0x3C9, g); outb(0x3C9, b); }

/* Waits up to 90 s for a key press on the PS/2 keyboard; returns its code. */
static uint8_t wait_key(void)
{
    uint32_t last = inl(PM_TMR) & 0xFFFFFF;
    uint64_t ticks = 0;
    while (ticks < 90ull * PM_HZ) {
        if (inb(0x64) & 1) {
            uint8_t b = inb(0x60);
            if (b < 0x80)
                return b;
            continue;
        }
        uint32_t now = inl(PM_TMR) & 0xFFFFFF;
        ticks += (now - last) & 0xFFFFFF;
        last = now;
    }
    fail("no key arrived on the PS/2 keyboard within 90 s");
}

static void step_done(const char *what)
{
    puts_serial(what);
    puts_serial(" drawn\n");
    uint8_t k = wait_key();
    puts_serial("key ");
    put_hex(k);
    puts_serial("\n");
    CHECK(k == 0x39, "the key was not Space in scancode set 1 (translated)");
}

static const uint8_t crtc_text[25] = { 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0E, 0x0F,
                                       0, 0, 0, 0, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF };
static const uint8_t crtc_13h[25] = { 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0, 0,
                                      0, 0, 0, 0, 0x9C, 0x0E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF };
static const uint8_t pal_text[16] = { 0, 1, 2, 3, 4, 5, 0x14, 7, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F };

static void set_crtc(const uint8_t *v)
{
    crtc(0x11, 0);                                   /* unprotect CR0-7 */
    for (uint8_t i = 0; i < 25; i++)
        crtc(i, v[i]);
}

static void test_pci(int dev)
{
    CHECK((pci_read32(dev, 8) >> 8) == 0x030000, "VGA class is not 0x030000");
    uint32_t orig = pci_read32(dev, 0x30);
    pci_write32(dev, 0x30, 0xFFFFF800);
    uint32_t size = ~(pci_read32(dev, 0x30) & ~0x7FFu) + 1;
    CHECK(size >= 0x8000 && !(size & (size - 1)), "ROM BAR size is not a power of two >= 32 KiB");
    pci_write32(dev, 0x30, orig | 1);
    CHECK(mmio_read(uint16_t, orig & ~0x7FFu) == 0xAA55, "the ROM BAR does not show an option ROM");
    pci_write32(dev, 0x30, orig);
}

static void test_vbe(uint64_t lfb)
{
    CHECK(vbe_get(0) == 0xB0C5, "DISPI ID is not 0xB0C5");
    CHECK(vbe_get(10) == 256, "video memory is not 16 MiB");
    /* garbage first: a mode bigger than VRAM and registers that do not exist */
    vbe(1, 4096); vbe(2, 4096); vbe(3, 32); vbe(4, 0x41);
    CHECK(!(vbe_get(4) & 1), "a 64 MiB VBE mode was accepted");
    vbe(0x1234, 0xFFFF);
    vbe(1, VGA_TEST_VBE_W); vbe(2, VGA_TEST_VBE_H); vbe(3, 32); vbe(4, 0x41);
    CHECK(vbe_get(4) & 1, "VBE mode 320x200x32 was not enabled");
    volatile uint32_t *fb = (volatile uint32_t *)(uintptr_t)lfb;
    for (unsigned y = 0; y < VGA_TEST_VBE_H; y++)
        for (unsigned x = 0; x < VGA_TEST_VBE_W; x++)
            fb[y * VGA_TEST_VBE_W + x] = vga_test_vbe_pixel(x, y);
    step_done("vbe");
}

static void test_text(void)
{
    vbe(4, 0);
    outb(0x3C2, 0x67);
    seq(0, 3); seq(1, 0); seq(2, 3); seq(3, 0); seq(4, 2);
    set_crtc(crtc_text);
    gfx(0, 0); gfx(1, 0); gfx(2, 0); gfx(3, 0); gfx(4, 0); gfx(5, 0x10); gfx(6, 0x0E); gfx(7, 0); gfx(8, 0xFF);
    for (uint8_t i = 0; i < 16; i++)
        attr(i, pal_text[i]);
    attr(0x10, 0x0C); attr(0x11, 0); attr(0x12, 0x0F); attr(0x13, 8); attr(0x14, 0);
    outb(0x3C0, 0x20);                               /* palette to the screen */
    dac(0, 0, 0, 0); dac(1, 0, 0, 42); dac(7, 42, 42, 42); dac(63, 63, 63, 63);

    /* the font, into plane 2 the way vgabios does it */
    seq(2, 4); seq(4, 7); gfx(4, 2); gfx(5, 0); gfx(6, 4);
    volatile uint8_t *font = (volatile uint8_t *)0xA0000;
    const char *chars = " " VGA_TEST_TEXT;
    for (unsigned i = 0; chars[i]; i++)
        for (unsigned l = 0; l < 32; l++)
            font[(uint8_t)chars[i] * 32 + l] = l < 16 ? vga_test_glyph((uint8_t)chars[i], l) : 0;
    seq(2, 3); seq(4, 2); gfx(4, 0); gfx(5, 0x10); gfx(6, 0x0E);

    volatile uint16_t *text = (volatile uint16_t *)0xB8000;
    for (unsigned i = 0; i < 80 * 25; i++)
        text[i] = 0x0720;
    for (unsigned i = 0; VGA_TEST_TEXT[i]; i++)
        text[VGA_TEST_TEXT_ROW * 80 + VGA_TEST_TEXT_COL + i] = (uint16_t)(VGA_TEST_TEXT_ATTR << 8 | (uint8_t)VGA_TEST_TEXT[i]);
    CHECK(text[VGA_TEST_TEXT_ROW * 80 + VGA_TEST_TEXT_COL] == (VGA_TEST_TEXT_ATTR << 8 | 'D'), "text memory does not read back");
    unsigned loc = VGA_TEST_TEXT_ROW * 80 + VGA_TEST_CURSOR_COL;
    crtc(0x0E, (uint8_t)(loc >> 8)); crtc(0x0F, (uint8_t)loc);
    /* plane 2 reads back through read map select */
    gfx(4, 2); gfx(5, 0); gfx(6, 4);
    CHECK(font['D' * 32 + 3] == vga_test_glyph('D', 3), "plane 2 does not read back the glyph");
    gfx(4, 0); gfx(5, 0x10); gfx(6, 0x0E);
    step_done("text");
}

static void test_13h(void)
{
    outb(0x3C2, 0x63);
    seq(0, 3); seq(1, 1); seq(2, 0x0F); seq(3, 0); seq(4, 0x0E);
    set_crtc(crtc_13h);
    gfx(0, 0); gfx(1, 0); gfx(2, 0); gfx(3, 0); gfx(4, 0); gfx(5, 0x40); gfx(6, 5); gfx(7, 0x0F); gfx(8, 0xFF);
    for (uint8_t i = 0; i < 16; i++)
        attr(i, i);
    attr(0x10, 0x41); attr(0x11, 0); attr(0x12, 0x0F); attr(0x13, 0); attr(0x14, 0);
    outb(0x3C0, 0x20);
    dac(0, 0, 0, 0); dac(4, 63, 0, 0);
    volatile uint64_t *q = (volatile uint64_t *)0xA0000;
    for (unsigned i = 0; i < 320 * 200 / 8; i++)
        q[i] = 0;
    volatile uint8_t *p = (volatile uint8_t *)0xA0000;
    for (unsigned y = 0; y < VGA_TEST_13H_H; y++)
        for (unsigned x = 0; x < VGA_TEST_13H_W; x++)
            p[(VGA_TEST_13H_Y + y) * 320 + VGA_TEST_13H_X + x] = 4;
    CHECK(p[VGA_TEST_13H_Y * 320 + VGA_TEST_13H_X] == 4, "mode 13h memory does not read back");
    step_done("13h");
}

int payload_main(void)
{
    serial_init();
    int dev = pci_find(0x1234, 0x1111);
    CHECK(dev > 0, "standard VGA (1234:1111) not found");
    test_pci(dev);
    uint64_t lfb = pci_bar_address(dev, 0);
    CHECK(lfb, "VGA BAR0 is not mapped");
    test_vbe(lfb);
    test_text();
    test_13h();
    puts_serial("vga ok\n");
    return 0;
}
