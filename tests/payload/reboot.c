/* Reboot through the 0xCF9 reset register. The boot count lives in
 * sector 0 of the disk so it survives the reset; the second boot powers off. */
#include "payload.h"

static uint8_t data[512];

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1042);
    CHECK(slot > 0, "virtio-blk not found");
    struct vdev d;
    CHECK(virtio_setup(&d, (unsigned)slot, 0), "virtio-blk setup failed");
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_IN, 0, data, 512) == 0, "disk read failed");
    data[0]++;
    puts_serial("boot number ");
    put_dec(data[0]);
    puts_serial("\n");
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_OUT, 0, data, 512) == 0, "disk write failed");
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0) == 0, "flush failed");
    if (data[0] == 1)
        payload_reset();
    puts_serial("reboot ok\n");
    return 0;
}
