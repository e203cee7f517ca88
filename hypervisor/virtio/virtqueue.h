/* Split virtqueues (virtio 1.x). Descriptor chains come from the guest and
 * are hostile by assumption: loops, addresses outside RAM, lengths that add
 * up past 4 GiB and nested indirect tables are detected, and the chain is
 * rejected (the device then marks itself NEEDS_RESET instead of crashing). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "core/memory.h"

#define VIRTQ_MAX_SIZE 1024
#define VIRTQ_MAX_SEGS 1024            /* iovecs in one chain */

struct virtqueue {
    const struct guest_mem *mem;
    uint16_t size;                   /* queue size negotiated, power of two */
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;             /* next avail index to consume */
    uint16_t used_idx;               /* our copy of used->idx */
    bool event_idx;                  /* VIRTIO_F_EVENT_IDX negotiated */
    uint16_t signalled_used;         /* used_idx at the last interrupt */
    bool signalled_used_valid;
    bool broken;                     /* a hostile chain was seen */
};

/* One descriptor chain mapped into host iovecs. Readable (driver->device)
 * segments come first, then writable ones, as the spec requires. */
struct virtq_chain {
    uint16_t head;
    unsigned nin, nout;              /* nout: device-readable, nin: device-writable */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
    uint64_t out_len, in_len;
};

void virtqueue_reset(struct virtqueue *vq);
/* Validates rings against RAM; returns -EFAULT if they are not wholly in RAM. */
int virtqueue_enable(struct virtqueue *vq, const struct guest_mem *mem);
/* Pops the next available chain. Returns 1 with @chain filled, 0 if the ring
 * is empty, -EINVAL/-EFAULT/-ELOOP on a malformed chain (vq->broken set). */
int virtqueue_pop(struct virtqueue *vq, struct virtq_chain *chain);
/* Returns a chain to the used ring with @written bytes written by the device. */
void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt now (honours NO_INTERRUPT / used_event). */
bool virtqueue_should_notify(struct virtqueue *vq);
/* Copies up to @len bytes out of / into a chain's iovecs; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
