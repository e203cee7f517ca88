/* PCI configuration space through 0xCF8/0xCFC and ECAM: the host bridge,
 * the virtio functions, BAR sizing, read-only fields and empty slots. */
#include "payload.h"

#define ECAM 0xB0000000UL

int payload_main(void)
{
    serial_init();
    CHECK(pci_read32(0, 0) == 0x29C08086, "00:00.0 is not the host bridge 8086:29c0");
    CHECK((pci_read32(0, 8) >> 8) == 0x060000, "host bridge class is not 0x060000");
    CHECK(mmio_read(uint32_t, ECAM) == pci_read32(0, 0), "ECAM and 0xCF8 disagree on 00:00.0");

    int rng = pci_find(0x1AF4, 0x1044), blk = pci_find(0x1AF4, 0x1042);
    CHECK(rng > 0, "virtio-rng (1af4:1044) not found");
    CHECK(blk > 0, "virtio-blk (1af4:1042) not found");
    CHECK(mmio_read(uint32_t, ECAM + ((uintptr_t)rng << 15)) == 0x10441AF4, "ECAM does not show virtio-rng");
    CHECK(pci_read8(rng, 8) >= 1, "virtio modern devices have revision >= 1");
    CHECK(pci_read16(rng, 6) & 0x10, "virtio device has no capability list");

    /* vendor ID is read-only */
    pci_write32(rng, 0, 0xFFFFFFFF);
    CHECK(pci_read32(rng, 0) == 0x10441AF4, "vendor/device ID is writable");

    /* an empty slot reads all ones */
    int empty = -1;
    for (int s = 31; s > 0 && empty < 0; s--)
        if (pci_read16(s, 0) == 0xFFFF)
            empty = s;
    CHECK(empty > 0, "no empty slot found");
    CHECK(pci_read32(empty, 0) == 0xFFFFFFFF, "empty slot does not read all ones");

    /* size the virtio-rng memory BARs the way firmware does */
    unsigned sized = 0;
    for (unsigned bar = 0; bar < 6; bar++) {
        unsigned off = 0x10 + 4 * bar;
        uint32_t orig = pci_read32(rng, off);
        if (!orig)
            continue;
        pci_write32(rng, off, 0xFFFFFFFF);
        uint32_t mask = pci_read32(rng, off);
        pci_write32(rng, off, orig);
        CHECK(pci_read32(rng, off) == orig, "BAR did not restore after sizing");
        if (orig & 1)
            continue;
        uint32_t size = ~(mask & ~0xFu) + 1;
        CHECK(size && !(size & (size - 1)), "memory BAR size is not a power of two");
        CHECK(!(orig & ~0xFu & (size - 1)), "BAR not naturally aligned");
        puts_serial("bar ");
        put_dec(bar);
        puts_serial(" size ");
        put_hex(size);
        puts_serial("\n");
        sized++;
        if (((orig >> 1) & 3) == 2)
            bar++;                           /* upper half of a 64-bit BAR */
    }
    CHECK(sized > 0, "virtio-rng has no memory BAR");
    puts_serial("pci ok\n");
    return 0;
}
