/* virtio-gpu through the modern PCI transport, driven the way a guest
 * driver does: display info, a 2D resource whose backing is two separate
 * pieces of guest RAM, scanout, transfer and flush. The host side
 * (gpu-check) watches through the display channel; it answers each frame
 * it found right by asking for a new display size, which the payload sees
 * as the device's display event and then in GET_DISPLAY_INFO. */
#include "payload.h"
#include "gpu_test.h"

#define CMD_GET_DISPLAY_INFO  0x0100
#define CMD_RESOURCE_CREATE_2D 0x0101
#define CMD_SET_SCANOUT       0x0103
#define CMD_RESOURCE_FLUSH    0x0104
#define CMD_TRANSFER_TO_HOST  0x0105
#define CMD_ATTACH_BACKING    0x0106
#define RESP_OK_NODATA        0x1100
#define RESP_OK_DISPLAY_INFO  0x1101
#define RESP_ERR_INVALID_PARAMETER 0x1205
#define FORMAT_B8G8R8X8       2

struct hdr { uint32_t type, flags; uint64_t fence_id; uint32_t ctx_id, padding; };
struct rect { uint32_t x, y, w, h; };
struct display_info { struct hdr h; struct { struct rect r; uint32_t enabled, flags; } modes[16]; };
struct create_2d { struct hdr h; uint32_t id, format, width, height; };
struct set_scanout { struct hdr h; struct rect r; uint32_t scanout, id; };
struct flush { struct hdr h; struct rect r; uint32_t id, padding; };
struct transfer { struct hdr h; struct rect r; uint64_t offset; uint32_t id, padding; };
struct attach { struct hdr h; uint32_t id, nr_entries; struct { uint64_t addr; uint32_t len, padding; } e[2]; };

/* The resource's backing: the top rows in one piece of RAM, the rest in
 * another, with a gap between (so the device has to gather). */
#define HALF_BYTES (GPU_TEST_W * GPU_TEST_H / 2 * 4)
#define GAP_WORDS 2048
static uint32_t backing[HALF_BYTES / 4 * 2 + GAP_WORDS];
#define backing_top backing
#define backing_bottom (backing + HALF_BYTES / 4 + GAP_WORDS)

static union { struct display_info di; struct hdr h; } resp;
static union { struct hdr h; struct create_2d c; struct set_scanout s; struct flush f;
               struct transfer t; struct attach a; } req;
static struct vdev gpu;

static uint32_t command(uint32_t type, unsigned len, unsigned resp_len)
{
    req.h = (struct hdr){ .type = type };
    resp.h.type = 0;
    gpu.desc[0] = (struct virtq_desc){ (uintptr_t)&req, len, VRING_DESC_F_NEXT, 1 };
    gpu.desc[1] = (struct virtq_desc){ (uintptr_t)&resp, resp_len, VRING_DESC_F_WRITE, 0 };
    CHECK(virtio_submit_and_wait(&gpu, 0) >= (long)sizeof(struct hdr), "no answer from virtio-gpu");
    return resp.h.type;
}

static void put_pixel(unsigned x, unsigned y, uint32_t rgb)
{
    unsigned i = y * GPU_TEST_W + x;
    /* B8G8R8X8 in memory is the little-endian word 0xXXRRGGBB */
    if (i < HALF_BYTES / 4)
        backing_top[i] = rgb;
    else
        backing_bottom[i - HALF_BYTES / 4] = rgb;
}

static void transfer_and_flush(struct rect r)
{
    req.t.r = r;
    req.t.offset = ((uint64_t)r.y * GPU_TEST_W + r.x) * 4;
    req.t.id = 1;
    CHECK(command(CMD_TRANSFER_TO_HOST, sizeof(req.t), sizeof(struct hdr)) == RESP_OK_NODATA, "transfer failed");
    req.f.r = r;
    req.f.id = 1;
    CHECK(command(CMD_RESOURCE_FLUSH, sizeof(req.f), sizeof(struct hdr)) == RESP_OK_NODATA, "flush failed");
}

/* Waits for the display event gpu-check raises by asking for a size, acks
 * it, and returns the size the device now offers. */
static struct rect wait_display_event(void)
{
    volatile uint32_t *events_read = (volatile uint32_t *)gpu.device;
    unsigned long spins = 0;
    while (!(*events_read & 1)) {
        CHECK(++spins < 200000, "gpu-check never answered (no display event)");
        for (int i = 0; i < 2000; i++)
            __asm__ volatile("pause");
    }
    mmio_write(uint32_t, gpu.device + 4, 1);          /* events_clear */
    CHECK(command(CMD_GET_DISPLAY_INFO, sizeof(struct hdr), sizeof(resp.di)) == RESP_OK_DISPLAY_INFO,
          "GET_DISPLAY_INFO failed");
    return resp.di.modes[0].r;
}

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1050);
    CHECK(slot > 0, "virtio-gpu not found");
    CHECK(virtio_setup(&gpu, (unsigned)slot, 0), "virtio-gpu setup failed");
    CHECK(gpu.device, "virtio-gpu has no device config");

    CHECK(command(CMD_GET_DISPLAY_INFO, sizeof(struct hdr), sizeof(resp.di)) == RESP_OK_DISPLAY_INFO,
          "GET_DISPLAY_INFO failed");
    CHECK(resp.di.modes[0].enabled && resp.di.modes[0].r.w >= 640, "scanout 0 is not enabled");
    puts_serial("display 0: ");
    put_dec(resp.di.modes[0].r.w);
    puts_serial("x");
    put_dec(resp.di.modes[0].r.h);
    puts_serial("\n");

    req.c = (struct create_2d){ .id = 1, .format = FORMAT_B8G8R8X8, .width = GPU_TEST_W, .height = GPU_TEST_H };
    CHECK(command(CMD_RESOURCE_CREATE_2D, sizeof(req.c), sizeof(struct hdr)) == RESP_OK_NODATA, "create failed");
    for (unsigned y = 0; y < GPU_TEST_H; y++)
        for (unsigned x = 0; x < GPU_TEST_W; x++)
            put_pixel(x, y, gpu_test_pixel(x, y));
    req.a.id = 1;
    req.a.nr_entries = 2;
    req.a.e[0].addr = (uintptr_t)backing_top;
    req.a.e[0].len = HALF_BYTES;
    req.a.e[1].addr = (uintptr_t)backing_bottom;
    req.a.e[1].len = HALF_BYTES;
    CHECK(command(CMD_ATTACH_BACKING, sizeof(req.a), sizeof(struct hdr)) == RESP_OK_NODATA, "attach failed");
    req.s = (struct set_scanout){ .r = { 0, 0, GPU_TEST_W, GPU_TEST_H }, .scanout = 0, .id = 1 };
    CHECK(command(CMD_SET_SCANOUT, sizeof(req.s), sizeof(struct hdr)) == RESP_OK_NODATA, "set scanout failed");
    transfer_and_flush((struct rect){ 0, 0, GPU_TEST_W, GPU_TEST_H });
    puts_serial("frame 1 flushed\n");

    struct rect want = wait_display_event();
    CHECK(want.w == GPU_TEST_ASK1_W && want.h == GPU_TEST_ASK1_H, "display info does not offer the size asked for");
    puts_serial("gpu-check saw frame 1\n");

    /* A rect out of the resource is refused, and changes nothing. */
    req.t.r = (struct rect){ GPU_TEST_W - 8, 0, 16, 8 };
    req.t.offset = 0;
    req.t.id = 1;
    CHECK(command(CMD_TRANSFER_TO_HOST, sizeof(req.t), sizeof(struct hdr)) == RESP_ERR_INVALID_PARAMETER,
          "an out-of-range transfer was not refused");

    struct rect box = { GPU_TEST_BOX_X, GPU_TEST_BOX_Y, GPU_TEST_BOX_W, GPU_TEST_BOX_H };
    for (unsigned y = box.y; y < box.y + box.h; y++)
        for (unsigned x = box.x; x < box.x + box.w; x++)
            put_pixel(x, y, 0xFFFFFF);
    transfer_and_flush(box);
    puts_serial("frame 2 flushed\n");

    want = wait_display_event();
    CHECK(want.w == GPU_TEST_ASK2_W && want.h == GPU_TEST_ASK2_H, "display info does not offer the second size");
    puts_serial("gpu ok\n");
    return 0;
}
