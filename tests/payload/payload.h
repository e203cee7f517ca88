/* A tiny freestanding runtime for payloads that test domus-vmm devices on
 * /dev/kvm by polling: port I/O, the serial port, PCI config space, a
 * minimal virtio-pci modern driver, and power-off / reset. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

#define mmio_read(type, addr) (*(volatile type *)(uintptr_t)(addr))
#define mmio_write(type, addr, v) (*(volatile type *)(uintptr_t)(addr) = (v))
#define barrier() __asm__ volatile("mfence" ::: "memory")

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void serial_init(void);
void putc_serial(char c);
void puts_serial(const char *s);
void put_hex(uint64_t v);
void put_dec(uint64_t v);
/* Prints "FAIL: msg" and powers off with a failure marker; never returns. */
void fail(const char *msg) __attribute__((noreturn));
#define CHECK(cond, msg) do { if (!(cond)) fail(msg); } while (0)

int payload_main(void);                                     /* each test defines it */
void payload_exit(int status) __attribute__((noreturn));   /* ACPI S5 */
void payload_reset(void) __attribute__((noreturn));        /* 0xCF9 */

uint32_t pci_read32(unsigned dev, unsigned off);
uint16_t pci_read16(unsigned dev, unsigned off);
uint8_t pci_read8(unsigned dev, unsigned off);
void pci_write32(unsigned dev, unsigned off, uint32_t v);
void pci_write16(unsigned dev, unsigned off, uint16_t v);
/* Slot of the first device with this vendor:device, or -1. */
int pci_find(uint16_t vendor, uint16_t device);
uint64_t pci_bar_address(unsigned dev, unsigned bar);

/* Minimal virtio-pci modern driver with one queue of 8 descriptors. */
struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vdev {
    unsigned slot;
    uintptr_t common, notify, isr, device;
    uint32_t notify_mult;
    uint16_t qsize;
    struct virtq_desc *desc;
    volatile uint16_t *avail;   /* flags, idx, ring[] */
    volatile uint8_t *used;     /* flags, idx, ring[] of {id u32, len u32} */
    uint16_t avail_idx, used_seen;
    uint16_t notify_off;
};
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
/* Resets and brings up the device with queue 0; returns false on failure. */
bool virtio_setup(struct vdev *d, unsigned slot, uint64_t features_lo);
bool virtio_select_queue(struct vdev *d, unsigned q);
/* Queue @q on rings of the caller's (8 entries; aligned as the spec asks),
 * @d then driving it: copy the vdev first to keep the one it drove. */
bool virtio_setup_queue(struct vdev *d, unsigned q, struct virtq_desc desc[8], uint16_t avail[11], uint8_t used[70]);
/* Submits desc chain starting at head 0 (caller fills d->desc), kicks, polls for
 * completion; returns bytes written by the device, or -1 on timeout. */
long virtio_submit_and_wait(struct vdev *d, unsigned q);
uint8_t virtio_status(struct vdev *d);

/* One virtio-blk request (header, optional data, status) on queue 0 of @d.
 * Returns the status byte the device wrote, or -1 on timeout. */
#define VIRTIO_BLK_T_IN    0
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
int virtio_blk_request(struct vdev *d, uint32_t type, uint64_t sector, void *buf, unsigned len);
