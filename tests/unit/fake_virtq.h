/* The driver's side of split virtqueues in fake guest RAM, shared by the
 * virtio device unit tests: a device is put in DRIVER_OK, its queues are
 * laid out and enabled, chains are offered and used entries read back. */
#pragma once
#include "virtio/virtio.h"

#include <stdbool.h>
#include <stdint.h>

/* One queue as the driver sees it: descriptors at base, the available
 * ring at base + 0x1000, the used ring at base + 0x2000. */
struct fake_vq {
    uint8_t *ram;                    /* host view of guest address 0 */
    uint64_t base;
    uint16_t size;
    uint16_t next_desc;              /* next descriptor slot to fill */
    uint16_t used_seen;              /* used entries already taken */
};

struct fake_seg {
    uint64_t gpa;
    uint32_t len;
    bool writable;                   /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/* Negotiates @features (VIRTIO_F_VERSION_1 added) and sets DRIVER_OK. */
void fake_driver_ok(struct virtio_device *vdev, uint64_t features);
/* Lays out queue @q of @vdev at @base with @size entries and enables it. */
void fake_vq_enable(struct fake_vq *fq, struct virtio_device *vdev, const struct guest_mem *mem,
                    unsigned q, uint64_t base, uint16_t size);
/* Makes @n segments one chain and puts it in the available ring (no kick). Returns its head. */
uint16_t fake_vq_offer(struct fake_vq *fq, const struct fake_seg *segs, unsigned n);
/* The next used entry not yet taken: false when the device has returned nothing new. */
bool fake_vq_take_used(struct fake_vq *fq, uint32_t *id, uint32_t *len);
static inline struct virtq_desc *fake_vq_desc(struct fake_vq *fq) { return (struct virtq_desc *)(fq->ram + fq->base); }
static inline struct virtq_avail *fake_vq_avail(struct fake_vq *fq) { return (struct virtq_avail *)(fq->ram + fq->base + 0x1000); }
static inline struct virtq_used *fake_vq_used(struct fake_vq *fq) { return (struct virtq_used *)(fq->ram + fq->base + 0x2000); }
