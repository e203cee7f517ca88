/* PCI bus 0: config mechanisms, header masks, BAR sizing and moving,
 * capabilities, decode enable, and the 0xCF9 reset register. */
#include "core/bus.h"
#include "core/platform.h"
#include "core/vm.h"
#include "pci/pci.h"

#include <glib.h>
#include <string.h>

#define DUMMY_VENDOR 0x1234
#define DUMMY_DEVICE 0x5678

struct fixture {
    struct vm vm;
    struct io_bus pio, mmio;
    struct pci_bus bus;
    struct pci_device dev;
    unsigned mmio_hits, io_hits;
    uint64_t last_offset;
    unsigned remaps;
    uint64_t remap_old, remap_new;
    unsigned slot;
    unsigned cap_msix, cap_vendor;
};

static uint64_t dummy_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fixture *f = opaque;
    f->mmio_hits++;
    f->last_offset = offset;
    return 0xA5A5A5A5;
}

static void dummy_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct fixture *f = opaque;
    f->mmio_hits++;
    f->last_offset = offset;
}

static uint64_t dummy_io_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fixture *f = opaque;
    f->io_hits++;
    return 0x5A;
}

static const struct io_ops dummy_mmio_ops = { .read = dummy_mmio_read, .write = dummy_mmio_write };
static const struct io_ops dummy_io_ops = { .read = dummy_io_read };

static void dummy_bar_remap(struct pci_device *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr, bool mapped)
{
    struct fixture *f = dev->opaque;
    if (bar != 0)
        return;
    f->remaps++;
    f->remap_old = old_addr;
    f->remap_new = new_addr;
}

static const struct pci_device_ops dummy_ops = { .bar_remap = dummy_bar_remap };

static void fixture_setup(struct fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    f->vm.vm_fd = -1;
    f->vm.kvm_fd = -1;
    io_bus_init(&f->pio, "pio");
    io_bus_init(&f->mmio, "mmio");
    f->vm.pci = &f->bus;
    g_assert_cmpint(pci_bus_init(&f->bus, &f->vm, &f->pio, &f->mmio), ==, 0);

    pci_device_init(&f->dev, "dummy", DUMMY_VENDOR, DUMMY_DEVICE, 0x078000, 1, 0x1AF4, 0x0001);
    f->dev.ops = &dummy_ops;
    f->dev.opaque = f;
    pci_device_set_bar(&f->dev, 0, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &dummy_mmio_ops, f);
    pci_device_set_bar(&f->dev, 2, 0x20, PCI_BAR_IO, &dummy_io_ops, f);
    pci_device_set_bar(&f->dev, 3, 0x1000, 0, &dummy_mmio_ops, f);
    pci_device_set_intx(&f->dev, 1);
    f->cap_msix = pci_device_add_capability(&f->dev, 0x11, 12);
    f->cap_vendor = pci_device_add_capability(&f->dev, 0x09, 6);
    int slot = pci_bus_add(&f->bus, &f->dev);
    g_assert_cmpint(slot, >, 0);
    f->slot = (unsigned)slot;
}

static void fixture_teardown(struct fixture *f, gconstpointer data)
{
    io_bus_destroy(&f->pio);
    io_bus_destroy(&f->mmio);
    pthread_mutex_destroy(&f->bus.lock);
}

/* Through 0xCF8/0xCFC, as the guest does it. */
static uint32_t cf8_read(struct fixture *f, unsigned slot, unsigned reg, unsigned size)
{
    uint32_t addr = 0x80000000u | (slot << 11) | (reg & 0xFC);
    uint32_t v = 0;
    io_bus_write(&f->pio, 0xCF8, &addr, 4);
    io_bus_read(&f->pio, 0xCFC + (reg & 3), &v, size);
    return v;
}

static void cf8_write(struct fixture *f, unsigned slot, unsigned reg, uint32_t v, unsigned size)
{
    uint32_t addr = 0x80000000u | (slot << 11) | (reg & 0xFC);
    io_bus_write(&f->pio, 0xCF8, &addr, 4);
    io_bus_write(&f->pio, 0xCFC + (reg & 3), &v, size);
}

static uint64_t ecam_addr(unsigned bus, unsigned slot, unsigned reg)
{
    return PLAT_ECAM_BASE + ((uint64_t)bus << 20) + ((uint64_t)slot << 15) + reg;
}

static uint32_t ecam_read(struct fixture *f, unsigned bus, unsigned slot, unsigned reg, unsigned size)
{
    uint32_t v = 0;
    io_bus_read(&f->mmio, ecam_addr(bus, slot, reg), &v, size);
    return v;
}

static void ecam_write(struct fixture *f, unsigned slot, unsigned reg, uint32_t v, unsigned size)
{
    io_bus_write(&f->mmio, ecam_addr(0, slot, reg), &v, size);
}

static void test_ids(struct fixture *f, gconstpointer data)
{
    g_assert_cmphex(cf8_read(f, 0, 0, 4), ==, 0x29C08086);
    g_assert_cmphex(cf8_read(f, 0, 0x08, 4) >> 8, ==, 0x060000);
    g_assert_cmphex(cf8_read(f, f->slot, 0, 4), ==, (DUMMY_DEVICE << 16) | DUMMY_VENDOR);
    g_assert_cmphex(cf8_read(f, f->slot, 2, 2), ==, DUMMY_DEVICE);
    g_assert_cmphex(cf8_read(f, f->slot, 0x0B, 1), ==, 0x07);
    g_assert_cmphex(ecam_read(f, 0, 0, 0, 4), ==, 0x29C08086);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0, 4), ==, (DUMMY_DEVICE << 16) | DUMMY_VENDOR);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x2C, 2), ==, 0x1AF4);

    /* Empty slot, other function, other bus: all ones. */
    g_assert_cmphex(cf8_read(f, 17, 0, 4), ==, 0xFFFFFFFF);
    g_assert_cmphex(ecam_read(f, 0, 17, 0, 4), ==, 0xFFFFFFFF);
    g_assert_cmphex(ecam_read(f, 0, 17, 0, 2), ==, 0xFFFF);
    g_assert_cmphex(ecam_read(f, 3, f->slot, 0, 4), ==, 0xFFFFFFFF);
    g_assert_cmphex(ecam_read(f, 0, 0, (1 << 12), 4), ==, 0xFFFFFFFF);  /* 00:00.1 */

    /* The address register reads back; the enable bit gates the data port. */
    uint32_t addr = 0x00000800 | 0x10, back = 0;
    io_bus_write(&f->pio, 0xCF8, &addr, 4);
    io_bus_read(&f->pio, 0xCF8, &back, 4);
    g_assert_cmphex(back, ==, addr);
    io_bus_read(&f->pio, 0xCFC, &back, 4);
    g_assert_cmphex(back, ==, 0xFFFFFFFF);
}

static void test_readonly(struct fixture *f, gconstpointer data)
{
    cf8_write(f, f->slot, 0, 0xDEADBEEF, 4);
    ecam_write(f, f->slot, 0x08, 0xFFFFFFFF, 4);
    g_assert_cmphex(cf8_read(f, f->slot, 0, 4), ==, (DUMMY_DEVICE << 16) | DUMMY_VENDOR);
    g_assert_cmphex(cf8_read(f, f->slot, 0x08, 4), ==, 0x07800001);
    /* Capability pointer and interrupt pin are read-only; the line is not. */
    ecam_write(f, f->slot, 0x34, 0, 1);
    ecam_write(f, f->slot, 0x3C, 0x0B0B, 2);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x34, 1), ==, f->cap_msix);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x3D, 1), ==, 1);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x3C, 1), ==, 0x0B);
}

static void test_status_w1c(struct fixture *f, gconstpointer data)
{
    /* Pretend the device signalled a target abort and has an interrupt pending. */
    f->dev.cfg[PCI_STATUS + 1] |= 0x08;
    pci_device_set_irq(&f->dev, 1);
    uint16_t st = (uint16_t)ecam_read(f, 0, f->slot, PCI_STATUS, 2);
    g_assert_cmphex(st & 0x0800, ==, 0x0800);
    g_assert_cmphex(st & PCI_STATUS_INTERRUPT, ==, PCI_STATUS_INTERRUPT);
    g_assert_cmphex(st & PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
    /* Writing zero changes nothing; writing one clears only the w1c bit. */
    ecam_write(f, f->slot, PCI_STATUS, 0, 2);
    g_assert_cmphex(ecam_read(f, 0, f->slot, PCI_STATUS, 2), ==, st);
    ecam_write(f, f->slot, PCI_STATUS, 0xFFFF, 2);
    st = (uint16_t)ecam_read(f, 0, f->slot, PCI_STATUS, 2);
    g_assert_cmphex(st & 0x0800, ==, 0);
    g_assert_cmphex(st & (PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST), ==,
                    PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
    pci_device_set_irq(&f->dev, 0);
    g_assert_cmphex(ecam_read(f, 0, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, ==, 0);
    /* The INTx routing follows platform.h. */
    g_assert_cmpuint(ecam_read(f, 0, f->slot, 0x3C, 1), ==, plat_pci_intx_gsi(f->slot, 0));
}

static void test_bar_sizing(struct fixture *f, gconstpointer data)
{
    /* 64-bit prefetchable memory BAR 0/1 of 16 KiB */
    uint32_t lo = cf8_read(f, f->slot, 0x10, 4), hi = cf8_read(f, f->slot, 0x14, 4);
    g_assert_cmphex(lo & 0xF, ==, 0xC);
    uint64_t addr = ((uint64_t)hi << 32) | (lo & ~0xFu);
    g_assert_cmphex(addr, >=, PLAT_PCI_MMIO32_BASE);
    g_assert_cmphex(addr + 0x4000, <=, PLAT_PCI_MMIO32_BASE + PLAT_PCI_MMIO32_SIZE);
    g_assert_cmphex(addr & 0x3FFF, ==, 0);
    cf8_write(f, f->slot, 0x10, 0xFFFFFFFF, 4);
    cf8_write(f, f->slot, 0x14, 0xFFFFFFFF, 4);
    g_assert_cmphex(cf8_read(f, f->slot, 0x10, 4), ==, 0xFFFFC00C);
    g_assert_cmphex(cf8_read(f, f->slot, 0x14, 4), ==, 0xFFFFFFFF);
    cf8_write(f, f->slot, 0x10, lo, 4);
    cf8_write(f, f->slot, 0x14, hi, 4);
    g_assert_cmphex(cf8_read(f, f->slot, 0x10, 4), ==, lo);
    g_assert_cmphex(cf8_read(f, f->slot, 0x14, 4), ==, hi);

    /* I/O BAR 2 of 32 ports */
    uint32_t io = ecam_read(f, 0, f->slot, 0x18, 4);
    g_assert_cmphex(io & 3, ==, 1);
    g_assert_cmphex(io & ~3u, >=, PLAT_PCI_IO_BASE);
    g_assert_cmphex((io & ~3u) % 0x20, ==, 0);
    ecam_write(f, f->slot, 0x18, 0xFFFFFFFF, 4);
    uint32_t mask = ecam_read(f, 0, f->slot, 0x18, 4);
    g_assert_cmphex(mask & 0xFFFF, ==, 0xFFE1);
    g_assert_cmphex(~(mask & 0xFFFC) & 0xFFFF, ==, 0x1F);
    /* All 32 bits size it, as QEMU's do: SeaBIOS computes ~(mask & ~3) + 1
     * on the whole register and runs out of I/O space otherwise. */
    g_assert_cmphex(mask, ==, 0xFFFFFFE1);
    ecam_write(f, f->slot, 0x18, io, 4);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x18, 4), ==, io);

    /* 32-bit memory BAR 3 of 4 KiB */
    uint32_t m32 = ecam_read(f, 0, f->slot, 0x1C, 4);
    g_assert_cmphex(m32 & 0xF, ==, 0);
    ecam_write(f, f->slot, 0x1C, 0xFFFFFFFF, 4);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x1C, 4), ==, 0xFFFFF000);
    ecam_write(f, f->slot, 0x1C, m32, 4);

    /* Unused BARs read zero and stay zero. */
    ecam_write(f, f->slot, 0x20, 0xFFFFFFFF, 4);
    g_assert_cmphex(ecam_read(f, 0, f->slot, 0x20, 4), ==, 0);

    /* After sizing and restoring, everything still decodes where it was. */
    uint32_t v;
    f->mmio_hits = f->io_hits = 0;
    io_bus_read(&f->mmio, addr + 8, &v, 4);
    io_bus_read(&f->pio, io & ~3u, &v, 1);
    io_bus_read(&f->mmio, m32, &v, 4);
    g_assert_cmpuint(f->mmio_hits, ==, 2);
    g_assert_cmpuint(f->io_hits, ==, 1);
}

static void test_bar_move(struct fixture *f, gconstpointer data)
{
    uint32_t lo = ecam_read(f, 0, f->slot, 0x10, 4);
    uint64_t old = lo & ~0xFu, moved = 0xE0000000;
    uint32_t v = 0;
    g_assert_cmpuint(f->remaps, ==, 1);              /* the initial placement */
    g_assert_cmphex(f->remap_new, ==, old);
    g_assert_true(io_bus_read(&f->mmio, old + 4, &v, 4));
    g_assert_cmphex(v, ==, 0xA5A5A5A5);

    ecam_write(f, f->slot, 0x10, (uint32_t)moved | (lo & 0xF), 4);
    g_assert_cmphex(f->remap_old, ==, old);
    g_assert_cmphex(f->remap_new, ==, moved);
    f->mmio_hits = 0;
    g_assert_false(io_bus_read(&f->mmio, old + 4, &v, 4));
    g_assert_cmphex(v, ==, 0xFFFFFFFF);
    g_assert_true(io_bus_read(&f->mmio, moved + 0x10, &v, 4));
    g_assert_cmpuint(f->mmio_hits, ==, 1);
    g_assert_cmphex(f->last_offset, ==, 0x10);

    /* Into a 64-bit address above 4 GiB through the high dword. */
    ecam_write(f, f->slot, 0x14, 0x8, 4);
    g_assert_cmphex(f->remap_new, ==, 0x8E0000000ULL);
    g_assert_true(io_bus_read(&f->mmio, 0x8E0000000ULL, &v, 4));
    g_assert_false(io_bus_read(&f->mmio, moved, &v, 4));

    /* Reset brings it home. */
    pci_bus_reset(&f->bus);
    g_assert_cmphex(f->remap_new, ==, old);
    g_assert_true(io_bus_read(&f->mmio, old, &v, 4));
    g_assert_false(io_bus_read(&f->mmio, 0x8E0000000ULL, &v, 4));
}

/* Firmware boot: a device added after pci_bus_set_firmware_assigns comes
 * up unassigned, and a BAR moved onto another's range gets it as soon as
 * that one moves away. */
static void test_firmware_assigns(struct fixture *f, gconstpointer data)
{
    struct pci_device *b = g_new0(struct pci_device, 1);
    pci_device_init(b, "second", DUMMY_VENDOR, DUMMY_DEVICE + 1, 0x078000, 1, 0, 0);
    pci_device_set_bar(b, 0, 0x1000, 0, &dummy_mmio_ops, f);
    pci_bus_set_firmware_assigns(&f->bus);
    int slot = pci_bus_add(&f->bus, b);
    g_assert_cmpint(slot, >, 0);
    g_assert_cmphex(ecam_read(f, 0, (unsigned)slot, 0x10, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, 0, (unsigned)slot, PCI_COMMAND, 2), ==, 0);
    g_assert_false(b->bars[0].mapped);

    /* Onto the first device's BAR 3: that range is taken, so nothing yet. */
    uint32_t a3 = ecam_read(f, 0, f->slot, 0x1C, 4) & ~0xFu;
    ecam_write(f, (unsigned)slot, 0x10, a3, 4);
    ecam_write(f, (unsigned)slot, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_false(b->bars[0].mapped);
    /* The first device's BAR 3 moves away: the second one now decodes there. */
    ecam_write(f, f->slot, 0x1C, 0xE8000000, 4);
    g_assert_true(b->bars[0].mapped);
    g_assert_cmphex(b->bars[0].addr, ==, a3);
    uint32_t v;
    f->mmio_hits = 0;
    g_assert_true(io_bus_read(&f->mmio, a3 + 8, &v, 4));
    g_assert_true(io_bus_read(&f->mmio, 0xE8000008, &v, 4));
    g_assert_cmpuint(f->mmio_hits, ==, 2);
    g_free(b);
}

static void test_decode_enable(struct fixture *f, gconstpointer data)
{
    uint16_t cmd = (uint16_t)cf8_read(f, f->slot, PCI_COMMAND, 2);
    g_assert_cmphex(cmd & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY), ==, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    uint64_t mem = ecam_read(f, 0, f->slot, 0x10, 4) & ~0xFu;
    uint64_t io = ecam_read(f, 0, f->slot, 0x18, 4) & ~3u;
    uint32_t v;

    /* Memory off: the MMIO BAR disappears, the I/O BAR stays. */
    cf8_write(f, f->slot, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    g_assert_false(io_bus_read(&f->mmio, mem, &v, 4));
    g_assert_true(io_bus_read(&f->pio, io, &v, 1));
    g_assert_cmpuint(f->remap_new, ==, PCI_BAR_UNMAPPED);
    /* Sizing while decode is off must not map anything. */
    ecam_write(f, f->slot, 0x10, 0xFFFFFFFF, 4);
    ecam_write(f, f->slot, 0x10, (uint32_t)mem, 4);
    g_assert_false(io_bus_read(&f->mmio, mem, &v, 4));
    /* Memory back on, I/O off. */
    cf8_write(f, f->slot, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_true(io_bus_read(&f->mmio, mem, &v, 4));
    g_assert_false(io_bus_read(&f->pio, io, &v, 1));
    cf8_write(f, f->slot, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
    g_assert_true(io_bus_read(&f->pio, io, &v, 1));
    g_assert_cmphex(v & 0xFF, ==, 0x5A);

    /* A 32-bit BAR left holding the sizing pattern with decode on is not decoded. */
    uint32_t m32 = ecam_read(f, 0, f->slot, 0x1C, 4);
    ecam_write(f, f->slot, 0x1C, 0xFFFFFFFF, 4);
    g_assert_false(io_bus_read(&f->mmio, 0xFFFFF000, &v, 4));
    g_assert_false(io_bus_read(&f->mmio, m32, &v, 4));
    ecam_write(f, f->slot, 0x1C, m32, 4);
    g_assert_true(io_bus_read(&f->mmio, m32, &v, 4));
}

static void test_capabilities(struct fixture *f, gconstpointer data)
{
    g_assert_cmphex(cf8_read(f, f->slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
    unsigned ids[8], n = 0;
    unsigned ptr = cf8_read(f, f->slot, PCI_CAPABILITY_LIST, 1);
    g_assert_cmpuint(ptr, >=, 0x40);
    while (ptr && n < 8) {
        g_assert_cmpuint(ptr & 3, ==, 0);
        ids[n++] = cf8_read(f, f->slot, ptr, 1);
        ptr = cf8_read(f, f->slot, ptr + 1, 1);
    }
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmphex(ids[0], ==, 0x11);
    g_assert_cmphex(ids[1], ==, 0x09);
    /* Capability headers are read-only. */
    ecam_write(f, f->slot, f->cap_msix, 0xFFFF, 2);
    g_assert_cmphex(ecam_read(f, 0, f->slot, f->cap_msix, 2), ==, (f->cap_vendor << 8) | 0x11);
    /* The host bridge has none. */
    g_assert_cmphex(ecam_read(f, 0, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, 0);
}

static void test_reset_port(struct fixture *f, gconstpointer data)
{
    uint8_t b = 0x02;
    io_bus_write(&f->pio, PLAT_RESET_PORT, &b, 1);
    g_assert_cmpint(f->vm.pending, ==, VM_REQ_NONE);
    /* The config address register is untouched by the byte access. */
    uint32_t addr = 0x80000800, back;
    io_bus_write(&f->pio, 0xCF8, &addr, 4);
    b = PLAT_RESET_VALUE;
    io_bus_write(&f->pio, PLAT_RESET_PORT, &b, 1);
    g_assert_cmpint(f->vm.pending, ==, VM_REQ_RESET);
    io_bus_read(&f->pio, 0xCF8, &back, 4);
    g_assert_cmphex(back, ==, addr);
}

#define ADD(name, fn) g_test_add(name, struct fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/pci/ids", test_ids);
    ADD("/pci/readonly", test_readonly);
    ADD("/pci/status-w1c", test_status_w1c);
    ADD("/pci/bar-sizing", test_bar_sizing);
    ADD("/pci/bar-move", test_bar_move);
    ADD("/pci/decode-enable", test_decode_enable);
    ADD("/pci/firmware-assigns", test_firmware_assigns);
    ADD("/pci/capabilities", test_capabilities);
    ADD("/pci/reset-port", test_reset_port);
    return g_test_run();
}
