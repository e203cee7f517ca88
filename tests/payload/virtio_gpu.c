/* virtio-gpu through the modern PCI transport, driven the way a guest
 * driver does: display info, a 2D resource whose backing is two separate
 * pieces of guest RAM, scanout, transfer and flush. The host side
 * (gpu-check) watches through the display channel; it answers each frame
 * it found right by asking for a new display size, which the payload sees
 * as the device's display event and then in GET_DISPLAY_INFO. */
#include "gpu.h"

/* Waits for the display event gpu-check raises by asking for a size, acks
 * it, and returns the size the device now offers. */
static struct gpu_rect wait_display_event(void)
{
    volatile uint32_t *events_read = (volatile uint32_t *)gpu_dev.device;
    unsigned long spins = 0;
    while (!(*events_read & 1)) {
        CHECK(++spins < 200000, "gpu-check never answered (no display event)");
        for (int i = 0; i < 2000; i++)
            __asm__ volatile("pause");
    }
    mmio_write(uint32_t, gpu_dev.device + 4, 1);          /* events_clear */
    CHECK(gpu_command(CMD_GET_DISPLAY_INFO, sizeof(struct gpu_hdr), sizeof(gpu_resp.di)) == RESP_OK_DISPLAY_INFO,
          "GET_DISPLAY_INFO failed");
    return gpu_resp.di.modes[0].r;
}

int payload_main(void)
{
    serial_init();
    gpu_init();
    CHECK(gpu_command(CMD_GET_DISPLAY_INFO, sizeof(struct gpu_hdr), sizeof(gpu_resp.di)) == RESP_OK_DISPLAY_INFO,
          "GET_DISPLAY_INFO failed");
    CHECK(gpu_resp.di.modes[0].enabled && gpu_resp.di.modes[0].r.w >= 640, "scanout 0 is not enabled");
    puts_serial("display 0: ");
    put_dec(gpu_resp.di.modes[0].r.w);
    puts_serial("x");
    put_dec(gpu_resp.di.modes[0].r.h);
    puts_serial("\n");
    gpu_show_frame1();
    puts_serial("frame 1 flushed\n");

    struct gpu_rect want = wait_display_event();
    CHECK(want.w == GPU_TEST_ASK1_W && want.h == GPU_TEST_ASK1_H, "display info does not offer the size asked for");
    puts_serial("gpu-check saw frame 1\n");

    /* A rect out of the resource is refused, and changes nothing. */
    gpu_req.t.r = (struct gpu_rect){ GPU_TEST_W - 8, 0, 16, 8 };
    gpu_req.t.offset = 0;
    gpu_req.t.id = 1;
    CHECK(gpu_command(CMD_TRANSFER_TO_HOST, sizeof(gpu_req.t), sizeof(struct gpu_hdr)) == RESP_ERR_INVALID_PARAMETER,
          "an out-of-range transfer was not refused");

    gpu_show_box();
    puts_serial("frame 2 flushed\n");

    want = wait_display_event();
    CHECK(want.w == GPU_TEST_ASK2_W && want.h == GPU_TEST_ASK2_H, "display info does not offer the second size");
    puts_serial("gpu ok\n");
    return 0;
}
