/* Reboot through the 0xCF9 reset register. The boot count lives in
 * sector 0 of the disk so it survives the reset; the second boot powers off. */
#include "payload.h"

struct blk_req { uint32_t type, reserved; uint64_t sector; };
static struct blk_req req;
static uint8_t data[512];
static uint8_t status;

static void blk(struct vdev *d, uint32_t type)
{
    req = (struct blk_req){ type, 0, 0 };
    d->desc[0] = (struct virtq_desc){ (uintptr_t)&req, sizeof(req), VRING_DESC_F_NEXT, 1 };
    d->desc[1] = (struct virtq_desc){ (uintptr_t)data, 512, (uint16_t)(VRING_DESC_F_NEXT | (type == 0 ? VRING_DESC_F_WRITE : 0)), 2 };
    d->desc[2] = (struct virtq_desc){ (uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
    CHECK(virtio_submit_and_wait(d, 0) >= 0 && status == 0, "disk I/O failed");
}

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1042);
    CHECK(slot > 0, "virtio-blk not found");
    struct vdev d;
    CHECK(virtio_setup(&d, (unsigned)slot, 0), "virtio-blk setup failed");
    blk(&d, 0);
    data[0]++;
    puts_serial("boot number ");
    put_dec(data[0]);
    puts_serial("\n");
    blk(&d, 1);
    blk(&d, 4);
    if (data[0] == 1)
        payload_reset();
    puts_serial("reboot ok\n");
    return 0;
}
