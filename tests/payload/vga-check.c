/* The host side of the vga payload: a display channel client (the same
 * library domus-vnc and domus-view use) that waits for each picture the
 * payload draws, checks its pixels, and answers with a Space key so the
 * payload goes on.
 *
 *   vga-check SOCKET
 *   vga-check --dump SOCKET OUT.ppm SECONDS   (the screen after SECONDS, for debugging)
 */
#include "vdisplay/display_client.h"
#include "vga_test.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct dc_client *client;
static unsigned text_rects, text_bad_rects;
static int phase;

static unsigned modes_seen, rects_seen;

static void on_mode(void *opaque, const struct dc_mode *m, const uint8_t *pixels)
{
    modes_seen++;
}

static void on_damage(void *opaque, const struct dc_rect *r, unsigned n)
{
    rects_seen += n;
    const struct dc_mode *m = dc_client_mode(client);
    if (phase != 1 || !m || m->width != 720)
        return;
    for (unsigned i = 0; i < n; i++) {
        text_rects++;
        /* text is redrawn cell by cell, one rect per text row */
        if (r[i].h != 16 || r[i].y % 16)
            text_bad_rects++;
    }
}

static const struct dc_client_ops ops = { .mode = on_mode, .damage = on_damage };

static uint32_t px(unsigned x, unsigned y)
{
    const struct dc_mode *m = dc_client_mode(client);
    const uint8_t *p = dc_client_pixels(client);
    uint32_t v;
    memcpy(&v, p + (size_t)y * m->stride + x * 4, 4);
    return v & 0xFFFFFF;
}

static bool mode_is(unsigned w, unsigned h)
{
    const struct dc_mode *m = dc_client_mode(client);
    return m && m->width == w && m->height == h && dc_client_pixels(client) &&
           m->format == DC_FORMAT_XRGB8888;
}

static char why[200];
static bool mismatch(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return false;
}

static bool vbe_ok(void)
{
    if (!mode_is(VGA_TEST_VBE_W, VGA_TEST_VBE_H))
        return mismatch("mode is not %ux%u", VGA_TEST_VBE_W, VGA_TEST_VBE_H);
    for (unsigned y = 0; y < VGA_TEST_VBE_H; y++)
        for (unsigned x = 0; x < VGA_TEST_VBE_W; x++)
            if (px(x, y) != vga_test_vbe_pixel(x, y))
                return mismatch("VBE pixel %u,%u is %06x, want %06x", x, y, px(x, y), vga_test_vbe_pixel(x, y));
    return true;
}

/* Every pixel of the text cell at (row, col) against the glyph bits. */
static bool cell_ok(unsigned row, unsigned col, uint8_t c, uint32_t fg, uint32_t bg, int cursor_from)
{
    for (unsigned l = 0; l < 16; l++)
        for (unsigned x = 0; x < 9; x++) {
            bool on = (cursor_from >= 0 && (int)l >= cursor_from) || (x < 8 && (vga_test_glyph(c, l) & (0x80 >> x)));
            uint32_t want = on ? fg : bg, got = px(col * 9 + x, row * 16 + l);
            if (got != want)
                return mismatch("text cell %u,%u ('%c') pixel %u,%u is %06x, want %06x", row, col, c, x, l, got, want);
        }
    return true;
}

static bool text_ok(void)
{
    if (!mode_is(720, 400))
        return mismatch("mode is not 720x400 text");
    for (unsigned i = 0; VGA_TEST_TEXT[i]; i++)
        if (!cell_ok(VGA_TEST_TEXT_ROW, VGA_TEST_TEXT_COL + i, (uint8_t)VGA_TEST_TEXT[i], 0xFFFFFF, 0x0000AA, -1))
            return false;
    /* the cursor: lines 14-15 of its cell in the cell's foreground (grey) */
    if (!cell_ok(VGA_TEST_TEXT_ROW, VGA_TEST_CURSOR_COL, ' ', 0xAAAAAA, 0, 14))
        return false;
    return cell_ok(20, 40, ' ', 0xAAAAAA, 0, -1);
}

static bool mode13h_ok(void)
{
    if (!mode_is(320, 200))
        return mismatch("mode is not 320x200");
    for (unsigned y = 0; y < 200; y++)
        for (unsigned x = 0; x < 320; x++) {
            bool in = x >= VGA_TEST_13H_X && x < VGA_TEST_13H_X + VGA_TEST_13H_W &&
                      y >= VGA_TEST_13H_Y && y < VGA_TEST_13H_Y + VGA_TEST_13H_H;
            if (px(x, y) != (in ? 0xFF0000u : 0))
                return mismatch("13h pixel %u,%u is %06x", x, y, px(x, y));
        }
    return true;
}

static void die(const char *msg)
{
    printf("vga-check: FAIL: %s (%s)\n", msg, why);
    exit(1);
}

/* Dispatches until @check passes; then presses Space for the payload. */
static void await(const char *name, bool (*check)(void))
{
    time_t end = time(NULL) + 90;
    while (!check()) {
        if (time(NULL) > end)
            die(name);
        dc_client_wait(client, 200);
        if (dc_client_dispatch(client) < 0)
            die("the VMM went away");
    }
    printf("vga-check: %s ok\n", name);
    fflush(stdout);
    dc_client_send_key(client, KEY_SPACE, true);
    dc_client_send_key(client, KEY_SPACE, false);
}

static int dump(const char *path, int seconds)
{
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        dc_client_wait(client, 200);
        if (dc_client_dispatch(client) < 0)
            break;
    }
    const struct dc_mode *m = dc_client_mode(client);
    FILE *f = fopen(path, "wb");
    if (!f || !m || !dc_client_pixels(client))
        die("nothing to dump");
    fprintf(f, "P6\n%u %u\n255\n", m->width, m->height);
    for (unsigned y = 0; y < m->height; y++)
        for (unsigned x = 0; x < m->width; x++) {
            uint32_t v = px(x, y);
            fputc((int)(v >> 16) & 0xFF, f);
            fputc((int)(v >> 8) & 0xFF, f);
            fputc((int)v & 0xFF, f);
        }
    fclose(f);
    printf("vga-check: dumped %ux%u (%u modes, %u damage rects seen)\n", m->width, m->height, modes_seen, rects_seen);
    return 0;
}

int main(int argc, char **argv)
{
    bool dumping = argc == 5 && !strcmp(argv[1], "--dump");
    if (argc != 2 && !dumping) {
        fprintf(stderr, "usage: vga-check SOCKET | vga-check --dump SOCKET OUT.ppm SECONDS\n");
        return 2;
    }
    const char *sock = argv[dumping ? 2 : 1];
    int fd = -1;
    for (int i = 0; i < 300 && fd < 0; i++) {
        fd = dc_client_connect(sock, NULL);
        if (fd < 0)
            usleep(100000);
    }
    if (fd < 0)
        die("cannot connect to the display channel");
    client = dc_client_new(fd, &ops, NULL);
    if (dumping)
        return dump(argv[3], atoi(argv[4]));
    phase = 0;
    await("vbe", vbe_ok);
    phase = 1;
    await("text", text_ok);
    if (!text_rects || text_bad_rects) {
        snprintf(why, sizeof(why), "%u of %u rects", text_bad_rects, text_rects);
        die("text damage is not per text row");
    }
    phase = 2;
    await("13h", mode13h_ok);
    time_t end = time(NULL) + 60;
    while (time(NULL) < end) {
        dc_client_wait(client, 500);
        if (dc_client_dispatch(client) < 0) {
            printf("vga-check: done\n");
            return 0;
        }
    }
    die("the VMM did not exit after the last key");
}
