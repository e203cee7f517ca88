/* virtio-blk: read the host's marker from sector 0, write our own to
 * sector 1, flush, read the serial ID, and check that a read past the end
 * fails with an I/O error. The host then checks sector 1 in the file. */
#include "payload.h"

static uint8_t data[512];

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1042);
    CHECK(slot > 0, "virtio-blk not found");
    struct vdev d;
    CHECK(virtio_setup(&d, (unsigned)slot, 0), "virtio-blk setup failed");
    uint64_t capacity = mmio_read(uint64_t, d.device);
    CHECK(capacity == 2048, "capacity is not 2048 sectors (1 MiB image)");

    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_IN, 0, data, 512) == 0, "read of sector 0 failed");
    CHECK(memcmp(data, "DOMUS-HOST-MARKER", 17) == 0, "sector 0 does not hold the host's marker");

    memset(data, 0, sizeof(data));
    memcpy(data, "DOMUS-GUEST-MARKER", 18);
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_OUT, 1, data, 512) == 0, "write of sector 1 failed");
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0) == 0, "flush failed");
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_IN, capacity, data, 512) == 1,
          "read past the end did not fail with IOERR");

    memset(data, 0, sizeof(data));
    CHECK(virtio_blk_request(&d, VIRTIO_BLK_T_GET_ID, 0, data, 20) == 0, "GET_ID failed");
    puts_serial("serial id: ");
    data[20] = 0;
    puts_serial((const char *)data);
    puts_serial("\nblk ok\n");
    return 0;
}
