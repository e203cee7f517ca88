/* virtio-rng through the modern transport: 64 bytes of entropy, twice,
 * must differ from each other and not be all zero. */
#include "payload.h"

static uint8_t buf[2][64];

int payload_main(void)
{
    serial_init();
    int slot = pci_find(0x1AF4, 0x1044);
    CHECK(slot > 0, "virtio-rng not found");
    struct vdev d;
    CHECK(virtio_setup(&d, (unsigned)slot, 0), "virtio-rng setup failed");
    for (int i = 0; i < 2; i++) {
        d.desc[0] = (struct virtq_desc){ (uintptr_t)buf[i], sizeof(buf[i]), VRING_DESC_F_WRITE, 0 };
        long n = virtio_submit_and_wait(&d, 0);
        CHECK(n > 0, "virtio-rng returned no data");
    }
    uint8_t zero[64] = { 0 };
    CHECK(memcmp(buf[0], zero, 64) != 0, "entropy is all zero");
    CHECK(memcmp(buf[0], buf[1], 64) != 0, "two reads returned the same bytes");
    puts_serial("rng ok ");
    for (int i = 0; i < 8; i++)
        put_hex(buf[0][i]);
    puts_serial("\n");
    return 0;
}
