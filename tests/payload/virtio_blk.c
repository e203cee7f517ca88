/* virtio-blk: read the host's marker from sector 0, write our own to
 * sector 1, flush, read the serial ID, and check that a read past the end
 * fails with an I/O error. The host then checks sector 1 in the file. */
#include "payload.h"

struct blk_req { uint32_t type, reserved; uint64_t sector; };
static struct blk_req req;
static uint8_t data[512];
static uint8_t status;

static long blk_io(struct vdev *d, uint32_t type, uint64_t sector, unsigned len, bool dev_writes)
{
    req = (struct blk_req){ type, 0, sector };
    status = 0xFF;
    unsigned n = 0;
    d->desc[n] = (struct virtq_desc){ (uintptr_t)&req, sizeof(req), VRING_DESC_F_NEXT, (uint16_t)(n + 1) };
    n++;
    if (len) {
        d->desc[n] = (struct virtq_desc){ (uintptr_t)data, len,
                                          (uint16_t)(VRING_DESC_F_NEXT | (dev_writes ? VRING_DESC_F_WRITE : 0)),
                                          (uint16_t)(n + 1) };
        n++;
    }
    d->desc[n] = (struct virtq_desc){ (uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
    return virtio_submit_and_wait(d, 0);
}

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1042);
    CHECK(slot > 0, "virtio-blk not found");
    struct vdev d;
    CHECK(virtio_setup(&d, (unsigned)slot, 0), "virtio-blk setup failed");
    uint64_t capacity = mmio_read(uint64_t, d.device);
    CHECK(capacity == 2048, "capacity is not 2048 sectors (1 MiB image)");

    CHECK(blk_io(&d, 0, 0, 512, true) >= 0 && status == 0, "read of sector 0 failed");
    CHECK(memcmp(data, "DOMUS-HOST-MARKER", 17) == 0, "sector 0 does not hold the host's marker");

    memset(data, 0, sizeof(data));
    memcpy(data, "DOMUS-GUEST-MARKER", 18);
    CHECK(blk_io(&d, 1, 1, 512, false) >= 0 && status == 0, "write of sector 1 failed");
    CHECK(blk_io(&d, 4, 0, 0, false) >= 0 && status == 0, "flush failed");

    CHECK(blk_io(&d, 0, capacity, 512, true) >= 0 && status == 1, "read past the end did not fail with IOERR");

    memset(data, 0, sizeof(data));
    CHECK(blk_io(&d, 8, 0, 20, true) >= 0 && status == 0, "GET_ID failed");
    puts_serial("serial id: ");
    data[20] = 0;
    puts_serial((const char *)data);
    puts_serial("\nblk ok\n");
    return 0;
}
