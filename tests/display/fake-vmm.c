/* A stand-in VMM for testing display clients without a guest: serves the
 * display channel on a socket with a test pattern (the same one guest-fb
 * paints), follows resize requests like a guest would, and prints the input
 * it receives ("key CODE DOWN", "pointer X Y BUTTONS", "resize W H").
 * KEY_D toggles an 8x16 white cell at (96,96) and damages its whole rows,
 * as Linux's fbdev does for a blinking text cursor. With FRAME_FILE, each
 * new mode's first frame is also written there as a PPM, for tests that
 * compare a client's whole picture with the VMM's.
 *
 *   fake-vmm PATH [WxH [FRAME_FILE]]
 */
#include "core/event_loop.h"
#include "vdisplay/display_server.h"

#include "pattern.h"
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct display_server *ds;
static uint32_t *fb;                 /* the current mode's pixels */
static uint32_t fb_w, fb_h;
static const char *frame_file;

static void write_frame(void)
{
    FILE *f = fopen(frame_file, "w");
    if (!f) {
        perror(frame_file);
        exit(1);
    }
    fprintf(f, "P6\n%u %u\n255\n", fb_w, fb_h);
    for (size_t i = 0; i < (size_t)fb_w * fb_h; i++)
        fwrite((uint8_t[]){ fb[i] >> 16, fb[i] >> 8, fb[i] }, 1, 3, f);
    if (fclose(f)) {
        perror(frame_file);
        exit(1);
    }
}

static void show(uint32_t w, uint32_t h)
{
    int fd = memfd_create("fake-fb", MFD_CLOEXEC);
    size_t size = (size_t)w * h * 4;
    uint32_t *px;
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
        (px = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        perror("fake-vmm");
        exit(1);
    }
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            px[(size_t)y * w + x] = test_pattern(x, y, w, h);
    struct dc_mode m = { .width = w, .height = h, .stride = w * 4, .format = DC_FORMAT_XRGB8888,
                         .size = size };
    display_server_set_mode(ds, &m, fd);
    if (fb)
        munmap(fb, (size_t)fb_w * fb_h * 4);
    fb = px;
    fb_w = w;
    fb_h = h;
    close(fd);                       /* clients hold their own reference */
    if (frame_file)
        write_frame();
    printf("mode %u %u\n", w, h);
}

static void on_key(void *o, uint32_t code, bool down)
{
    printf("key %u %d\n", code, down);
    if (code != KEY_D || !down || fb_w < 104 || fb_h < 112)
        return;
    static bool on;
    on = !on;
    for (uint32_t y = 96; y < 112; y++)
        for (uint32_t x = 96; x < 104; x++)
            fb[(size_t)y * fb_w + x] = on ? 0xFFFFFF : test_pattern(x, y, fb_w, fb_h);
    display_server_damage(ds, 0, 96, fb_w, 16);
}
static void on_pointer(void *o, int32_t x, int32_t y, uint32_t w, uint32_t h, uint32_t b, int32_t wh, int32_t hw)
{
    printf("pointer %d %d %u\n", x, y, b);
}
static void on_resize(void *o, uint32_t w, uint32_t h)
{
    printf("resize %u %u\n", w, h);
    show(w, h);                      /* a guest that follows the window */
}

static const struct display_input_ops ops = { on_key, on_pointer, on_resize };

int main(int argc, char **argv)
{
    unsigned w = 640, h = 480;
    if (argc < 2 || argc > 4 || (argc > 2 && sscanf(argv[2], "%ux%u", &w, &h) != 2)) {
        fprintf(stderr, "usage: fake-vmm PATH [WxH [FRAME_FILE]]\n");
        return 2;
    }
    frame_file = argc > 3 ? argv[3] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct event_loop *loop = event_loop_new();
    ds = display_server_new(loop, "fake");
    display_server_set_input(ds, &ops, NULL);
    char *err = NULL;
    if (display_server_listen(ds, argv[1], &err) < 0) {
        fprintf(stderr, "fake-vmm: %s\n", err);
        return 1;
    }
    show(w, h);
    event_loop_run(loop);
    return 0;
}
