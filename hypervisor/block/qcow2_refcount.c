/* qcow2 refcounts: lookup and update through the refcount block cache,
 * cluster allocation, deferred frees and the ordered metadata flush. */
#include "qcow2.h"

#include <errno.h>
#include <linux/falloc.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rb_get(const uint8_t *rb, uint64_t i, unsigned bits)
{
    switch (bits) {
    case 64: return be64toh(((const uint64_t *)rb)[i]);
    case 32: return be32toh(((const uint32_t *)rb)[i]);
    case 16: return be16toh(((const uint16_t *)rb)[i]);
    case 8: return rb[i];
    default: return (rb[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
    }
}

static void rb_set(uint8_t *rb, uint64_t i, unsigned bits, uint64_t v)
{
    switch (bits) {
    case 64: ((uint64_t *)rb)[i] = htobe64(v); break;
    case 32: ((uint32_t *)rb)[i] = htobe32((uint32_t)v); break;
    case 16: ((uint16_t *)rb)[i] = htobe16((uint16_t)v); break;
    case 8: rb[i] = (uint8_t)v; break;
    default: {
        unsigned shift = (unsigned)(i * bits % 8), mask = ((1u << bits) - 1) << shift;
        rb[i * bits / 8] = (uint8_t)((rb[i * bits / 8] & ~mask) | ((v << shift) & mask));
    }
    }
}

int qcow2_get_refcount(struct qcow2 *s, uint64_t cluster, uint64_t *rc)
{
    uint64_t ti = cluster / s->refblock_entries;
    *rc = 0;
    if (ti >= s->reftable_size || !(s->reftable[ti] & QCOW2_REFT_OFFSET_MASK))
        return 0;
    uint8_t *rb;
    int r = qcow2_cache_get(s, &s->rb_cache, s->reftable[ti] & QCOW2_REFT_OFFSET_MASK, false, &rb);
    if (r < 0)
        return r;
    *rc = rb_get(rb, cluster % s->refblock_entries, s->refcount_bits);
    return 0;
}

/* A bigger refcount table, placed with the refcount blocks describing it
 * just past everything the old table covers (all free by definition).
 * Written and synced before the header switches to it. */
static int grow_reftable(struct qcow2 *s, uint64_t need)
{
    int r = qcow2_flush_metadata(s);
    if (r < 0)
        return r;
    uint64_t E = s->refblock_entries, C = s->cluster_size;
    uint64_t x = s->reftable_size * E;           /* first uncovered cluster */
    uint64_t new_size = need > s->reftable_size * 2 ? need : s->reftable_size * 2;
    uint64_t k = 1, tclusters;
    for (;;) {
        if (new_size < x / E + k)
            new_size = x / E + k;
        tclusters = (new_size * 8 + C - 1) / C;
        new_size = tclusters * C / 8;
        uint64_t k2 = (k + tclusters + E - 1) / E;
        if (k2 == k && new_size >= x / E + k)
            break;
        k = k2;
    }
    if (new_size * 8 > QCOW2_MAX_REFTABLE_BYTES * 8 || (x + k + tclusters) * C > QCOW2_MAX_SIZE)
        return -EFBIG;
    uint8_t *blocks = calloc(k, C);
    uint64_t *table = calloc(new_size, 8);
    if (!blocks || !table) {
        free(blocks);
        free(table);
        return -ENOMEM;
    }
    for (uint64_t j = 0; j < k + tclusters; j++)
        rb_set(blocks + (j / E) * C, j % E, s->refcount_bits, 1);
    for (uint64_t i = 0; i < s->reftable_size; i++)
        table[i] = htobe64(s->reftable[i]);
    for (uint64_t j = 0; j < k; j++)
        table[x / E + j] = htobe64((x + j) * C);
    r = block_file_pwrite(s->fd, blocks, k * C, x * C);
    if (!r)
        r = block_file_pwrite(s->fd, table, tclusters * C, (x + k) * C);
    if (!r && fdatasync(s->fd) < 0)
        r = -errno;
    uint8_t hdr[12];
    *(uint64_t *)hdr = htobe64((x + k) * C);
    *(uint32_t *)(hdr + 8) = htobe32((uint32_t)tclusters);
    if (!r)
        r = qcow2_write_header_field(s, QH_REFTABLE_OFFSET, hdr, sizeof(hdr));
    free(blocks);
    if (r < 0) {
        free(table);
        return r;
    }
    uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
    for (uint64_t i = 0; i < new_size; i++)
        table[i] = be64toh(table[i]);
    free(s->reftable);
    s->reftable = table;
    s->reftable_size = new_size;
    s->reftable_offset = (x + k) * C;
    s->reftable_clusters = (uint32_t)tclusters;
    if ((x + k + tclusters) * C > s->file_end)
        s->file_end = (x + k + tclusters) * C;
    return qcow2_update_refcount(s, old_off, old_clusters, -1);
}

/* The refcount block for table index @ti, created if missing: a new block
 * sits on the first cluster of the range it describes (free, since no
 * block described it) and counts itself. */
static int ensure_refblock(struct qcow2 *s, uint64_t ti, bool *created)
{
    if (ti < s->reftable_size && (s->reftable[ti] & QCOW2_REFT_OFFSET_MASK))
        return 0;
    if (ti == 0)
        return -EIO;                 /* the header cluster must be counted */
    if (ti >= s->reftable_size) {
        int r = grow_reftable(s, ti + 1);
        if (r < 0)
            return r;
        if (s->reftable[ti] & QCOW2_REFT_OFFSET_MASK) {
            *created = true;
            return 0;
        }
    }
    uint64_t off = ti * s->refblock_entries * s->cluster_size;
    if (off + s->cluster_size > QCOW2_MAX_SIZE)
        return -EFBIG;
    uint8_t *rb;
    int r = qcow2_cache_get(s, &s->rb_cache, off, true, &rb);
    if (r < 0)
        return r;
    rb_set(rb, 0, s->refcount_bits, 1);
    qcow2_cache_mark_dirty(&s->rb_cache, off);
    s->reftable[ti] = off;
    s->reftable_dirty = true;
    *created = true;
    if (off + s->cluster_size > s->file_end)
        s->file_end = off + s->cluster_size;
    return 0;
}

int qcow2_update_refcount(struct qcow2 *s, uint64_t offset, uint64_t n, int64_t delta)
{
    uint64_t first = offset >> s->cluster_bits;
    for (uint64_t c = first; c < first + n; c++) {
        uint64_t ti = c / s->refblock_entries;
        bool created = false;
        int r = delta > 0 ? ensure_refblock(s, ti, &created) : 0;
        if (r < 0)
            return r;
        if (ti >= s->reftable_size || !(s->reftable[ti] & QCOW2_REFT_OFFSET_MASK))
            return -EIO;             /* dropping a reference nothing counted */
        uint64_t rboff = s->reftable[ti] & QCOW2_REFT_OFFSET_MASK;
        uint8_t *rb;
        if ((r = qcow2_cache_get(s, &s->rb_cache, rboff, false, &rb)) < 0)
            return r;
        uint64_t i = c % s->refblock_entries;
        uint64_t rc = rb_get(rb, i, s->refcount_bits);
        if ((delta < 0 && rc < (uint64_t)-delta) || (delta > 0 && s->refcount_max - rc < (uint64_t)delta))
            return delta < 0 ? -EIO : -ERANGE;
        rc += (uint64_t)delta;
        rb_set(rb, i, s->refcount_bits, rc);
        qcow2_cache_mark_dirty(&s->rb_cache, rboff);
        if (rc == 0 && c < s->free_hint)
            s->free_hint = c;
        if (rc == 0 && s->comp_next && c == s->comp_cluster >> s->cluster_bits)
            s->comp_next = 0;        /* the cluster being filled with compressed data is gone */
    }
    return 0;
}

int64_t qcow2_alloc_clusters(struct qcow2 *s, uint64_t n)
{
    for (;;) {
        uint64_t start = s->free_hint, run = 0, c = start, first_free = UINT64_MAX;
        while (run < n) {
            uint64_t rc;
            int r = qcow2_get_refcount(s, c, &rc);
            if (r < 0)
                return r;
            if (rc) {
                run = 0;
                start = c + 1;
            } else {
                if (first_free == UINT64_MAX)
                    first_free = c;
                run++;
            }
            c++;
            if (c << s->cluster_bits > QCOW2_MAX_SIZE)
                return -EFBIG;
        }
        bool created = false;
        for (uint64_t ti = start / s->refblock_entries; ti <= (start + n - 1) / s->refblock_entries; ti++) {
            int r = ensure_refblock(s, ti, &created);
            if (r < 0)
                return r;
        }
        if (created)
            continue;                /* a new refcount block may sit in the run */
        int r = qcow2_update_refcount(s, start << s->cluster_bits, n, 1);
        if (r < 0)
            return r;
        s->free_hint = first_free == start ? start + n : first_free;
        if ((start + n) << s->cluster_bits > s->file_end)
            s->file_end = (start + n) << s->cluster_bits;
        return (int64_t)(start << s->cluster_bits);
    }
}

int qcow2_free_later(struct qcow2 *s, uint64_t offset, uint64_t n)
{
    if (block_reserve(&s->pending_free, &s->pending_cap, s->npending + n, sizeof(*s->pending_free)) < 0)
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++)
        s->pending_free[s->npending++] = (offset >> s->cluster_bits) + i;
    return 0;
}

void qcow2_compressed_range(const struct qcow2 *s, uint64_t l2e, uint64_t *offset, uint64_t *nclusters)
{
    unsigned shift = 62 - (s->cluster_bits - 8);
    uint64_t coff = l2e & ((1ULL << shift) - 1);
    uint64_t nsect = ((l2e >> shift) & ((1ULL << (s->cluster_bits - 8)) - 1)) + 1;
    uint64_t start = coff & ~511ULL, end = start + nsect * 512;
    *offset = start & ~(s->cluster_size - 1);
    *nclusters = ((end - 1) >> s->cluster_bits) - (start >> s->cluster_bits) + 1;
}

int qcow2_free_l2_entry_later(struct qcow2 *s, uint64_t l2e)
{
    if (l2e & QCOW2_OFLAG_COMPRESSED) {
        uint64_t off, n;
        qcow2_compressed_range(s, l2e, &off, &n);
        return qcow2_free_later(s, off, n);
    }
    uint64_t off = l2e & QCOW2_OFFSET_MASK;
    return off ? qcow2_free_later(s, off, 1) : 0;
}

int qcow2_write_header_field(struct qcow2 *s, uint64_t off, const void *data, size_t len)
{
    int r = block_file_pwrite(s->fd, data, len, off);
    if (!r && fdatasync(s->fd) < 0)
        r = -errno;
    return r;
}

int qcow2_write_l1(struct qcow2 *s, uint32_t lo, uint32_t hi)
{
    if (lo >= hi)
        return 0;
    uint64_t *buf = malloc((size_t)(hi - lo) * 8);
    if (!buf)
        return -ENOMEM;
    for (uint32_t i = lo; i < hi; i++)
        buf[i - lo] = htobe64(s->l1[i]);
    int r = block_file_pwrite(s->fd, buf, (size_t)(hi - lo) * 8, s->l1_offset + (uint64_t)lo * 8);
    free(buf);
    return r;
}

static int sync_fd(struct qcow2 *s)
{
    return fdatasync(s->fd) < 0 ? -errno : 0;
}

static int write_reftable(struct qcow2 *s)
{
    uint64_t *buf = calloc(s->reftable_clusters, s->cluster_size);
    if (!buf)
        return -ENOMEM;
    for (uint64_t i = 0; i < s->reftable_size; i++)
        buf[i] = htobe64(s->reftable[i]);
    int r = block_file_pwrite(s->fd, buf, (size_t)s->reftable_clusters * s->cluster_size, s->reftable_offset);
    free(buf);
    return r;
}

/* Applies the decrements whose tables are now durable. A cluster freed
 * for good is punched out of the file. */
static int apply_pending_frees(struct qcow2 *s)
{
    int r = 0;
    for (size_t i = 0; i < s->npending && !r; i++) {
        uint64_t c = s->pending_free[i], rc;
        /* A reference nothing counted (a corrupt entry we replaced) stays
         * at zero; check reports such images. */
        if ((r = qcow2_get_refcount(s, c, &rc)) < 0 || rc == 0)
            continue;
        r = qcow2_update_refcount(s, c << s->cluster_bits, 1, -1);
        if (!r && !qcow2_get_refcount(s, c, &rc) && rc == 0) {
            qcow2_cache_drop(&s->l2_cache, c << s->cluster_bits);
            fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(c << s->cluster_bits), (off_t)s->cluster_size);
        }
    }
    s->npending = 0;
    return r;
}

int qcow2_flush_metadata(struct qcow2 *s)
{
    bool l1 = s->l1_dirty_lo < s->l1_dirty_hi;
    if (!s->rb_cache.ndirty && !s->reftable_dirty && !s->l2_cache.ndirty && !l1 && !s->npending)
        return sync_fd(s);
    int r = 0;
    if (s->rb_cache.ndirty && !(r = qcow2_cache_write_dirty(s, &s->rb_cache)))
        r = sync_fd(s);
    if (!r && s->reftable_dirty && !(r = write_reftable(s)) && !(r = sync_fd(s)))
        s->reftable_dirty = false;
    if (!r && s->l2_cache.ndirty && !(r = qcow2_cache_write_dirty(s, &s->l2_cache)))
        r = sync_fd(s);
    if (!r && l1 && !(r = qcow2_write_l1(s, s->l1_dirty_lo, s->l1_dirty_hi)) && !(r = sync_fd(s))) {
        s->l1_dirty_lo = UINT32_MAX;
        s->l1_dirty_hi = 0;
    }
    if (!r && s->npending)
        r = apply_pending_frees(s);
    return r;
}
