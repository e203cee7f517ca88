/* The host side of the virtio_gpu payload: a display channel client (the
 * library domus-vnc and domus-view use) that checks each frame the payload
 * flushes, pixel by pixel and its damage rect, and answers a good frame by
 * asking for a display size, which lets the payload go on.
 *
 *   gpu-check SOCKET
 */
#include "vdisplay/display_client.h"
#include "gpu_test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct dc_client *client;
static struct dc_rect last_damage;
static unsigned damage_count;

static void on_damage(void *opaque, const struct dc_rect *r, unsigned n)
{
    damage_count += n;
    last_damage = r[n - 1];
}

static const struct dc_client_ops ops = { .damage = on_damage };

static uint32_t px(unsigned x, unsigned y)
{
    const struct dc_mode *m = dc_client_mode(client);
    uint32_t v;
    memcpy(&v, dc_client_pixels(client) + (size_t)y * m->stride + x * 4, 4);
    return v & 0xFFFFFF;
}

static bool in_box(unsigned x, unsigned y)
{
    return x >= GPU_TEST_BOX_X && x < GPU_TEST_BOX_X + GPU_TEST_BOX_W &&
           y >= GPU_TEST_BOX_Y && y < GPU_TEST_BOX_Y + GPU_TEST_BOX_H;
}

static char why[200];

static bool frame_ok(bool with_box)
{
    const struct dc_mode *m = dc_client_mode(client);
    if (!dc_client_pixels(client) || m->width != GPU_TEST_W || m->height != GPU_TEST_H ||
        m->format != DC_FORMAT_XRGB8888) {
        snprintf(why, sizeof(why), "mode is %ux%u format %#x", m->width, m->height, m->format);
        return false;
    }
    for (unsigned y = 0; y < GPU_TEST_H; y++)
        for (unsigned x = 0; x < GPU_TEST_W; x++) {
            uint32_t want = with_box && in_box(x, y) ? 0xFFFFFF : gpu_test_pixel(x, y);
            if (px(x, y) != want) {
                snprintf(why, sizeof(why), "pixel %u,%u is %06x, want %06x", x, y, px(x, y), want);
                return false;
            }
        }
    if (with_box && (last_damage.x != GPU_TEST_BOX_X || last_damage.y != GPU_TEST_BOX_Y ||
                     last_damage.w != GPU_TEST_BOX_W || last_damage.h != GPU_TEST_BOX_H)) {
        snprintf(why, sizeof(why), "damage is %d,%d %ux%u, not the flushed box", last_damage.x,
                 last_damage.y, last_damage.w, last_damage.h);
        return false;
    }
    return true;
}

/* Pumps the channel until @ok holds (true) or 100 s pass / the VMM goes (false). */
static bool wait_for(bool with_box)
{
    time_t end = time(NULL) + 100;
    while (time(NULL) < end) {
        if (frame_ok(with_box))
            return true;
        if (dc_client_wait(client, 500) < 0 || dc_client_dispatch(client) < 0) {
            snprintf(why + strlen(why), sizeof(why) - strlen(why), "; the VMM went away");
            return false;
        }
    }
    return frame_ok(with_box);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gpu-check SOCKET\n");
        return 2;
    }
    int fd = -1;
    for (int i = 0; i < 200 && fd < 0; i++) {   /* the VMM creates the socket as it starts */
        fd = dc_client_connect(argv[1], NULL);
        if (fd < 0)
            usleep(100000);
    }
    if (fd < 0) {
        printf("gpu-check: FAIL: cannot connect to %s\n", argv[1]);
        return 1;
    }
    client = dc_client_new(fd, &ops, NULL);
    if (!wait_for(false)) {
        printf("gpu-check: FAIL: frame 1: %s\n", why);
        return 1;
    }
    printf("gpu-check: frame 1 right (%ux%u gradient)\n", GPU_TEST_W, GPU_TEST_H);
    unsigned before = damage_count;
    dc_client_send_resize(client, GPU_TEST_ASK1_W, GPU_TEST_ASK1_H);
    if (!wait_for(true)) {
        printf("gpu-check: FAIL: frame 2: %s\n", why);
        return 1;
    }
    printf("gpu-check: frame 2 right, damage exactly the flushed box (%u rects since frame 1)\n",
           damage_count - before);
    dc_client_send_resize(client, GPU_TEST_ASK2_W, GPU_TEST_ASK2_H);
    /* Stay until the VMM ends, so the request is read before we hang up. */
    while (dc_client_wait(client, 100000) > 0 && dc_client_dispatch(client) == 0)
        ;
    return 0;
}
