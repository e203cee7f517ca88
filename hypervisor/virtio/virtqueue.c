/* Split virtqueue processing on the device side.
 *
 * The guest's driver runs on other CPUs while we read its rings, so every
 * guest-owned field is read exactly once into a local before it is checked
 * and used (a second read could see a different, unchecked value), and the
 * orderings the spec relies on are made explicit with atomics and fences. */
#include "virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static uint16_t ring_load16(const uint16_t *p)
{
    return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void ring_store16(uint16_t *p, uint16_t v)
{
    __atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

/* Location of used_event (after avail->ring) and avail_event (after used->ring). */
static uint16_t *used_event_ptr(struct virtqueue *vq)
{
    return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event_ptr(struct virtqueue *vq)
{
    return (uint16_t *)&vq->used->ring[vq->size];
}

void virtqueue_reset(struct virtqueue *vq)
{
    memset(vq, 0, sizeof(*vq));
}

int virtqueue_enable(struct virtqueue *vq, const struct guest_mem *mem)
{
    unsigned size = vq->size;
    if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
        return -EINVAL;
    /* Natural alignment (spec 2.7): the ring fields are accessed atomically. */
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
        return -EINVAL;
    void *desc = guest_mem_ptr(mem, vq->desc_gpa, virtq_desc_bytes(size));
    void *avail = guest_mem_ptr(mem, vq->avail_gpa, virtq_avail_bytes(size));
    void *used = guest_mem_ptr(mem, vq->used_gpa, virtq_used_bytes(size));
    if (!desc || !avail || !used)
        return -EFAULT;
    vq->mem = mem;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used_valid = false;
    vq->broken = false;
    vq->ready = true;
    return 0;
}

/* Reads one descriptor. The copy is what gets validated and used; the
 * compiler barrier stops the compiler from re-reading guest memory in place
 * of the copy. memcpy because indirect tables need not be aligned. */
static void desc_read(const struct virtq_desc *src, struct virtq_desc *d)
{
    memcpy(d, src, sizeof(*d));
    __asm__ __volatile__("" ::: "memory");
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

struct chain_walk {
    struct virtq_chain *chain;
    uint64_t total;                  /* bytes in the chain so far */
    bool seen_write;
};

/* Appends one direct descriptor's buffer to the chain. */
static int chain_add(struct virtqueue *vq, struct chain_walk *w, const struct virtq_desc *d)
{
    struct virtq_chain *c = w->chain;
    bool write = d->flags & VIRTQ_DESC_F_WRITE;
    /* Device-readable buffers must all precede device-writable ones (2.7.4.2). */
    if (!write && w->seen_write)
        return -EINVAL;
    w->seen_write |= write;
    /* total is 64-bit and each len at most 2^32-1, so the sum cannot wrap. */
    w->total += d->len;
    if (w->total > UINT32_MAX)
        return -EOVERFLOW;
    if (d->len == 0)
        return 0;
    void *p = guest_mem_ptr(vq->mem, d->addr, d->len);
    if (!p)
        return -EFAULT;
    if (c->nin + c->nout >= VIRTQ_MAX_SEGS)
        return -E2BIG;
    if (write) {
        c->in[c->nin++] = (struct iovec){ p, d->len };
        c->in_len += d->len;
    } else {
        c->out[c->nout++] = (struct iovec){ p, d->len };
        c->out_len += d->len;
    }
    return 0;
}

/* Follows a chain from @head: zero or more direct descriptors, optionally
 * ending in one INDIRECT descriptor whose table holds the rest (2.7.5.3).
 * Each table bounds how many descriptors may be visited in it, which is what
 * catches loops: a chain cannot be longer than its table without revisiting. */
static int chain_walk(struct virtqueue *vq, uint16_t head, struct virtq_chain *c)
{
    const struct virtq_desc *table = vq->desc;
    unsigned table_size = vq->size;
    unsigned budget = vq->size;
    bool in_indirect = false;
    unsigned idx = head;
    struct chain_walk w = { .chain = c };

    c->head = head;
    c->nin = c->nout = 0;
    c->in_len = c->out_len = 0;
    for (;;) {
        if (idx >= table_size)
            return -EINVAL;
        if (budget-- == 0)
            return -ELOOP;
        struct virtq_desc d;
        desc_read(&table[idx], &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            /* One level only, never combined with NEXT, a whole number of
             * descriptors, and the table itself wholly in RAM. */
            if (in_indirect || (d.flags & VIRTQ_DESC_F_NEXT))
                return -EINVAL;
            if (d.len == 0 || d.len % sizeof(struct virtq_desc) ||
                d.len / sizeof(struct virtq_desc) > VIRTQ_MAX_INDIRECT)
                return -EINVAL;
            table = guest_mem_ptr(vq->mem, d.addr, d.len);
            if (!table)
                return -EFAULT;
            table_size = budget = d.len / sizeof(struct virtq_desc);
            in_indirect = true;
            idx = 0;
            continue;
        }
        int r = chain_add(vq, &w, &d);
        if (r)
            return r;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        idx = d.next;
    }
}

static uint16_t avail_idx_acquire(struct virtqueue *vq)
{
    /* Acquire: the ring entries and descriptors the driver wrote before
     * publishing this index must be read after it. */
    return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

static int vq_fail(struct virtqueue *vq, int err)
{
    vq->broken = true;
    return err;
}

int virtqueue_pop(struct virtqueue *vq, struct virtq_chain *chain)
{
    if (!vq->ready)
        return 0;
    if (vq->broken)
        return -EIO;
    uint16_t avail = avail_idx_acquire(vq);
    if (avail == vq->last_avail) {
        if (!vq->event_idx)
            return 0;
        /* About to go idle: ask to be kicked for the next buffer, then look
         * again, since the driver may have added one before it could see our
         * avail_event (the store must be visible before the re-read: full
         * fence, store->load ordering). */
        ring_store16(avail_event_ptr(vq), vq->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail = avail_idx_acquire(vq);
        if (avail == vq->last_avail)
            return 0;
    }
    /* The driver can have at most size buffers outstanding. */
    if ((uint16_t)(avail - vq->last_avail) > vq->size)
        return vq_fail(vq, -EINVAL);
    uint16_t head = ring_load16(&vq->avail->ring[vq->last_avail & (vq->size - 1)]);
    int r = chain_walk(vq, head, chain);
    if (r < 0)
        return vq_fail(vq, r);
    vq->last_avail++;
    return 1;
}

void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
    if (!vq->ready)
        return;
    struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
    __atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
    __atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
    vq->used_idx++;
    /* Release: the element must be visible before the index that publishes it. */
    __atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
}

void virtqueue_fill(struct virtqueue *vq, unsigned offset, uint16_t head, uint32_t written)
{
    if (!vq->ready)
        return;
    struct virtq_used_elem *e = &vq->used->ring[(uint16_t)(vq->used_idx + offset) & (vq->size - 1)];
    __atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
    __atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
}

void virtqueue_flush(struct virtqueue *vq, unsigned count)
{
    if (!vq->ready)
        return;
    vq->used_idx = (uint16_t)(vq->used_idx + count);
    __atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
}

void virtqueue_unpop(struct virtqueue *vq, unsigned count)
{
    vq->last_avail = (uint16_t)(vq->last_avail - count);
}

bool virtqueue_should_notify(struct virtqueue *vq)
{
    if (!vq->ready)
        return false;
    /* Our used->idx store must be visible before we read the driver's
     * suppression fields; the driver does the mirror image (writes them,
     * then reads used->idx), so this needs a full fence, not just release. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx)
        return !(ring_load16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);

    uint16_t old = vq->signalled_used, new = vq->used_idx;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = new;
    vq->signalled_used_valid = true;
    if (!valid)
        return true;
    /* Interrupt iff used_event lies in (old, new]: the driver asked to be
     * told once the used index passes it (2.7.7.2, vring_need_event). */
    uint16_t event = ring_load16(used_event_ptr(vq));
    return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* Copies between a flat buffer and bytes [skip, skip+len) of an iovec array. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf, size_t len,
                       bool into_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - skip;
        if (k > len - done)
            k = len - done;
        uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
        if (into_iov)
            memcpy(p, buf + done, k);
        else
            memcpy(buf + done, p, k);
        done += k;
        skip = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
    return iov_copy(iov, n, skip, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
    /* iov_copy only reads buf in this direction. */
    return iov_copy(iov, n, skip, (uint8_t *)(uintptr_t)buf, len, true);
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
                   struct iovec *dst, unsigned max)
{
    unsigned out = 0;
    for (unsigned i = 0; i < n && len && out < max; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - skip;
        if (k > len)
            k = len;
        dst[out++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, k };
        len -= k;
        skip = 0;
    }
    return out;
}
