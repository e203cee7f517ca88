#include "payload.h"

#define COM1 0x3F8
#define PM1A_CNT 0x604
#define SLP_EN (1u << 13)
#define S5_SLP_TYP 5

void *memset(void *d, int c, size_t n) { uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
void *memcpy(void *d, const void *s, size_t n) { uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }
int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

void serial_init(void)
{
    outb(COM1 + 1, 0x00);      /* no interrupts */
    outb(COM1 + 3, 0x80);      /* DLAB */
    outb(COM1 + 0, 0x01);      /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);      /* 8N1 */
    outb(COM1 + 2, 0xC7);      /* FIFO on, cleared */
    outb(COM1 + 4, 0x0B);
}

void putc_serial(char c)
{
    unsigned spins = 0;
    while (!(inb(COM1 + 5) & 0x20) && ++spins < 100000)
        ;
    outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

void put_hex(uint64_t v)
{
    char buf[19] = "0x";
    for (int i = 0; i < 16; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xF];
    buf[18] = 0;
    puts_serial(buf);
}

void put_dec(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_serial(buf + i);
}

void payload_exit(int status)
{
    puts_serial(status == 0 ? "\nPAYLOAD DONE\n" : "\nPAYLOAD FAILED\n");
    outw(PM1A_CNT, (uint16_t)(SLP_EN | (S5_SLP_TYP << 10)));
    for (;;)
        __asm__ volatile("cli; hlt");
}

void fail(const char *msg)
{
    puts_serial("FAIL: ");
    puts_serial(msg);
    payload_exit(1);
}

void payload_reset(void)
{
    outb(0xCF9, 0x06);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void pci_addr(unsigned dev, unsigned off)
{
    outl(0xCF8, 0x80000000u | (dev << 11) | (off & 0xFC));
}

uint32_t pci_read32(unsigned dev, unsigned off) { pci_addr(dev, off); return inl(0xCFC); }
uint16_t pci_read16(unsigned dev, unsigned off) { pci_addr(dev, off); return inw(0xCFC + (off & 2)); }
uint8_t pci_read8(unsigned dev, unsigned off) { pci_addr(dev, off); return inb(0xCFC + (off & 3)); }
void pci_write32(unsigned dev, unsigned off, uint32_t v) { pci_addr(dev, off); outl(0xCFC, v); }
void pci_write16(unsigned dev, unsigned off, uint16_t v) { pci_addr(dev, off); outw(0xCFC + (off & 2), v); }

int pci_find(uint16_t vendor, uint16_t device)
{
    for (unsigned s = 0; s < 32; s++)
        if (pci_read32(s, 0) == ((uint32_t)device << 16 | vendor))
            return (int)s;
    return -1;
}

uint64_t pci_bar_address(unsigned dev, unsigned bar)
{
    uint32_t lo = pci_read32(dev, 0x10 + 4 * bar);
    if (lo & 1)
        return lo & ~3u;
    uint64_t a = lo & ~0xFu;
    if (((lo >> 1) & 3) == 2)
        a |= (uint64_t)pci_read32(dev, 0x14 + 4 * bar) << 32;
    return a;
}

/* Rings live in static memory; physical == virtual in the payload. */
static struct virtq_desc ring_desc[8] __attribute__((aligned(4096)));
static uint16_t ring_avail[3 + 8] __attribute__((aligned(4096)));
static uint8_t ring_used[6 + 8 * 8] __attribute__((aligned(4096)));

#define CC_DFSELECT 0x00
#define CC_DF       0x04
#define CC_GFSELECT 0x08
#define CC_GF       0x0C
#define CC_STATUS   0x14
#define CC_QSELECT  0x16
#define CC_QSIZE    0x18
#define CC_QMSIX    0x1A
#define CC_QENABLE  0x1C
#define CC_QNOTIFY  0x1E
#define CC_QDESC    0x20
#define CC_QDRIVER  0x28
#define CC_QDEVICE  0x30

uint8_t virtio_status(struct vdev *d) { return mmio_read(uint8_t, d->common + CC_STATUS); }

bool virtio_setup(struct vdev *d, unsigned slot, uint64_t features_lo)
{
    memset(d, 0, sizeof(*d));
    d->slot = slot;
    pci_write16(slot, 0x04, pci_read16(slot, 0x04) | 0x6);   /* memory + bus master */
    for (uint8_t cap = pci_read8(slot, 0x34); cap; cap = pci_read8(slot, cap + 1)) {
        if (pci_read8(slot, cap) != 0x09)
            continue;
        uint8_t type = pci_read8(slot, cap + 3), bar = pci_read8(slot, cap + 4);
        uintptr_t addr = (uintptr_t)(pci_bar_address(slot, bar) + pci_read32(slot, cap + 8));
        if (type == 1) d->common = addr;
        if (type == 2) { d->notify = addr; d->notify_mult = pci_read32(slot, cap + 16); }
        if (type == 3) d->isr = addr;
        if (type == 4) d->device = addr;
    }
    if (!d->common || !d->notify || !d->isr)
        return false;
    mmio_write(uint8_t, d->common + CC_STATUS, 0);
    while (virtio_status(d) != 0)
        ;
    mmio_write(uint8_t, d->common + CC_STATUS, 1);
    mmio_write(uint8_t, d->common + CC_STATUS, 1 | 2);
    mmio_write(uint32_t, d->common + CC_DFSELECT, 1);
    if (!(mmio_read(uint32_t, d->common + CC_DF) & 1))   /* VERSION_1 */
        return false;
    mmio_write(uint32_t, d->common + CC_GFSELECT, 0);
    mmio_write(uint32_t, d->common + CC_GF, (uint32_t)features_lo);
    mmio_write(uint32_t, d->common + CC_GFSELECT, 1);
    mmio_write(uint32_t, d->common + CC_GF, 1);
    mmio_write(uint8_t, d->common + CC_STATUS, 1 | 2 | 8);
    if (!(virtio_status(d) & 8))
        return false;
    if (!virtio_select_queue(d, 0))
        return false;
    mmio_write(uint8_t, d->common + CC_STATUS, 1 | 2 | 8 | 4);
    return true;
}

/* The one ring set is shared: a payload uses one queue at a time, or
 * brings its own rings for a second one (virtio_setup_queue). */
bool virtio_select_queue(struct vdev *d, unsigned q)
{
    return virtio_setup_queue(d, q, ring_desc, ring_avail, ring_used);
}

bool virtio_setup_queue(struct vdev *d, unsigned q, struct virtq_desc desc[8], uint16_t avail[11], uint8_t used[70])
{
    mmio_write(uint16_t, d->common + CC_QSELECT, (uint16_t)q);
    uint16_t max = mmio_read(uint16_t, d->common + CC_QSIZE);
    if (max == 0)
        return false;
    d->qsize = max < 8 ? max : 8;
    mmio_write(uint16_t, d->common + CC_QSIZE, d->qsize);
    mmio_write(uint16_t, d->common + CC_QMSIX, 0xFFFF);
    memset(desc, 0, 8 * sizeof(*desc));
    memset(avail, 0, 11 * sizeof(*avail));
    memset(used, 0, 70);
    d->desc = desc;
    d->avail = avail;
    d->used = used;
    d->avail_idx = d->used_seen = 0;
    mmio_write(uint64_t, d->common + CC_QDESC, (uintptr_t)desc);
    mmio_write(uint64_t, d->common + CC_QDRIVER, (uintptr_t)avail);
    mmio_write(uint64_t, d->common + CC_QDEVICE, (uintptr_t)used);
    d->notify_off = mmio_read(uint16_t, d->common + CC_QNOTIFY);
    mmio_write(uint16_t, d->common + CC_QENABLE, 1);
    return mmio_read(uint16_t, d->common + CC_QENABLE) == 1;
}

long virtio_submit_and_wait(struct vdev *d, unsigned q)
{
    d->avail[2 + d->avail_idx % d->qsize] = 0;          /* chain head 0 */
    barrier();
    d->avail_idx++;
    d->avail[1] = d->avail_idx;
    barrier();
    mmio_write(uint16_t, d->notify + (uintptr_t)d->notify_off * d->notify_mult, (uint16_t)q);
    for (unsigned long spins = 0; spins < 2000000; spins++) {
        barrier();
        uint16_t idx = *(volatile uint16_t *)(d->used + 2);
        if (idx != d->used_seen) {
            unsigned slot = d->used_seen % d->qsize;
            d->used_seen++;
            return (long)*(volatile uint32_t *)(d->used + 4 + slot * 8 + 4);
        }
        __asm__ volatile("pause");
    }
    return -1;
}

struct blk_req_hdr { uint32_t type, reserved; uint64_t sector; };
static struct blk_req_hdr blk_hdr;
static volatile uint8_t blk_status;

int virtio_blk_request(struct vdev *d, uint32_t type, uint64_t sector, void *buf, unsigned len)
{
    bool dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    blk_hdr = (struct blk_req_hdr){ type, 0, sector };
    blk_status = 0xFF;
    unsigned n = 0;
    d->desc[n] = (struct virtq_desc){ (uintptr_t)&blk_hdr, sizeof(blk_hdr), VRING_DESC_F_NEXT, 1 };
    n++;
    if (len) {
        d->desc[n] = (struct virtq_desc){ (uintptr_t)buf, len,
                                          (uint16_t)(VRING_DESC_F_NEXT | (dev_writes ? VRING_DESC_F_WRITE : 0)),
                                          (uint16_t)(n + 1) };
        n++;
    }
    d->desc[n] = (struct virtq_desc){ (uintptr_t)&blk_status, 1, VRING_DESC_F_WRITE, 0 };
    if (virtio_submit_and_wait(d, 0) < 0)
        return -1;
    return blk_status;
}
