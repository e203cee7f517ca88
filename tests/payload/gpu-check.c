/* The host side of the virtio_gpu payload: a display channel client (the
 * library domus-vnc and domus-view use) that checks each frame the payload
 * flushes, pixel by pixel and its damage rect, and answers a good frame by
 * asking for a display size, which lets the payload go on.
 *
 *   gpu-check SOCKET
 *   gpu-check --still SOCKET FRAMES   (payload-snapshot)
 * The second waits for each frame of FRAMES ("2,1": frame 2, then frame 1)
 * in turn with its cursor (image, hot spot, position), printing "ready"
 * after the first, and exits; frames come from saved or reverted state, so
 * there is no damage to check and nothing to answer. */
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
static bool still;                   /* --still: check the cursor, not the damage */
static struct dc_cursor cursor;
static uint32_t cursor_img[DC_CURSOR_MAX * DC_CURSOR_MAX];
static struct dc_cursor_pos cursor_pos;

static void on_damage(void *opaque, const struct dc_rect *r, unsigned n)
{
    damage_count += n;
    last_damage = r[n - 1];
}

static void on_cursor(void *opaque, const struct dc_cursor *c, const uint32_t *argb)
{
    cursor = *c;
    memcpy(cursor_img, argb, (size_t)c->width * c->height * 4);
}

static void on_cursor_pos(void *opaque, const struct dc_cursor_pos *p)
{
    cursor_pos = *p;
}

static const struct dc_client_ops ops = { .damage = on_damage, .cursor = on_cursor, .cursor_pos = on_cursor_pos };

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

static bool cursor_ok(bool moved)
{
    int32_t x = moved ? GPU_TEST_CUR2_X : GPU_TEST_CUR1_X, y = moved ? GPU_TEST_CUR2_Y : GPU_TEST_CUR1_Y;
    if (cursor.width != GPU_TEST_CURSOR || cursor.height != GPU_TEST_CURSOR ||
        cursor.hot_x != GPU_TEST_HOT_X || cursor.hot_y != GPU_TEST_HOT_Y) {
        snprintf(why, sizeof(why), "cursor is %ux%u hot %u,%u", cursor.width, cursor.height, cursor.hot_x,
                 cursor.hot_y);
        return false;
    }
    for (unsigned i = 0; i < GPU_TEST_CURSOR * GPU_TEST_CURSOR; i++)
        if (cursor_img[i] != gpu_test_cursor_pixel(i)) {
            snprintf(why, sizeof(why), "cursor pixel %u is %08x, want %08x", i, cursor_img[i],
                     gpu_test_cursor_pixel(i));
            return false;
        }
    if (!cursor_pos.visible || cursor_pos.x != x || cursor_pos.y != y) {
        snprintf(why, sizeof(why), "cursor at %d,%d (visible %u), want %d,%d", cursor_pos.x, cursor_pos.y,
                 cursor_pos.visible, x, y);
        return false;
    }
    return true;
}

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
    if (still)
        return cursor_ok(with_box);
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

/* --still: each frame of @frames in turn ("2,1"). */
static int check_still(const char *frames)
{
    for (const char *f = frames; *f; f++) {
        if (*f == ',')
            continue;
        if (!wait_for(*f == '2')) {
            printf("gpu-check: FAIL: frame %c: %s\n", *f, why);
            return 1;
        }
        printf("gpu-check: frame %c right with its cursor\n", *f);
        if (f == frames)
            printf("ready\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    still = argc == 4 && !strcmp(argv[1], "--still");
    if (still) {
        argv++;
        argc--;
    }
    if (argc != 2 + still) {
        fprintf(stderr, "usage: gpu-check SOCKET | gpu-check --still SOCKET FRAMES\n");
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
    if (still)
        return check_still(argv[2]);
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
