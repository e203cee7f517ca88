/* Split virtqueues (virtio 1.x). Descriptor chains come from the guest and
 * are hostile by assumption: loops, addresses outside RAM, lengths that add
 * up past 4 GiB and nested indirect tables are detected, and the chain is
 * rejected (the device then marks itself NEEDS_RESET instead of crashing). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "core/memory.h"

#define VIRTQ_MAX_SIZE 1024
#define VIRTQ_MAX_SEGS 1024            /* iovecs in one chain */
#define VIRTQ_MAX_INDIRECT 1024        /* descriptors in one indirect table */

/* Ring layout shared with the guest (little-endian, virtio 1.x 2.7). */
#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];                 /* then le16 used_event (EVENT_IDX) */
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];   /* then le16 avail_event (EVENT_IDX) */
};

/* Bytes each ring occupies for a queue of @size entries, event fields included. */
static inline uint64_t virtq_desc_bytes(unsigned size)  { return 16ULL * size; }
static inline uint64_t virtq_avail_bytes(unsigned size) { return 6 + 2ULL * size; }
static inline uint64_t virtq_used_bytes(unsigned size)  { return 6 + 8ULL * size; }

struct virtqueue {
    const struct guest_mem *mem;
    uint16_t size;                   /* queue size negotiated, power of two */
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* Host views of the rings, set by virtqueue_enable(). Guest RAM is
     * mapped once for the VM's life, so they stay valid while ready. */
    struct virtq_desc *desc;
    struct virtq_avail *avail;
    struct virtq_used *used;
    uint16_t last_avail;             /* next avail index to consume */
    uint16_t used_idx;               /* our copy of used->idx */
    bool event_idx;                  /* VIRTIO_F_EVENT_IDX negotiated */
    uint16_t signalled_used;         /* used_idx at the last interrupt check */
    bool signalled_used_valid;
    bool broken;                     /* a hostile chain was seen */
};

/* One descriptor chain mapped into host iovecs. Readable (driver->device)
 * segments come first, then writable ones, as the spec requires.
 * Zero-length descriptors are accepted but produce no iovec. */
struct virtq_chain {
    uint16_t head;
    unsigned nin, nout;              /* nout: device-readable, nin: device-writable */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
    uint64_t out_len, in_len;
};

/* Back to the power-on state: not ready, size 0, indices 0, not broken. */
void virtqueue_reset(struct virtqueue *vq);
/* Takes size and the three ring addresses already stored in @vq, checks the
 * size (power of two <= VIRTQ_MAX_SIZE), the alignment and that every ring
 * lies wholly in RAM, and marks the queue ready. -EINVAL / -EFAULT otherwise. */
int virtqueue_enable(struct virtqueue *vq, const struct guest_mem *mem);
/* Pops the next available chain. Returns 1 with @chain filled, 0 if the ring
 * is empty (or the queue is not ready), or a negative errno for a malformed
 * chain: -EINVAL (bad index, flags, order or avail idx), -EFAULT (buffer or
 * table outside RAM), -ELOOP (chain longer than its table), -E2BIG (more than
 * VIRTQ_MAX_SEGS segments), -EOVERFLOW (total length over 4 GiB), -EIO (the
 * queue was already broken). On error vq->broken is set and stays set. */
int virtqueue_pop(struct virtqueue *vq, struct virtq_chain *chain);
/* Returns a chain to the used ring with @written bytes written by the device. */
void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* Several chains that make up one reply (virtio-net's mergeable receive
 * buffers): writes the used element @offset places after the published
 * index without publishing it; virtqueue_flush() then publishes @count at
 * once, so the driver never sees a half-written reply. */
void virtqueue_fill(struct virtqueue *vq, unsigned offset, uint16_t head, uint32_t written);
void virtqueue_flush(struct virtqueue *vq, unsigned count);
/* Gives back the last @count popped chains (not yet filled), e.g. when a
 * reply turned out not to fit in what the driver has posted. */
void virtqueue_unpop(struct virtqueue *vq, unsigned count);
/* Whether the driver wants an interrupt for what was pushed since the last
 * call (honours NO_INTERRUPT, or used_event when EVENT_IDX is negotiated). */
bool virtqueue_should_notify(struct virtqueue *vq);

/* Copies up to @len bytes out of / into a chain's iovecs, starting @skip
 * bytes in; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
/* Describes bytes [skip, skip+len) of @iov in @dst (at most @max entries);
 * returns the number of entries used. Fewer bytes are described when @iov
 * or @dst runs out. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
                   struct iovec *dst, unsigned max);
