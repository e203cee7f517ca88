/* See gpu.h. */
#include "gpu.h"

/* The resource's backing: the top rows in one piece of RAM, the rest in
 * another, with a gap between. */
#define HALF_BYTES (GPU_TEST_W * GPU_TEST_H / 2 * 4)
#define GAP_WORDS 2048
static uint32_t backing[HALF_BYTES / 4 * 2 + GAP_WORDS];
#define backing_top backing
#define backing_bottom (backing + HALF_BYTES / 4 + GAP_WORDS)

union gpu_req gpu_req;
union gpu_resp gpu_resp;
struct vdev gpu_dev;

void gpu_init(void)
{
    int slot = pci_find(0x1AF4, 0x1050);
    CHECK(slot > 0, "virtio-gpu not found");
    CHECK(virtio_setup(&gpu_dev, (unsigned)slot, 0), "virtio-gpu setup failed");
    CHECK(gpu_dev.device, "virtio-gpu has no device config");
}

uint32_t gpu_command(uint32_t type, unsigned len, unsigned resp_len)
{
    gpu_req.h = (struct gpu_hdr){ .type = type };
    gpu_resp.h.type = 0;
    gpu_dev.desc[0] = (struct virtq_desc){ (uintptr_t)&gpu_req, len, VRING_DESC_F_NEXT, 1 };
    gpu_dev.desc[1] = (struct virtq_desc){ (uintptr_t)&gpu_resp, resp_len, VRING_DESC_F_WRITE, 0 };
    CHECK(virtio_submit_and_wait(&gpu_dev, 0) >= (long)sizeof(struct gpu_hdr), "no answer from virtio-gpu");
    return gpu_resp.h.type;
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

static void transfer(uint32_t id, struct gpu_rect r, uint32_t width)
{
    gpu_req.t.r = r;
    gpu_req.t.offset = ((uint64_t)r.y * width + r.x) * 4;
    gpu_req.t.id = id;
    CHECK(gpu_command(CMD_TRANSFER_TO_HOST, sizeof(gpu_req.t), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "transfer failed");
}

static void transfer_and_flush(struct gpu_rect r)
{
    transfer(1, r, GPU_TEST_W);
    gpu_req.f.r = r;
    gpu_req.f.id = 1;
    CHECK(gpu_command(CMD_RESOURCE_FLUSH, sizeof(gpu_req.f), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "flush failed");
}

void gpu_show_frame1(void)
{
    gpu_req.c = (struct gpu_create_2d){ .id = 1, .format = FORMAT_B8G8R8X8, .width = GPU_TEST_W, .height = GPU_TEST_H };
    CHECK(gpu_command(CMD_RESOURCE_CREATE_2D, sizeof(gpu_req.c), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "create failed");
    for (unsigned y = 0; y < GPU_TEST_H; y++)
        for (unsigned x = 0; x < GPU_TEST_W; x++)
            put_pixel(x, y, gpu_test_pixel(x, y));
    gpu_req.a.id = 1;
    gpu_req.a.nr_entries = 2;
    gpu_req.a.e[0].addr = (uintptr_t)backing_top;
    gpu_req.a.e[0].len = HALF_BYTES;
    gpu_req.a.e[1].addr = (uintptr_t)backing_bottom;
    gpu_req.a.e[1].len = HALF_BYTES;
    CHECK(gpu_command(CMD_ATTACH_BACKING, sizeof(gpu_req.a), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "attach failed");
    gpu_req.s = (struct gpu_set_scanout){ .r = { 0, 0, GPU_TEST_W, GPU_TEST_H }, .scanout = 0, .id = 1 };
    CHECK(gpu_command(CMD_SET_SCANOUT, sizeof(gpu_req.s), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "set scanout failed");
    transfer_and_flush((struct gpu_rect){ 0, 0, GPU_TEST_W, GPU_TEST_H });
}

void gpu_show_box(void)
{
    struct gpu_rect box = { GPU_TEST_BOX_X, GPU_TEST_BOX_Y, GPU_TEST_BOX_W, GPU_TEST_BOX_H };
    for (unsigned y = box.y; y < box.y + box.h; y++)
        for (unsigned x = box.x; x < box.x + box.w; x++)
            put_pixel(x, y, 0xFFFFFF);
    transfer_and_flush(box);
}

/* The cursor queue on rings of its own (the control queue has the shared set). */
static struct virtq_desc cursor_desc[8] __attribute__((aligned(4096)));
static uint16_t cursor_avail[11] __attribute__((aligned(4096)));
static uint8_t cursor_used[70] __attribute__((aligned(4096)));
static struct vdev cursor_q;
static uint32_t cursor_img[GPU_TEST_CURSOR * GPU_TEST_CURSOR];
static struct { struct gpu_hdr h; uint32_t scanout, x, y, padding; uint32_t id, hot_x, hot_y, padding2; } cursor_cmd;

static void cursor_command(uint32_t type, uint32_t x, uint32_t y)
{
    cursor_cmd.h = (struct gpu_hdr){ .type = type };
    cursor_cmd.x = x;
    cursor_cmd.y = y;
    cursor_q.desc[0] = (struct virtq_desc){ (uintptr_t)&cursor_cmd, sizeof(cursor_cmd), 0, 0 };
    CHECK(virtio_submit_and_wait(&cursor_q, 1) >= 0, "the cursor queue did not answer");
}

void gpu_show_cursor(uint32_t x, uint32_t y)
{
    cursor_q = gpu_dev;
    CHECK(virtio_setup_queue(&cursor_q, 1, cursor_desc, cursor_avail, cursor_used), "no cursor queue");
    gpu_req.c = (struct gpu_create_2d){ .id = 2, .format = FORMAT_B8G8R8A8, .width = GPU_TEST_CURSOR,
                                        .height = GPU_TEST_CURSOR };
    CHECK(gpu_command(CMD_RESOURCE_CREATE_2D, sizeof(gpu_req.c), sizeof(struct gpu_hdr)) == RESP_OK_NODATA,
          "cursor create failed");
    for (unsigned i = 0; i < GPU_TEST_CURSOR * GPU_TEST_CURSOR; i++)
        cursor_img[i] = gpu_test_cursor_pixel(i);    /* B8G8R8A8: the word 0xAARRGGBB */
    gpu_req.a.id = 2;
    gpu_req.a.nr_entries = 1;
    gpu_req.a.e[0].addr = (uintptr_t)cursor_img;
    gpu_req.a.e[0].len = sizeof(cursor_img);
    CHECK(gpu_command(CMD_ATTACH_BACKING, sizeof(gpu_req.a) - sizeof(gpu_req.a.e[1]), sizeof(struct gpu_hdr)) ==
          RESP_OK_NODATA, "cursor attach failed");
    transfer(2, (struct gpu_rect){ 0, 0, GPU_TEST_CURSOR, GPU_TEST_CURSOR }, GPU_TEST_CURSOR);
    cursor_cmd.id = 2;
    cursor_cmd.hot_x = GPU_TEST_HOT_X;
    cursor_cmd.hot_y = GPU_TEST_HOT_Y;
    cursor_command(CMD_UPDATE_CURSOR, x, y);
}

void gpu_move_cursor(uint32_t x, uint32_t y)
{
    cursor_command(CMD_MOVE_CURSOR, x, y);
}
