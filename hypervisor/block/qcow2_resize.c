/* Changing an image's size (raw and qcow2) and emptying a qcow2 overlay
 * (after commit). Each step leaves the image consistent on disk: a bigger
 * L1 table is durable before the header names it, clusters past a new end
 * are unmapped (and durable) before the header shrinks the disk. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QH_SIZE    24
#define QH_L1_SIZE 36                /* with the L1 offset right after it */

static int flush_all(struct qcow2 *s)
{
    int r = qcow2_flush_metadata(s);
    return r ? r : qcow2_flush_metadata(s);
}

/* A copy of the L1 table with room for @n entries, then the header switches to it. */
static int grow_l1(struct qcow2 *s, uint32_t n)
{
    uint64_t bytes = (uint64_t)n * 8, old_bytes = (uint64_t)s->l1_size * 8;
    uint64_t *l1 = calloc(n, 8), *disk = calloc(n, 8);
    int64_t off = l1 && disk ? qcow2_alloc_clusters(s, qcow2_size_to_clusters(s, bytes)) : -ENOMEM;
    int r = off < 0 ? (int)off : 0;
    if (!r) {
        memcpy(l1, s->l1, old_bytes);
        for (uint32_t i = 0; i < n; i++)
            disk[i] = htobe64(l1[i]);
        r = block_file_pwrite(s->fd, disk, bytes, (uint64_t)off);
    }
    if (!r)
        r = flush_all(s);            /* the new table and its refcounts durable */
    uint8_t hdr[12];
    *(uint32_t *)hdr = htobe32(n);
    *(uint64_t *)(hdr + 4) = htobe64((uint64_t)off);
    if (!r)
        r = qcow2_write_header_field(s, QH_L1_SIZE, hdr, sizeof(hdr));
    free(disk);
    if (r < 0) {
        free(l1);
        return r;
    }
    uint64_t old_off = s->l1_offset;
    free(s->l1);
    s->l1 = l1;
    s->l1_size = n;
    s->l1_offset = (uint64_t)off;
    return old_bytes ? qcow2_update_refcount(s, old_off, qcow2_size_to_clusters(s, old_bytes), -1) : 0;
}

int qcow2_resize_locked(struct block *b, uint64_t size)
{
    struct qcow2 *s = qcow2_state(b);
    uint64_t C = s->cluster_size, old = b->length;
    if (size > QCOW2_MAX_SIZE / 4)
        return -EFBIG;
    int r = flush_all(s);
    if (!r && size < old) {          /* whole clusters past the new end go */
        uint64_t first = (size + C - 1) / C, end = (old + C - 1) / C;
        if (first < end && !(r = qcow2_unmap_clusters(b, first, end - first)))
            r = flush_all(s);
    }
    uint64_t l2_span = C * s->l2_entries, need = (size + l2_span - 1) / l2_span;
    if (!r && need > s->l1_size)
        r = need * 8 > QCOW2_MAX_L1_BYTES ? -EFBIG : grow_l1(s, (uint32_t)need);
    uint64_t v = htobe64(size);
    if (!r)
        r = qcow2_write_header_field(s, QH_SIZE, &v, 8);
    if (!r)
        b->length = size;
    return r ? r : flush_all(s);
}

int block_resize(struct block *b, uint64_t size, bool shrink, char **error)
{
    if (error)
        *error = NULL;
    if (b->readonly)
        return block_err(error, -EROFS, "%s: image is open read-only", b->path);
    if (size < b->length && !shrink)
        return block_err(error, -EINVAL, "%s: shrinking loses the data past the new end; "
                         "ask for it (--shrink)", b->path);
    struct stat st;
    int r = 0;
    if (b->drv == &block_raw_driver) {
        if (fstat(b->fd, &st) == 0 && !S_ISREG(st.st_mode))
            return block_err(error, -ENOTSUP, "%s: only image files can be resized", b->path);
        if (ftruncate(b->fd, (off_t)size) < 0 || fdatasync(b->fd) < 0)
            return block_err(error, -errno, "%s: cannot resize: %s", b->path, strerror(errno));
        b->length = size;
        return 0;
    }
    if (size > QCOW2_MAX_SIZE / 4)
        return block_err(error, -EFBIG, "%s: %llu bytes is too large", b->path, (unsigned long long)size);
    struct qcow2 *s = qcow2_state(b);
    uint64_t old = b->length;
    pthread_mutex_lock(&s->lock);
    r = qcow2_resize_locked(b, size);
    pthread_mutex_unlock(&s->lock);
    /* What the backing file holds past the old end must not show through:
     * the new part reads as zeroes, as it does in QEMU. */
    uint64_t blen = b->backing ? block_length(b->backing) : 0;
    if (!r && size > old && blen > old)
        r = block_write_zeroes(b, old, (blen < size ? blen : size) - old, false);
    if (!r)
        r = block_flush(b);
    if (r < 0)
        block_err(error, r, "%s: cannot resize: %s", b->path, strerror(-r));
    return r;
}

int block_make_empty(struct block *b, char **error)
{
    if (error)
        *error = NULL;
    if (b->drv != &block_qcow2_driver)
        return block_err(error, -ENOTSUP, "%s: only qcow2 images can be emptied", b->path);
    if (b->readonly)
        return block_err(error, -EROFS, "%s: image is open read-only", b->path);
    struct qcow2 *s = qcow2_state(b);
    pthread_mutex_lock(&s->lock);
    int r = qcow2_unmap_clusters(b, 0, qcow2_size_to_clusters(s, b->length));
    /* The emptied L2 tables go too once the L1 table no longer names them. */
    for (uint32_t i = 0; !r && i < s->l1_size; i++) {
        uint64_t l2off = s->l1[i] & QCOW2_OFFSET_MASK;
        if (l2off && !(r = qcow2_free_later(s, l2off, 1)))
            qcow2_l1_set(s, i, 0);
    }
    if (!r)
        r = flush_all(s);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        block_err(error, r, "%s: cannot empty the image: %s", b->path, strerror(-r));
    return r;
}

int block_grow(struct block *b, uint64_t size, char **error)
{
    if (error)
        *error = NULL;
    if (size < b->length)
        return block_err(error, -EINVAL, "%s: images only grow (shrinking would cut off data)", b->path);
    if (size == b->length)
        return 0;
    if (b->drv == &block_qcow2_driver && qcow2_state(b)->nb_snapshots)
        return block_err(error, -ENOTSUP, "%s: it has snapshots (they keep the old size); delete them first", b->path);
    return block_resize(b, size, false, error);
}
