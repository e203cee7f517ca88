/* PCI bus 0 of the PCIe host: configuration space (0xCF8/0xCFC and ECAM),
 * type-0 headers with write masks, BAR placement and remapping, INTx. */
#include "pci.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PCI_VENDOR_ID          0x00
#define PCI_DEVICE_ID          0x02
#define PCI_REVISION_ID        0x08
#define PCI_CACHE_LINE_SIZE    0x0C
#define PCI_HEADER_TYPE        0x0E
#define PCI_SUBSYSTEM_VENDOR   0x2C
#define PCI_SUBSYSTEM_ID       0x2E
#define PCI_CAP_START          0x40
#define PCI_STD_CFG_SIZE       0x100

/* Command bits a guest may change: I/O, memory, bus master, parity error
 * response, SERR#, INTx disable. */
#define PCI_COMMAND_WMASK      0x0547
/* Status error bits are write-1-to-clear: master data parity error,
 * signalled/received target abort, received master abort, SERR#, parity. */
#define PCI_STATUS_W1C         0xF900

#define CF8_ENABLE             0x80000000u
#define RESET_CPU              0x04        /* 0xCF9 bit 2: do the reset */
#define RESET_KEEP             0x0A        /* 0xCF9 bits 1 and 3 read back */

/* Addresses at or past these are not decoded (so a BAR left holding the
 * sizing pattern stays unmapped, as on real chipsets). */
#define IO_LIMIT               0x10000ULL
#define MEM32_LIMIT            0x100000000ULL
#define MEM64_LIMIT            (1ULL << 52)

static uint32_t cfg_get(const uint8_t *cfg, unsigned off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)cfg[off + i] << (8 * i);
    return v;
}

static void cfg_put(uint8_t *cfg, unsigned off, uint32_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        cfg[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision,
                     uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(dev, 0, sizeof(*dev));
    dev->name = name;
    dev->cap_end = PCI_CAP_START;
    cfg_put(dev->cfg, PCI_VENDOR_ID, vendor, 2);
    cfg_put(dev->cfg, PCI_DEVICE_ID, device, 2);
    /* revision, then prog-if, subclass, class in the next three bytes */
    cfg_put(dev->cfg, PCI_REVISION_ID, (class_code << 8) | revision, 4);
    dev->cfg[PCI_HEADER_TYPE] = 0;
    cfg_put(dev->cfg, PCI_SUBSYSTEM_VENDOR, subsys_vendor, 2);
    cfg_put(dev->cfg, PCI_SUBSYSTEM_ID, subsys_id, 2);

    cfg_put(dev->wmask, PCI_COMMAND, PCI_COMMAND_WMASK, 2);
    cfg_put(dev->w1cmask, PCI_STATUS, PCI_STATUS_W1C, 2);
    dev->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
    dev->wmask[PCI_INTERRUPT_LINE] = 0xFF;
}

static uint64_t pow2_ceil(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

void pci_device_set_bar(struct pci_device *dev, unsigned bar, uint64_t size, unsigned flags,
                        const struct io_ops *ops, void *opaque)
{
    bool io = flags & PCI_BAR_IO;
    bool mem64 = !io && (flags & PCI_BAR_MEM64);
    if (bar >= PCI_NUM_BARS || (mem64 && bar + 1 >= PCI_NUM_BARS) || size == 0)
        return;
    /* The low flag bits of the register limit the smallest size. */
    size = pow2_ceil(size < (io ? 4 : 16) ? (io ? 4 : 16) : size);
    dev->bars[bar] = (struct pci_bar){ .size = size, .flags = flags & (PCI_BAR_IO | PCI_BAR_MEM64 | PCI_BAR_PREFETCH),
                                       .ops = ops, .opaque = opaque, .addr = PCI_BAR_UNMAPPED };
    unsigned off = PCI_BAR0 + 4 * bar;
    if (io) {
        cfg_put(dev->cfg, off, PCI_BAR_IO, 4);
        /* The upper half is writable too (a BAR there is simply not
         * decoded): firmware sizes the BAR from all 32 bits. */
        cfg_put(dev->wmask, off, (uint32_t)(~(size - 1) & ~3ULL), 4);
        return;
    }
    uint32_t low_flags = (mem64 ? PCI_BAR_MEM64 : 0) | (flags & PCI_BAR_PREFETCH);
    cfg_put(dev->cfg, off, low_flags, 4);
    cfg_put(dev->wmask, off, (uint32_t)(~(size - 1) & ~0xFULL), 4);
    if (mem64)
        cfg_put(dev->wmask, off + 4, (uint32_t)(~(size - 1) >> 32), 4);
}

void pci_device_set_rom(struct pci_device *dev, uint64_t size, const struct io_ops *ops, void *opaque)
{
    size = pow2_ceil(size < 2048 ? 2048 : size);
    dev->bars[PCI_ROM_BAR] = (struct pci_bar){ .size = size, .ops = ops, .opaque = opaque, .addr = PCI_BAR_UNMAPPED };
    cfg_put(dev->wmask, PCI_ROM_ADDRESS, (uint32_t)(~(size - 1) | PCI_ROM_ADDRESS_ENABLE), 4);
}

unsigned pci_device_add_capability(struct pci_device *dev, uint8_t cap_id, unsigned len)
{
    unsigned off = (dev->cap_end + 3) & ~3u;
    if (len < 2 || off + len > PCI_STD_CFG_SIZE)
        return 0;
    dev->cfg[off] = cap_id;
    dev->cfg[off + 1] = 0;
    if (dev->last_cap)
        dev->cfg[dev->last_cap + 1] = (uint8_t)off;
    else
        dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
    dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    dev->last_cap = (uint8_t)off;
    dev->cap_end = (uint16_t)(off + len);
    return off;
}

void pci_device_set_intx(struct pci_device *dev, unsigned pin)
{
    dev->cfg[PCI_INTERRUPT_PIN] = pin <= 4 ? (uint8_t)pin : 0;
}

/* ---- BAR mapping ---- */

struct bar_event {
    unsigned bar;
    uint64_t old_addr, new_addr;
};

struct bar_events {
    struct bar_event ev[PCI_NUM_BARS + 1];
    unsigned n;
};

static uint16_t dev_command(const struct pci_device *dev)
{
    return (uint16_t)cfg_get(dev->cfg, PCI_COMMAND, 2);
}

/* Where the guest has put BAR @i, or PCI_BAR_UNMAPPED if it should not decode. */
static uint64_t bar_target(const struct pci_device *dev, unsigned i)
{
    const struct pci_bar *b = &dev->bars[i];
    uint16_t cmd = dev_command(dev);
    uint32_t lo = cfg_get(dev->cfg, PCI_BAR0 + 4 * i, 4);
    uint64_t addr, limit;
    if (i == PCI_ROM_BAR) {
        lo = cfg_get(dev->cfg, PCI_ROM_ADDRESS, 4);
        if (!(cmd & PCI_COMMAND_MEMORY) || !(lo & PCI_ROM_ADDRESS_ENABLE))
            return PCI_BAR_UNMAPPED;
        addr = lo & ~0x7FFu;
        limit = MEM32_LIMIT;
    } else if (b->flags & PCI_BAR_IO) {
        if (!(cmd & PCI_COMMAND_IO))
            return PCI_BAR_UNMAPPED;
        addr = lo & ~3u;
        limit = IO_LIMIT;
    } else {
        if (!(cmd & PCI_COMMAND_MEMORY))
            return PCI_BAR_UNMAPPED;
        addr = lo & ~0xFu;
        limit = MEM32_LIMIT;
        if (b->flags & PCI_BAR_MEM64) {
            addr |= (uint64_t)cfg_get(dev->cfg, PCI_BAR0 + 4 * (i + 1), 4) << 32;
            limit = MEM64_LIMIT;
        }
    }
    if (addr == 0 || addr >= limit || b->size >= limit - addr)
        return PCI_BAR_UNMAPPED;
    return addr;
}

static struct io_bus *bar_bus(struct pci_bus *bus, const struct pci_bar *b)
{
    return (b->flags & PCI_BAR_IO) ? bus->pio : bus->mmio;
}

/* Makes BAR @i's bus registration match the header. Caller holds bus->lock;
 * io_bus_register takes only the io_bus's own lock, never ours. */
static void bar_update(struct pci_bus *bus, struct pci_device *dev, unsigned i, struct bar_events *evs)
{
    struct pci_bar *b = &dev->bars[i];
    if (!b->size)
        return;
    uint64_t old = b->mapped ? b->addr : PCI_BAR_UNMAPPED;
    uint64_t want = bar_target(dev, i);
    if (want == old)
        return;
    if (b->mapped) {
        io_bus_unregister(bar_bus(bus, b), b->addr);
        b->mapped = false;
    }
    if (want != PCI_BAR_UNMAPPED) {
        /* Overlapping another range: the guest gets nothing there, as if the
         * decoders lost the race; it stays unmapped until the BAR moves. */
        if (io_bus_register(bar_bus(bus, b), want, b->size, b->ops, b->opaque) == 0) {
            b->mapped = true;
            b->addr = want;
        }
    }
    uint64_t now = b->mapped ? b->addr : PCI_BAR_UNMAPPED;
    if (now != old && evs->n < PCI_NUM_BARS + 1)
        evs->ev[evs->n++] = (struct bar_event){ .bar = i, .old_addr = old, .new_addr = now };
}

static void bars_update(struct pci_bus *bus, struct pci_device *dev, struct bar_events *evs)
{
    for (unsigned i = 0; i <= PCI_ROM_BAR; i++)
        bar_update(bus, dev, i, evs);
}

/* True if a range was given up (a BAR unmapped or moved away). */
static bool bar_events_freed(const struct bar_events *evs)
{
    for (unsigned i = 0; i < evs->n; i++)
        if (evs->ev[i].old_addr != PCI_BAR_UNMAPPED)
            return true;
    return false;
}

/* A BAR that lost the race for its range to another BAR gets it once
 * that one moves away (firmware and OSes move BARs one register at a
 * time, so two may overlap for a moment). Caller holds bus->lock. */
static void bars_retry(struct pci_bus *bus, struct pci_device *skip, struct bar_events evs[PCI_MAX_DEVICES])
{
    for (unsigned s = 0; s < PCI_MAX_DEVICES; s++) {
        evs[s].n = 0;
        struct pci_device *d = bus->devices[s];
        if (d && d != skip)
            bars_update(bus, d, &evs[s]);
    }
}

static void bar_events_deliver(struct pci_device *dev, const struct bar_events *evs)
{
    if (!dev->ops || !dev->ops->bar_remap)
        return;
    for (unsigned i = 0; i < evs->n; i++) {
        const struct bar_event *e = &evs->ev[i];
        dev->ops->bar_remap(dev, e->bar, e->old_addr, e->new_addr, e->new_addr != PCI_BAR_UNMAPPED);
    }
}

/* ---- INTx ---- */

static bool intx_asserted(const struct pci_device *dev)
{
    return (dev->cfg[PCI_STATUS] & PCI_STATUS_INTERRUPT) &&
           !(dev_command(dev) & PCI_COMMAND_INTX_DISABLE);
}

/* Several slots share a GSI (wired-OR), so the line is the OR of all
 * devices routed to it. Caller holds bus->lock. */
static void intx_update_line(struct pci_bus *bus, unsigned gsi)
{
    int level = 0;
    for (unsigned s = 1; s < PCI_MAX_DEVICES; s++) {
        struct pci_device *d = bus->devices[s];
        if (d && d->cfg[PCI_INTERRUPT_PIN] && d->gsi == gsi && intx_asserted(d))
            level = 1;
    }
    if (bus->vm)
        irq_line_set(bus->vm, gsi, level);
}

void pci_device_set_irq(struct pci_device *dev, int level)
{
    struct pci_bus *bus = dev->bus;
    if (!bus || !dev->cfg[PCI_INTERRUPT_PIN])
        return;
    pthread_mutex_lock(&bus->lock);
    bool was = intx_asserted(dev);
    if (level)
        dev->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    else
        dev->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
    if (intx_asserted(dev) != was)
        intx_update_line(bus, dev->gsi);
    pthread_mutex_unlock(&bus->lock);
}

/* ---- config space ---- */

static struct pci_device *bus_device(struct pci_bus *bus, unsigned devfn)
{
    /* Single-function devices only: function 0 of each slot. */
    if (devfn & 7)
        return NULL;
    return bus->devices[devfn >> 3];
}

/* Any access that stays inside one dword, as the data port allows. */
static bool access_ok(unsigned offset, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && offset < PCI_CFG_SIZE &&
           (offset & 3) + size <= 4;
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned size)
{
    uint32_t ones = size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    if (!access_ok(offset, size))
        return ones;
    pthread_mutex_lock(&bus->lock);
    struct pci_device *dev = bus_device(bus, devfn & 0xFF);
    uint32_t v = dev ? cfg_get(dev->cfg, offset, size) : ones;
    pthread_mutex_unlock(&bus->lock);
    return v;
}

void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, uint32_t value, unsigned size)
{
    if (!access_ok(offset, size))
        return;
    pthread_mutex_lock(&bus->lock);
    struct pci_device *dev = bus_device(bus, devfn & 0xFF);
    if (!dev) {
        pthread_mutex_unlock(&bus->lock);
        return;
    }
    bool intx_was = intx_asserted(dev);
    for (unsigned i = 0; i < size; i++) {
        uint8_t v = (uint8_t)(value >> (8 * i));
        unsigned o = offset + i;
        dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~dev->wmask[o]) | (v & dev->wmask[o]));
        dev->cfg[o] &= (uint8_t)~(v & dev->w1cmask[o]);
    }
    struct bar_events evs = { .n = 0 };
    unsigned end = offset + size;
    bool touches_cmd = offset < PCI_COMMAND + 2 && end > PCI_COMMAND;
    bool touches_bar = (offset < PCI_BAR0 + 4 * PCI_NUM_BARS && end > PCI_BAR0) ||
                       (offset < PCI_ROM_ADDRESS + 4 && end > PCI_ROM_ADDRESS);
    struct bar_events retried[PCI_MAX_DEVICES];
    bool retry = false;
    if (touches_cmd || touches_bar) {
        bars_update(bus, dev, &evs);
        if ((retry = bar_events_freed(&evs)))
            bars_retry(bus, dev, retried);
    }
    if (dev != &bus->host_bridge && intx_asserted(dev) != intx_was)
        intx_update_line(bus, dev->gsi);
    pthread_mutex_unlock(&bus->lock);

    bar_events_deliver(dev, &evs);
    for (unsigned s = 0; retry && s < PCI_MAX_DEVICES; s++)
        if (retried[s].n)
            bar_events_deliver(bus->devices[s], &retried[s]);
    if (dev->ops && dev->ops->config_write)
        dev->ops->config_write(dev, offset, value, size);
}

/* ---- 0xCF8-0xCFF: address, reset control, data ---- */

static uint64_t cf8_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (offset == 0 && size == 4) {
        pthread_mutex_lock(&bus->lock);
        uint32_t v = bus->config_address;
        pthread_mutex_unlock(&bus->lock);
        return v;
    }
    if (offset == 1 && size == 1)
        return bus->reset_control;
    if (offset < 4)
        return ~0ULL;
    pthread_mutex_lock(&bus->lock);
    uint32_t addr = bus->config_address;
    pthread_mutex_unlock(&bus->lock);
    unsigned reg = (addr & 0xFC) + (unsigned)(offset - 4);
    if (!(addr & CF8_ENABLE) || ((addr >> 16) & 0xFF) != 0 || (reg & 3) + size > 4)
        return ~0ULL;
    return pci_config_read(bus, (addr >> 8) & 0xFF, reg, size);
}

static void cf8_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (offset == 0 && size == 4) {
        /* Bits 30:24 are reserved, bits 1:0 read as zero. */
        pthread_mutex_lock(&bus->lock);
        bus->config_address = (uint32_t)value & 0x80FFFFFCu;
        pthread_mutex_unlock(&bus->lock);
        return;
    }
    if (offset == 1 && size == 1) {
        /* ICH9-style reset control: setting RST_CPU resets the machine; the
         * hard/full reset distinction means nothing to a VM. */
        bus->reset_control = (uint8_t)value & RESET_KEEP;
        if ((value & RESET_CPU) && bus->vm)
            vm_request(bus->vm, VM_REQ_RESET);
        return;
    }
    if (offset < 4)
        return;
    pthread_mutex_lock(&bus->lock);
    uint32_t addr = bus->config_address;
    pthread_mutex_unlock(&bus->lock);
    unsigned reg = (addr & 0xFC) + (unsigned)(offset - 4);
    if (!(addr & CF8_ENABLE) || ((addr >> 16) & 0xFF) != 0 || (reg & 3) + size > 4)
        return;
    pci_config_write(bus, (addr >> 8) & 0xFF, reg, (uint32_t)value, size);
}

static const struct io_ops cf8_ops = { .read = cf8_read, .write = cf8_write };

/* ---- ECAM: bus << 20 | devfn << 12 | register ---- */

static uint64_t ecam_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (size == 8)
        return ecam_read(opaque, offset, 4) | (ecam_read(opaque, offset + 4, 4) << 32);
    if ((offset >> 20) != 0)
        return ~0ULL;
    return pci_config_read(bus, (offset >> 12) & 0xFF, offset & 0xFFF, size);
}

static void ecam_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (size == 8) {
        ecam_write(opaque, offset, value & 0xFFFFFFFF, 4);
        ecam_write(opaque, offset + 4, value >> 32, 4);
        return;
    }
    if ((offset >> 20) != 0)
        return;
    pci_config_write(bus, (offset >> 12) & 0xFF, offset & 0xFFF, (uint32_t)value, size);
}

static const struct io_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* ---- bus ---- */

int pci_bus_init(struct pci_bus *bus, struct vm *vm, struct io_bus *pio, struct io_bus *mmio)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->vm = vm;
    bus->pio = pio;
    bus->mmio = mmio;
    bus->mmio32_next = PLAT_PCI_MMIO32_BASE;
    bus->io_next = PLAT_PCI_IO_BASE;

    /* Host bridge like q35's MCH: class 06/00/00. */
    struct pci_device *hb = &bus->host_bridge;
    pci_device_init(hb, "host-bridge", 0x8086, 0x29C0, 0x060000, 0, 0, 0);
    cfg_put(hb->cfg, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
    hb->bus = bus;
    hb->slot = 0;
    memcpy(hb->reset_cfg, hb->cfg, sizeof(hb->reset_cfg));
    bus->devices[0] = hb;

    int r = io_bus_register(pio, PLAT_PCI_CONFIG_PORT, 8, &cf8_ops, bus);
    if (r == 0) {
        r = io_bus_register(mmio, PLAT_ECAM_BASE, PLAT_ECAM_SIZE, &ecam_ops, bus);
        if (r)
            io_bus_unregister(pio, PLAT_PCI_CONFIG_PORT);
    }
    if (r)
        pthread_mutex_destroy(&bus->lock);
    else if (vm)
        r = pci_bus_register_state(bus);
    return r;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Places the BARs like firmware would: naturally aligned, bump allocated.
 * 64-bit BARs also go below 4 GiB until the 64-bit window has a user. */
static int place_bars(struct pci_bus *bus, struct pci_device *dev)
{
    uint64_t mem = bus->mmio32_next, io = bus->io_next;
    uint64_t addr[PCI_NUM_BARS + 1] = { 0 };
    for (unsigned i = 0; i <= PCI_ROM_BAR; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (!b->size)
            continue;
        if (b->flags & PCI_BAR_IO) {
            io = align_up(io, b->size);
            if (io + b->size > PLAT_PCI_IO_BASE + PLAT_PCI_IO_SIZE)
                return -ENOSPC;
            addr[i] = io;
            io += b->size;
        } else {
            mem = align_up(mem, b->size);
            if (mem + b->size > PLAT_PCI_MMIO32_BASE + PLAT_PCI_MMIO32_SIZE)
                return -ENOSPC;
            addr[i] = mem;
            mem += b->size;
        }
    }
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (!b->size)
            continue;
        unsigned off = PCI_BAR0 + 4 * i;
        uint32_t low_flags = cfg_get(dev->cfg, off, 4) & ((b->flags & PCI_BAR_IO) ? 0x3 : 0xF);
        cfg_put(dev->cfg, off, (uint32_t)addr[i] | low_flags, 4);
        if (b->flags & PCI_BAR_MEM64 && !(b->flags & PCI_BAR_IO))
            cfg_put(dev->cfg, off + 4, (uint32_t)(addr[i] >> 32), 4);
    }
    if (dev->bars[PCI_ROM_BAR].size)     /* placed, but off until the guest enables it */
        cfg_put(dev->cfg, PCI_ROM_ADDRESS, (uint32_t)addr[PCI_ROM_BAR], 4);
    bus->mmio32_next = mem;
    bus->io_next = io;
    return 0;
}

void pci_bus_set_firmware_assigns(struct pci_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    bus->firmware_assigns = true;
    pthread_mutex_unlock(&bus->lock);
}

static int bus_add_locked(struct pci_bus *bus, struct pci_device *dev, unsigned slot)
{
    if (!bus->firmware_assigns) {
        int r = place_bars(bus, dev);
        if (r)
            return r;
    }
    dev->bus = bus;
    dev->slot = slot;
    if (dev->cfg[PCI_INTERRUPT_PIN]) {
        dev->gsi = plat_pci_intx_gsi(slot, dev->cfg[PCI_INTERRUPT_PIN] - 1u);
        dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)dev->gsi;
    } else {
        dev->cfg[PCI_INTERRUPT_LINE] = 0xFF;
    }
    /* Decoding on, as firmware leaves it; the driver enables bus mastering. */
    uint16_t cmd = 0;
    for (unsigned i = 0; i < PCI_NUM_BARS && !bus->firmware_assigns; i++)
        if (dev->bars[i].size)
            cmd |= (dev->bars[i].flags & PCI_BAR_IO) ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    cfg_put(dev->cfg, PCI_COMMAND, cmd, 2);
    memcpy(dev->reset_cfg, dev->cfg, sizeof(dev->reset_cfg));
    bus->devices[slot] = dev;
    return 0;
}

static int bus_add(struct pci_bus *bus, struct pci_device *dev, int want_slot)
{
    pthread_mutex_lock(&bus->lock);
    unsigned slot = 1;
    if (want_slot >= 0) {
        slot = (unsigned)want_slot;
        if (slot == 0 || slot >= PCI_MAX_DEVICES || bus->devices[slot]) {
            pthread_mutex_unlock(&bus->lock);
            return -EBUSY;
        }
    }
    while (slot < PCI_MAX_DEVICES && bus->devices[slot])
        slot++;
    if (slot == PCI_MAX_DEVICES) {
        pthread_mutex_unlock(&bus->lock);
        return -ENOSPC;
    }
    int r = bus_add_locked(bus, dev, slot);
    if (r) {
        pthread_mutex_unlock(&bus->lock);
        return r;
    }
    struct bar_events evs = { .n = 0 };
    bars_update(bus, dev, &evs);
    pthread_mutex_unlock(&bus->lock);
    for (unsigned i = 0; i < PCI_NUM_BARS && !bus->firmware_assigns; i++)
        if (dev->bars[i].size && !dev->bars[i].mapped)
            fprintf(stderr, "domus-vmm: pci %s: BAR %u overlaps another range, left unmapped\n",
                    dev->name ? dev->name : "?", i);
    bar_events_deliver(dev, &evs);
    return (int)slot;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev)
{
    return bus_add(bus, dev, -1);
}

int pci_bus_add_at(struct pci_bus *bus, struct pci_device *dev, unsigned slot)
{
    return bus_add(bus, dev, (int)slot);
}

/* Puts @cfg (256 bytes) into slot @s's header and makes BARs and the INTx
 * line follow it. */
static void pci_slot_set_header(struct pci_bus *bus, unsigned s, const uint8_t *cfg, bool force_line)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_device *dev = bus->devices[s];
    if (!dev) {
        pthread_mutex_unlock(&bus->lock);
        return;
    }
    bool intx_was = intx_asserted(dev);
    memcpy(dev->cfg, cfg, PCI_STD_CFG_SIZE);
    struct bar_events evs = { .n = 0 };
    bars_update(bus, dev, &evs);
    if (s != 0 && (intx_was || force_line) && dev->cfg[PCI_INTERRUPT_PIN])
        intx_update_line(bus, dev->gsi);
    pthread_mutex_unlock(&bus->lock);
    bar_events_deliver(dev, &evs);
}

void pci_bus_reset(struct pci_bus *bus)
{
    /* The standard header and capabilities return to how pci_bus_add()
     * left them (BARs at the VMM's placement, MSI/MSI-X disabled). */
    for (unsigned s = 0; s < PCI_MAX_DEVICES; s++)
        if (bus->devices[s])
            pci_slot_set_header(bus, s, bus->devices[s]->reset_cfg, false);
    pthread_mutex_lock(&bus->lock);
    bus->config_address = 0;
    bus->reset_control = 0;
    pthread_mutex_unlock(&bus->lock);
}

/* ---- saved state: every header, the latched address, 0xCF9 ---- */

#define PCI_STATE_VERSION 1
struct pci_bus_state {
    uint32_t config_address;
    uint32_t present;                /* bitmap of occupied slots */
    uint8_t reset_control, pad[7];
    uint32_t ids[PCI_MAX_DEVICES];   /* vendor | device << 16: the same hardware */
    uint8_t cfg[PCI_MAX_DEVICES][PCI_STD_CFG_SIZE];
};

static long pci_state_save(void *opaque, void *buf, size_t max)
{
    struct pci_bus *bus = opaque;
    if (max < sizeof(struct pci_bus_state))
        return -ENOSPC;
    struct pci_bus_state *st = buf;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&bus->lock);
    st->config_address = bus->config_address;
    st->reset_control = bus->reset_control;
    for (unsigned s = 0; s < PCI_MAX_DEVICES; s++) {
        struct pci_device *dev = bus->devices[s];
        if (!dev)
            continue;
        st->present |= 1u << s;
        st->ids[s] = cfg_get(dev->cfg, PCI_VENDOR_ID, 4);
        memcpy(st->cfg[s], dev->cfg, PCI_STD_CFG_SIZE);
    }
    pthread_mutex_unlock(&bus->lock);
    return sizeof(*st);
}

static int pci_state_load(void *opaque, const void *buf, size_t len)
{
    struct pci_bus *bus = opaque;
    if (len != sizeof(struct pci_bus_state))
        return -EINVAL;
    const struct pci_bus_state *st = buf;
    for (unsigned s = 0; s < PCI_MAX_DEVICES; s++) {
        struct pci_device *dev = bus->devices[s];
        bool was = st->present & (1u << s);
        if (!!dev != was || (dev && st->ids[s] != cfg_get(dev->cfg, PCI_VENDOR_ID, 4)))
            return -EINVAL;          /* other hardware in this slot */
    }
    for (unsigned s = 0; s < PCI_MAX_DEVICES; s++)
        if (bus->devices[s])
            pci_slot_set_header(bus, s, st->cfg[s], true);
    pthread_mutex_lock(&bus->lock);
    bus->config_address = st->config_address;
    bus->reset_control = st->reset_control;
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

static const struct state_ops pci_state_ops = {
    .version = PCI_STATE_VERSION, .save = pci_state_save, .load = pci_state_load,
};

int pci_bus_register_state(struct pci_bus *bus)
{
    return vm_state_register(bus->vm, "pci", &pci_state_ops, bus);
}
