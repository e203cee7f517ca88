/* virtio-gpu driven directly on guest RAM (no PCI, no KVM), with a real
 * display channel client on the other end of a socketpair: what a viewer
 * sees after the guest's commands, and that hostile commands get ERR_*
 * responses while the device keeps working. */
#include "virtio/virtio_gpu_int.h"
#include "core/state.h"
#include "fake_virtq.h"
#include "core/event_loop.h"
#include "vdisplay/display_client.h"
#include "vdisplay/display_server.h"

#include <errno.h>
#include <pthread.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    return -ENOSYS;
}

#define QSZ        64
#define RAM_SIZE   (32u << 20)
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define REQ_GPA    0x10000
#define RESP_GPA   0x20000
#define CURSORQ_GPA 0x4000           /* the cursor queue's rings */
#define FB_GPA     0x100000          /* guest framebuffer pages */
#define CURSOR_GPA 0x800000          /* the cursor image's backing */

struct seen {
    unsigned modes, damages;
    struct dc_mode mode;
    const uint8_t *pixels;
    struct dc_rect last;
    unsigned cursors;
    struct dc_cursor cursor;
    uint32_t cursor_px0;             /* the cursor image's first pixel */
    struct dc_cursor_pos pos;
};

struct fx {
    struct guest_mem mem;
    struct event_loop *loop;
    struct display_server *ds;
    struct virtio_gpu *gpu;
    struct virtio_device *vdev;
    struct dc_client *client;
    struct seen seen;
    unsigned config_irqs;
    struct fake_vq cursorq;
};

static void on_mode(void *o, const struct dc_mode *m, const uint8_t *px)
{
    struct seen *s = o;
    s->modes++;
    s->mode = *m;
    s->pixels = px;
}

static void on_damage(void *o, const struct dc_rect *r, unsigned n)
{
    struct seen *s = o;
    s->damages += n;
    s->last = r[n - 1];
}

static void on_cursor(void *o, const struct dc_cursor *c, const uint32_t *argb)
{
    struct seen *s = o;
    s->cursors++;
    s->cursor = *c;
    s->cursor_px0 = c->width ? argb[0] : 0;
}

static void on_cursor_pos(void *o, const struct dc_cursor_pos *p) { ((struct seen *)o)->pos = *p; }

static const struct dc_client_ops seen_ops = { .mode = on_mode, .damage = on_damage, .cursor = on_cursor,
                                               .cursor_pos = on_cursor_pos };

static void count_config(struct virtio_device *vdev) { ((struct fx *)vdev->transport)->config_irqs++; }
static void no_irq(struct virtio_device *vdev, unsigned q) { }

static void fx_setup(struct fx *f, gconstpointer data)
{
    g_assert_cmpint(guest_mem_init(&f->mem, RAM_SIZE, "gpu-test"), ==, 0);
    f->loop = event_loop_new();
    f->ds = display_server_new(f->loop, "unit");
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), ==, 0);
    g_assert_cmpint(display_server_add_client(f->ds, sv[0]), ==, 0);
    f->client = dc_client_new(sv[1], &seen_ops, &f->seen);
    g_assert_cmpint(virtio_gpu_new(&f->mem, f->ds, &f->gpu), ==, 0);
    f->vdev = virtio_gpu_device(f->gpu);
    f->vdev->transport = f;
    f->vdev->notify_queue = no_irq;
    f->vdev->notify_config = count_config;
    fake_driver_ok(f->vdev, 0);
    struct fake_vq vq;
    fake_vq_enable(&vq, f->vdev, &f->mem, 0, DESC_GPA, QSZ);
    fake_vq_enable(&f->cursorq, f->vdev, &f->mem, 1, CURSORQ_GPA, QSZ);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    virtio_gpu_free(f->gpu);
    dc_client_free(f->client);
    display_server_free(f->ds);
    event_loop_free(f->loop);
    guest_mem_destroy(&f->mem);
}

/* Sends one command (@req of @len bytes, then @extra) and returns the response type. */
static uint32_t cmd_extra(struct fx *f, const void *req, size_t len, const void *extra, size_t elen)
{
    uint8_t *ram = f->mem.base;
    memcpy(ram + REQ_GPA, req, len);
    if (elen)
        memcpy(ram + REQ_GPA + len, extra, elen);
    memset(ram + RESP_GPA, 0xEE, 2048);
    struct virtq_desc *d = (struct virtq_desc *)(ram + DESC_GPA);
    d[0] = (struct virtq_desc){ REQ_GPA, (uint32_t)(len + elen), VIRTQ_DESC_F_NEXT, 1 };
    d[1] = (struct virtq_desc){ RESP_GPA, 2048, VIRTQ_DESC_F_WRITE, 0 };
    struct virtq_avail *avail = (struct virtq_avail *)(ram + AVAIL_GPA);
    struct virtq_used *used = (struct virtq_used *)(ram + USED_GPA);
    uint16_t before = used->idx;
    avail->ring[avail->idx % QSZ] = 0;
    avail->idx++;
    f->vdev->ops->queue_notify(f->vdev, 0);
    g_assert_cmpuint(used->idx, ==, (uint16_t)(before + 1));
    g_assert_cmpuint(used->ring[before % QSZ].len, >=, sizeof(struct virtio_gpu_ctrl_hdr));
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
    return ((struct virtio_gpu_ctrl_hdr *)(ram + RESP_GPA))->type;
}

static uint32_t cmd(struct fx *f, const void *req, size_t len)
{
    return cmd_extra(f, req, len, NULL, 0);
}

static uint32_t create(struct fx *f, uint32_t id, uint32_t w, uint32_t h)
{
    struct virtio_gpu_resource_create_2d c = { { VIRTIO_GPU_CMD_RESOURCE_CREATE_2D },
                                               id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h };
    return cmd(f, &c, sizeof(c));
}

static uint32_t attach(struct fx *f, uint32_t id, const struct virtio_gpu_mem_entry *e, uint32_t n)
{
    struct virtio_gpu_resource_attach_backing a = { { VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING }, id, n };
    return cmd_extra(f, &a, sizeof(a), e, n * sizeof(*e));
}

static uint32_t transfer(struct fx *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint64_t off)
{
    struct virtio_gpu_transfer_to_host_2d t = { { VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D }, { x, y, w, h }, off, id };
    return cmd(f, &t, sizeof(t));
}

static uint32_t scanout(struct fx *f, uint32_t id, uint32_t w, uint32_t h)
{
    struct virtio_gpu_set_scanout s = { { VIRTIO_GPU_CMD_SET_SCANOUT }, { 0, 0, w, h }, 0, id };
    return cmd(f, &s, sizeof(s));
}

static uint32_t flush(struct fx *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    struct virtio_gpu_resource_flush fl = { { VIRTIO_GPU_CMD_RESOURCE_FLUSH }, { x, y, w, h }, id };
    return cmd(f, &fl, sizeof(fl));
}

static uint32_t pattern(uint32_t x, uint32_t y) { return (x * 7 + y * 131) & 0xFFFFFF; }

static void test_display_info_and_edid(struct fx *f, gconstpointer data)
{
    struct virtio_gpu_ctrl_hdr h = { VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
    g_assert_cmpuint(cmd(f, &h, sizeof(h)), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    struct virtio_gpu_resp_display_info *di = (void *)(f->mem.base + RESP_GPA);
    g_assert_cmpuint(di->pmodes[0].enabled, ==, 1);
    g_assert_cmpuint(di->pmodes[0].r.width, ==, 1024);
    g_assert_cmpuint(di->pmodes[0].r.height, ==, 768);

    /* A viewer asks for 1280x720: config event, then the guest re-reads. */
    virtio_gpu_request_size(f->gpu, 1280, 720);
    g_assert_cmpuint(f->config_irqs, ==, 1);
    struct virtio_gpu_config cfg;
    f->vdev->ops->config_read(f->vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(cfg.events_read, ==, VIRTIO_GPU_EVENT_DISPLAY);
    g_assert_cmpuint(cfg.num_scanouts, ==, 1);
    uint32_t clear = VIRTIO_GPU_EVENT_DISPLAY;
    f->vdev->ops->config_write(f->vdev, offsetof(struct virtio_gpu_config, events_clear), &clear, 4);
    f->vdev->ops->config_read(f->vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(cfg.events_read, ==, 0);
    g_assert_cmpuint(cmd(f, &h, sizeof(h)), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    g_assert_cmpuint(di->pmodes[0].r.width, ==, 1280);
    g_assert_cmpuint(di->pmodes[0].r.height, ==, 720);

    struct virtio_gpu_get_edid ge = { { VIRTIO_GPU_CMD_GET_EDID }, 0 };
    g_assert_cmpuint(cmd(f, &ge, sizeof(ge)), ==, VIRTIO_GPU_RESP_OK_EDID);
    struct virtio_gpu_resp_edid *e = (void *)(f->mem.base + RESP_GPA);
    g_assert_cmpuint(e->size, ==, 128);
    uint8_t sum = 0;
    for (int i = 0; i < 128; i++)
        sum += e->edid[i];
    g_assert_cmpuint(sum, ==, 0);
    const uint8_t *dtd = e->edid + 54;
    g_assert_cmpuint(dtd[2] | (dtd[4] >> 4) << 8, ==, 1280);
    g_assert_cmpuint(dtd[5] | (dtd[7] >> 4) << 8, ==, 720);
    g_assert_cmpuint((e->edid[38] + 31) * 8, ==, 1920);            /* standard timing 1920x1080 */
    g_assert_cmpuint(e->edid[39] >> 6, ==, 3);
    ge.scanout = 5;
    g_assert_cmpuint(cmd(f, &ge, sizeof(ge)), ==, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
}

/* The client's framebuffer holds pattern() over WxH. */
static void assert_pattern_shown(struct fx *f, uint32_t w, uint32_t h)
{
    g_assert_nonnull(f->seen.pixels);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t px;
            memcpy(&px, f->seen.pixels + (uint64_t)y * f->seen.mode.stride + x * 4, 4);
            if (px != pattern(x, y))
                g_error("pixel (%u,%u) is %06x, wanted %06x", x, y, px, pattern(x, y));
        }
}

/* Draws a pattern into backing pages laid out as @n entries of @w*@h/n
 * pixels each, spaced so they are not contiguous when @gap. */
static void draw_and_show(struct fx *f, uint32_t w, uint32_t h, unsigned n, bool gap)
{
    g_assert_cmpuint(create(f, 1, w, h), ==, VIRTIO_GPU_RESP_OK_NODATA);
    struct virtio_gpu_mem_entry e[8];
    uint64_t bytes = (uint64_t)w * h * 4, part = bytes / n;
    for (unsigned i = 0; i < n; i++)
        e[i] = (struct virtio_gpu_mem_entry){ FB_GPA + i * (part + (gap ? 4096 : 0)), (uint32_t)part };
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint64_t off = ((uint64_t)y * w + x) * 4;
            uint64_t gpa = e[off / part].addr + off % part;
            uint32_t px = pattern(x, y);
            memcpy(f->mem.base + gpa, &px, 4);
        }
    g_assert_cmpuint(attach(f, 1, e, n), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(transfer(f, 1, 0, 0, w, h, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(scanout(f, 1, w, h), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(f->seen.mode.width, ==, w);
    g_assert_cmpuint(f->seen.mode.height, ==, h);
    g_assert_cmpuint(f->seen.mode.format, ==, DC_FORMAT_XRGB8888);
    g_assert_nonnull(f->seen.pixels);
    g_assert_cmpuint(f->seen.mode.flags & DC_MODE_F_GUEST_RAM, ==, gap || n > 1 ? 0 : DC_MODE_F_GUEST_RAM);
    assert_pattern_shown(f, w, h);
}

static void test_scanout_shadow(struct fx *f, gconstpointer data)
{
    draw_and_show(f, 200, 100, 4, true);
    /* The guest changes one rect: only it is copied, and the flush is exact damage. */
    uint32_t px = 0x123456;
    uint64_t off = (10ull * 200 + 20) * 4;       /* (20,10) lies in the first entry */
    memcpy(f->mem.base + FB_GPA + off, &px, 4);
    g_assert_cmpuint(transfer(f, 1, 20, 10, 1, 1, off), ==, VIRTIO_GPU_RESP_OK_NODATA);
    uint32_t shown;
    memcpy(&shown, f->seen.pixels + 10 * f->seen.mode.stride + 20 * 4, 4);
    g_assert_cmphex(shown, ==, 0x123456);
    unsigned before = f->seen.damages;
    g_assert_cmpuint(flush(f, 1, 20, 10, 5, 3), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(f->seen.damages, ==, before + 1);
    g_assert_cmpint(f->seen.last.x, ==, 20);
    g_assert_cmpint(f->seen.last.y, ==, 10);
    g_assert_cmpuint(f->seen.last.w, ==, 5);
    g_assert_cmpuint(f->seen.last.h, ==, 3);
    /* Unref of the shown resource turns the display off for clients. */
    struct virtio_gpu_resource_unref u = { { VIRTIO_GPU_CMD_RESOURCE_UNREF }, 1 };
    g_assert_cmpuint(cmd(f, &u, sizeof(u)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(f->seen.mode.width, ==, 0);
}

static void test_scanout_zero_copy(struct fx *f, gconstpointer data)
{
    draw_and_show(f, 128, 64, 1, false);
    /* Guest RAM is what the client maps: a guest write shows without a transfer. */
    uint32_t px = 0xABCDEF;
    memcpy(f->mem.base + FB_GPA + (5 * 128 + 6) * 4, &px, 4);
    uint32_t shown;
    memcpy(&shown, f->seen.pixels + 5 * f->seen.mode.stride + 6 * 4, 4);
    g_assert_cmphex(shown, ==, 0xABCDEF);
}

static void test_hostile_commands(struct fx *f, gconstpointer data)
{
    g_assert_cmpuint(create(f, 0, 10, 10), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    g_assert_cmpuint(create(f, 7, 0, 10), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(create(f, 7, 100000, 10), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(create(f, 7, 16384, 16384), ==, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    struct virtio_gpu_resource_create_2d bad_fmt = { { VIRTIO_GPU_CMD_RESOURCE_CREATE_2D }, 7, 999, 8, 8 };
    g_assert_cmpuint(cmd(f, &bad_fmt, sizeof(bad_fmt)), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(create(f, 7, 64, 64), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(create(f, 7, 64, 64), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    /* Filling the memory budget with big resources stops at OUT_OF_MEMORY. */
    uint32_t id = 100, last;
    while ((last = create(f, id, 4096, 4096)) == VIRTIO_GPU_RESP_OK_NODATA)
        id++;
    g_assert_cmpuint(last, ==, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    for (uint32_t i = 100; i < id; i++) {
        struct virtio_gpu_resource_unref u = { { VIRTIO_GPU_CMD_RESOURCE_UNREF }, i };
        g_assert_cmpuint(cmd(f, &u, sizeof(u)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    }

    g_assert_cmpuint(transfer(f, 7, 0, 0, 8, 8, 0), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);       /* no backing */
    struct virtio_gpu_mem_entry outside = { RAM_SIZE - 4096, 8192 };
    g_assert_cmpuint(attach(f, 7, &outside, 1), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
    struct virtio_gpu_resource_attach_backing many = { { VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING }, 7, 1u << 30 };
    g_assert_cmpuint(cmd(f, &many, sizeof(many)), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
    struct virtio_gpu_resource_attach_backing missing = { { VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING }, 7, 3 };
    g_assert_cmpuint(cmd(f, &missing, sizeof(missing)), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);  /* entries absent */
    struct virtio_gpu_mem_entry half = { FB_GPA, 64 * 64 * 2 };                            /* half the size */
    g_assert_cmpuint(attach(f, 7, &half, 1), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(attach(f, 7, &half, 1), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);              /* twice */
    g_assert_cmpuint(transfer(f, 7, 0, 0, 64, 64, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(transfer(f, 7, 0, 0, 64, 1, ~0ull - 10), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(transfer(f, 7, 60, 0, 8, 1, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(transfer(f, 7, 0xFFFFFFF0u, 0, 0x20, 1, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(transfer(f, 99, 0, 0, 1, 1, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    g_assert_cmpuint(transfer(f, 7, 0, 0, 64, 32, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(flush(f, 7, 0, 0, 65, 1), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(flush(f, 42, 0, 0, 1, 1), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    g_assert_cmpuint(scanout(f, 7, 65, 64), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    g_assert_cmpuint(scanout(f, 42, 64, 64), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    struct virtio_gpu_set_scanout s3 = { { VIRTIO_GPU_CMD_SET_SCANOUT }, { 0, 0, 8, 8 }, 3, 7 };
    g_assert_cmpuint(cmd(f, &s3, sizeof(s3)), ==, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    struct virtio_gpu_ctrl_hdr unknown = { 0x0777 };
    g_assert_cmpuint(cmd(f, &unknown, sizeof(unknown)), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
    struct virtio_gpu_ctrl_hdr truncated = { VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D };
    g_assert_cmpuint(cmd(f, &truncated, sizeof(truncated)), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    struct virtio_gpu_resource_detach_backing d = { { VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING }, 7 };
    g_assert_cmpuint(cmd(f, &d, sizeof(d)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(cmd(f, &d, sizeof(d)), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);

    /* None of it broke the device: it still shows frames. */
    g_assert_cmpuint(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET, ==, 0);
    struct virtio_gpu_resource_unref u = { { VIRTIO_GPU_CMD_RESOURCE_UNREF }, 7 };
    g_assert_cmpuint(cmd(f, &u, sizeof(u)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    draw_and_show(f, 32, 16, 2, true);
}

/* A fence is answered with the same fence id. */
static void test_fence(struct fx *f, gconstpointer data)
{
    struct virtio_gpu_resource_create_2d c = { { VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, VIRTIO_GPU_FLAG_FENCE, 77 },
                                               3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 4, 4 };
    g_assert_cmpuint(cmd(f, &c, sizeof(c)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    struct virtio_gpu_ctrl_hdr *r = (void *)(f->mem.base + RESP_GPA);
    g_assert_cmpuint(r->flags & VIRTIO_GPU_FLAG_FENCE, !=, 0);
    g_assert_cmpuint(r->fence_id, ==, 77);
}

static void *loop_thread(void *opaque)
{
    event_loop_run(opaque);
    return NULL;
}

/* A client sending garbage is disconnected, one that dies is dropped, and
 * the remaining client still gets frames. */
static void test_bad_clients(struct fx *f, gconstpointer data)
{
    int bad[2], dead[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bad), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, dead), ==, 0);
    g_assert_cmpint(display_server_add_client(f->ds, bad[0]), ==, 0);
    g_assert_cmpint(display_server_add_client(f->ds, dead[0]), ==, 0);
    g_assert_cmpuint(display_server_client_count(f->ds), ==, 3);
    pthread_t t;
    pthread_create(&t, NULL, loop_thread, f->loop);
    static const char junk[] = "\x40\0\0\0\xff\xff\xff\xff garbage";
    g_assert_cmpint(send(bad[1], junk, sizeof(junk), 0), ==, sizeof(junk));
    close(dead[1]);
    for (int i = 0; i < 500 && display_server_client_count(f->ds) != 1; i++)
        g_usleep(10000);
    g_assert_cmpuint(display_server_client_count(f->ds), ==, 1);
    char buf[64];
    while (recv(bad[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    g_assert_cmpint(recv(bad[1], buf, sizeof(buf), MSG_DONTWAIT), ==, 0);   /* closed by the VMM */
    event_loop_stop(f->loop);
    pthread_join(t, NULL);
    close(bad[1]);
    draw_and_show(f, 16, 8, 1, false);
}

/* ---- saved state ---- */

#define CURSOR_REQ_GPA 0x30000

static void update_cursor(struct fx *f, uint32_t id, uint32_t hot_x, uint32_t hot_y, uint32_t x, uint32_t y)
{
    struct virtio_gpu_update_cursor c = { { VIRTIO_GPU_CMD_UPDATE_CURSOR }, { 0, x, y }, id, hot_x, hot_y };
    memcpy(f->mem.base + CURSOR_REQ_GPA, &c, sizeof(c));
    fake_vq_offer(&f->cursorq, &(struct fake_seg){ CURSOR_REQ_GPA, sizeof(c), false }, 1);
    f->vdev->ops->queue_notify(f->vdev, 1);
    uint32_t id_used, len;
    g_assert_true(fake_vq_take_used(&f->cursorq, &id_used, &len));
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
}

/* A 16x16 cursor (resource 2, opaque red with one blue first pixel) at
 * 10,20 with its hot spot at 3,4. */
static void show_cursor(struct fx *f)
{
    struct virtio_gpu_resource_create_2d c = { { VIRTIO_GPU_CMD_RESOURCE_CREATE_2D },
                                               2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 16, 16 };
    g_assert_cmpuint(cmd(f, &c, sizeof(c)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    uint32_t *img = (uint32_t *)(f->mem.base + CURSOR_GPA);
    for (int i = 0; i < 256; i++)
        img[i] = 0xFFFF0000;
    img[0] = 0xFF0000FF;
    struct virtio_gpu_mem_entry e = { CURSOR_GPA, 16 * 16 * 4 };
    g_assert_cmpuint(attach(f, 2, &e, 1), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(transfer(f, 2, 0, 0, 16, 16, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
    update_cursor(f, 2, 3, 4, 10, 20);
    g_assert_cmpuint(f->seen.cursor.width, ==, 16);
    g_assert_cmpuint(f->seen.pos.visible, ==, 1);
}

static void *state_save(struct virtio_device *vdev, size_t *len)
{
    size_t max = 64;
    void *buf = g_malloc(max);
    long n;
    while ((n = vdev->ops->state->save(vdev, buf, max)) == -ENOSPC)
        buf = g_realloc(buf, max *= 2);
    g_assert_cmpint(n, >, 0);
    *len = (size_t)n;
    return buf;
}

/* What a client attached to @f sees after a load: the pattern at WxH, a
 * full-frame repaint, the cursor and its position. */
static void assert_restored_view(struct fx *f, uint32_t w, uint32_t h)
{
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
    g_assert_cmpuint(f->seen.mode.width, ==, w);
    g_assert_cmpuint(f->seen.mode.height, ==, h);
    assert_pattern_shown(f, w, h);
    g_assert_cmpint(f->seen.last.x, ==, 0);
    g_assert_cmpint(f->seen.last.y, ==, 0);
    g_assert_cmpuint(f->seen.last.w, ==, w);
    g_assert_cmpuint(f->seen.last.h, ==, h);
    g_assert_cmpuint(f->seen.cursor.width, ==, 16);
    g_assert_cmpuint(f->seen.cursor.hot_x, ==, 3);
    g_assert_cmpuint(f->seen.cursor.hot_y, ==, 4);
    g_assert_cmphex(f->seen.cursor_px0, ==, 0xFF0000FF);
    g_assert_cmpint(f->seen.pos.x, ==, 10);
    g_assert_cmpint(f->seen.pos.y, ==, 20);
    g_assert_cmpuint(f->seen.pos.visible, ==, 1);
}

/* Save, then load into a new device on a copy of guest RAM (a restore in
 * a new process), and in place after the guest changed everything (a
 * revert): clients see the saved frame and cursor again. */
static void test_state_round_trip(struct fx *f, gconstpointer data)
{
    draw_and_show(f, 64, 32, 4, true);
    show_cursor(f);
    virtio_gpu_request_size(f->gpu, 800, 600);
    size_t len;
    void *blob = state_save(f->vdev, &len);
    const size_t px_len = CURSOR_GPA + 4096 - FB_GPA;     /* the pixels, not the rings */
    void *ram_copy = g_memdup2(f->mem.base + FB_GPA, px_len);

    struct fx f2;
    fx_setup(&f2, NULL);
    memcpy(f2.mem.base + FB_GPA, ram_copy, px_len);
    unsigned modes = f2.seen.modes;
    g_assert_cmpint(f2.vdev->ops->state->load(f2.vdev, blob, len), ==, 0);
    f2.vdev->ops->state->loaded(f2.vdev);
    g_assert_cmpuint(f2.seen.modes, ==, modes);     /* nothing before loaded() */
    assert_restored_view(&f2, 64, 32);
    struct virtio_gpu_config cfg;
    f2.vdev->ops->config_read(f2.vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(cfg.events_read, ==, VIRTIO_GPU_EVENT_DISPLAY);
    g_assert_cmpuint(f2.config_irqs, ==, 1);        /* the unacknowledged event, again */
    struct virtio_gpu_ctrl_hdr h = { VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
    g_assert_cmpuint(cmd(&f2, &h, sizeof(h)), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    struct virtio_gpu_resp_display_info *di = (void *)(f2.mem.base + RESP_GPA);
    g_assert_cmpuint(di->pmodes[0].r.width, ==, 800);
    /* The restored device goes on: the guest's next frame shows. */
    g_assert_cmpuint(flush(&f2, 1, 0, 0, 8, 8), ==, VIRTIO_GPU_RESP_OK_NODATA);
    fx_teardown(&f2, NULL);

    /* In place: the guest draws over everything, drops the cursor, makes a
     * new resource; the revert's RAM comes back before loaded(), as in a
     * snapshot (the rings stay: this test has no transport state to revert). */
    memset(f->mem.base + FB_GPA, 0x55, 64 * 32 * 4 + 4 * 4096);
    g_assert_cmpuint(transfer(f, 1, 0, 0, 64, 32, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
    struct virtio_gpu_resource_unref u = { { VIRTIO_GPU_CMD_RESOURCE_UNREF }, 2 };
    g_assert_cmpuint(cmd(f, &u, sizeof(u)), ==, VIRTIO_GPU_RESP_OK_NODATA);
    update_cursor(f, 0, 0, 0, 0, 0);
    g_assert_cmpuint(create(f, 9, 32, 32), ==, VIRTIO_GPU_RESP_OK_NODATA);
    g_assert_cmpuint(f->vdev->ops->state->load(f->vdev, blob, len), ==, 0);
    memcpy(f->mem.base + FB_GPA, ram_copy, px_len);
    f->vdev->ops->state->loaded(f->vdev);
    assert_restored_view(f, 64, 32);
    g_assert_cmpuint(create(f, 9, 32, 32), ==, VIRTIO_GPU_RESP_OK_NODATA);   /* 9 went with the revert */
    size_t len2;
    void *blob2 = state_save(f->vdev, &len2);
    g_assert_cmpuint(len2, ==, len + sizeof(struct gpu_saved_resource));
    g_assert_cmpint(f->vdev->ops->state->save(f->vdev, blob2, 16), ==, -ENOSPC);
    g_free(blob2);
    g_free(ram_copy);
    g_free(blob);
}

/* Hostile saved states: each is refused with -EINVAL, the device keeps
 * what it had (its own save is byte for byte the same) and clients hear
 * nothing. */
static void test_state_hostile(struct fx *f, gconstpointer data)
{
    draw_and_show(f, 80, 32, 4, true);     /* too wide for a cursor */
    g_assert_cmpuint(create(f, 3, 8, 8), ==, VIRTIO_GPU_RESP_OK_NODATA);   /* no backing */
    show_cursor(f);
    size_t len;
    uint8_t *good = state_save(f->vdev, &len);
    g_assert_cmpuint(len, ==, sizeof(struct gpu_saved) + 3 * sizeof(struct gpu_saved_resource) +
                              5 * sizeof(struct virtio_gpu_mem_entry));
    const struct state_ops *ops = f->vdev->ops->state;
    g_assert_cmpint(ops->load(f->vdev, good, len), ==, 0);       /* as saved: accepted */
    ops->loaded(f->vdev);
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
    unsigned modes = f->seen.modes, damages = f->seen.damages, cursors = f->seen.cursors;

    /* Resources in saved order: 1 (4 entries), 3 (none), 2 (the cursor, 1 entry). */
    const size_t r1 = sizeof(struct gpu_saved);
    const size_t e1 = r1 + sizeof(struct gpu_saved_resource);
    const size_t r3 = e1 + 4 * sizeof(struct virtio_gpu_mem_entry);
    const size_t r2 = r3 + sizeof(struct gpu_saved_resource);
    const size_t e2 = r2 + sizeof(struct gpu_saved_resource);
#define HDR(field) (offsetof(struct gpu_saved, field))
#define RES(at, field) ((at) + offsetof(struct gpu_saved_resource, field))
#define ENT(at, i, field) ((at) + (i) * sizeof(struct virtio_gpu_mem_entry) + offsetof(struct virtio_gpu_mem_entry, field))
    static const struct { const char *what; size_t at; unsigned width; uint64_t value; } bad[] = {
        { "version", HDR(version), 4, 99 },
        { "too many resources", HDR(nresources), 4, GPU_MAX_RESOURCES + 1 },
        { "resource count off by one", HDR(nresources), 4, 4 },
        { "too many entries", HDR(nentries), 4, GPU_MAX_ENTRIES_TOTAL + 1 },
        { "entry count off", HDR(nentries), 4, 6 },
        { "events_read unknown bit", HDR(events_read), 4, 0x80 },
        { "preferred width 0", HDR(pref_width), 4, 0 },
        { "preferred height huge", HDR(pref_height), 4, 1u << 20 },
        { "scanout resource missing", HDR(scanout_resource), 4, 77 },
        { "scanout rect outside", HDR(scanout_rect.x), 4, 60 },
        { "scanout rect empty", HDR(scanout_rect.width), 4, 0 },
        { "cursor resource missing", HDR(cursor_resource), 4, 78 },
        { "cursor resource too big", HDR(cursor_resource), 4, 1 },
        { "resource id 0", RES(r1, id), 4, 0 },
        { "duplicate resource id", RES(r3, id), 4, 2 },
        { "unknown format", RES(r3, format), 4, 999 },
        { "width 0", RES(r3, width), 4, 0 },
        { "width over the limit", RES(r3, width), 4, GPU_MAX_DIM + 1 },
        { "entries of one resource more than the total", RES(r3, nentries), 4, 1 },
        { "entries over the attach limit", RES(r2, nentries), 4, GPU_MAX_BACKING + 1 },
        { "backing beyond RAM", ENT(e1, 2, addr), 8, RAM_SIZE - 16 },
        { "backing address wraps", ENT(e2, 0, addr), 8, ~0ull - 100 },
        { "backing of length 0", ENT(e1, 0, length), 4, 0 },
    };
    uint8_t *blob = g_malloc(len + 64);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        memcpy(blob, good, len);
        memcpy(blob + bad[i].at, &bad[i].value, bad[i].width);
        if (ops->load(f->vdev, blob, len) != -EINVAL)
            g_error("a saved state with %s was not refused", bad[i].what);
    }
    memcpy(blob, good, len);
    g_assert_cmpint(ops->load(f->vdev, blob, len - 1), ==, -EINVAL);
    g_assert_cmpint(ops->load(f->vdev, blob, len + 1), ==, -EINVAL);
    g_assert_cmpint(ops->load(f->vdev, blob, sizeof(struct gpu_saved) - 1), ==, -EINVAL);
    g_assert_cmpint(ops->load(f->vdev, blob, 0), ==, -EINVAL);
    /* Within the size limit each, but over the device's total. */
    struct gpu_saved h;
    memcpy(&h, good, sizeof(h));
    h.nresources = 3;
    h.nentries = 0;
    h.scanout_resource = h.cursor_resource = 0;
    memcpy(blob, &h, sizeof(h));
    for (uint32_t i = 0; i < 3; i++) {
        struct gpu_saved_resource big = { 100 + i, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8192, 4096, 0, 0 };
        memcpy(blob + sizeof(h) + i * sizeof(big), &big, sizeof(big));
    }
    g_assert_cmpint(ops->load(f->vdev, blob, sizeof(h) + 3 * sizeof(struct gpu_saved_resource)), ==, -EINVAL);
    h.nresources = 1;                /* one resource over the size limit */
    memcpy(blob, &h, sizeof(h));
    struct gpu_saved_resource huge = { 100, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, GPU_MAX_DIM, GPU_MAX_DIM, 0, 0 };
    memcpy(blob + sizeof(h), &huge, sizeof(huge));
    g_assert_cmpint(ops->load(f->vdev, blob, sizeof(h) + sizeof(huge)), ==, -EINVAL);

    size_t len_after;
    void *after = state_save(f->vdev, &len_after);
    g_assert_cmpuint(len_after, ==, len);
    g_assert_cmpmem(after, len_after, good, len);
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
    g_assert_cmpuint(f->seen.modes, ==, modes);
    g_assert_cmpuint(f->seen.damages, ==, damages);
    g_assert_cmpuint(f->seen.cursors, ==, cursors);
    g_assert_cmpuint(flush(f, 1, 0, 0, 4, 4), ==, VIRTIO_GPU_RESP_OK_NODATA);   /* still working */
    g_assert_cmpuint(f->seen.damages, ==, damages + 1);
    g_free(after);
    g_free(blob);
    g_free(good);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/virtio-gpu/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    T("display-info-edid-resize", test_display_info_and_edid);
    T("scanout-shadow-copy", test_scanout_shadow);
    T("scanout-zero-copy", test_scanout_zero_copy);
    T("hostile-commands", test_hostile_commands);
    T("fence", test_fence);
    T("bad-clients", test_bad_clients);
    T("state-round-trip", test_state_round_trip);
    T("state-hostile", test_state_hostile);
    return g_test_run();
}
