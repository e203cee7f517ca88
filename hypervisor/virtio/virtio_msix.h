/* MSI-X for the virtio PCI transport: the capability, the vector table and
 * pending-bit array in a BAR, per-vector and function masking. Each vector
 * owns a KVM MSI route and an irqfd, so an unmasked interrupt costs the I/O
 * thread one eventfd write. All calls are made with the owning device's lock
 * held (the table lives in the device's BAR, notifications come from its
 * queues), so there is no lock here. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct pci_device;

#define VIRTIO_MSIX_MAX_VECTORS 16

struct virtio_msix_entry {           /* one table entry, as the guest sees it */
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_msix_route {           /* what KVM holds for one vector */
    int gsi;                         /* -1: none, deliver with KVM_SIGNAL_MSI */
    int irqfd;                       /* eventfd bound to gsi, -1 if none */
    bool routed;                     /* gsi points at addr/data below */
    uint64_t addr;
    uint32_t data;
};

struct virtio_msix {
    struct vm *vm;
    struct pci_device *pci;
    unsigned cap;                    /* capability offset in config space */
    unsigned nvectors;
    uint32_t table_off, pba_off;     /* within the BAR */
    struct virtio_msix_entry table[VIRTIO_MSIX_MAX_VECTORS];
    struct virtio_msix_route route[VIRTIO_MSIX_MAX_VECTORS];
    uint64_t pba;                    /* pending bits (nvectors <= 64) */
};

/* Adds the MSI-X capability to @pci (table and PBA in BAR @bar at the given
 * offsets) and prepares a GSI + irqfd per vector when KVM allows it.
 * Returns 0 or -errno. */
int virtio_msix_init(struct virtio_msix *m, struct vm *vm, struct pci_device *pci,
                     unsigned nvectors, unsigned bar, uint32_t table_off, uint32_t pba_off);
bool virtio_msix_enabled(const struct virtio_msix *m);
/* Signals @vector: delivered at once, or left pending while masked. The
 * caller checks virtio_msix_enabled() first (INTx is its business). */
void virtio_msix_notify(struct virtio_msix *m, unsigned vector);
/* Table and PBA accesses, @offset relative to the BAR. */
uint64_t virtio_msix_bar_read(struct virtio_msix *m, uint64_t offset, unsigned size);
void virtio_msix_bar_write(struct virtio_msix *m, uint64_t offset, uint64_t value, unsigned size);
/* The guest wrote the Message Control word: deliver what an unmask freed. */
void virtio_msix_control_written(struct virtio_msix *m);
/* PCI reset: every vector masked and cleared, nothing pending. */
void virtio_msix_reset(struct virtio_msix *m);
