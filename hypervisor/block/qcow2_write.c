/* qcow2 writes: in place where the cluster is ours alone (COPIED), else a
 * new cluster (copy-on-write from the backing file, a compressed or a
 * snapshot-shared cluster). Guest data moves without the image lock; the
 * guest clusters being written are marked in flight so that overlapping
 * writes, zeroes and discards wait for each other. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void qcow2_l1_set(struct qcow2 *s, uint64_t i, uint64_t v)
{
    s->l1[i] = v;
    if (i < s->l1_dirty_lo)
        s->l1_dirty_lo = (uint32_t)i;
    if (i + 1 > s->l1_dirty_hi)
        s->l1_dirty_hi = (uint32_t)(i + 1);
}

static bool inflight_overlaps(const struct qcow2 *s, uint64_t gc, uint64_t n)
{
    for (size_t i = 0; i < s->ninflight; i += 2)
        if (gc < s->inflight[i] + s->inflight[i + 1] && s->inflight[i] < gc + n)
            return true;
    return false;
}

void qcow2_wait_inflight(struct qcow2 *s, uint64_t gc, uint64_t n)
{
    while (inflight_overlaps(s, gc, n))
        pthread_cond_wait(&s->alloc_done, &s->lock);
}

static int inflight_add(struct qcow2 *s, uint64_t gc, uint64_t n)
{
    if (block_reserve(&s->inflight, &s->inflight_cap, s->ninflight + 2, sizeof(*s->inflight)) < 0)
        return -ENOMEM;
    s->inflight[s->ninflight++] = gc;
    s->inflight[s->ninflight++] = n;
    return 0;
}

static void inflight_del(struct qcow2 *s, uint64_t gc)
{
    for (size_t i = 0; i < s->ninflight; i += 2) {
        if (s->inflight[i] == gc) {
            s->inflight[i] = s->inflight[s->ninflight - 2];
            s->inflight[i + 1] = s->inflight[s->ninflight - 1];
            s->ninflight -= 2;
            break;
        }
    }
    pthread_cond_broadcast(&s->alloc_done);
}

/* Under cache pressure the tables go to disk (in order) now. */
int qcow2_op_done(struct qcow2 *s)
{
    int r = 0;
    if (s->l2_cache.ndirty > s->l2_cache.max / 2 || s->rb_cache.ndirty > s->rb_cache.max / 2)
        r = qcow2_flush_metadata(s);
    qcow2_cache_trim(&s->l2_cache);
    qcow2_cache_trim(&s->rb_cache);
    return r;
}

/* A guest write must never land on the image's own tables, nor far past
 * the end of the file, whatever a hostile L2 entry says. */
static bool data_offset_ok(const struct qcow2 *s, uint64_t host)
{
    if (host < s->cluster_size || host >= s->file_end)
        return false;
    if (host < s->l1_offset + (uint64_t)s->l1_size * 8 && s->l1_offset < host + s->cluster_size)
        return false;
    uint64_t rt_end = s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size;
    return !(host < rt_end && s->reftable_offset < host + s->cluster_size);
}

int qcow2_l2_for_write(struct qcow2 *s, uint64_t gc, uint8_t **table, uint64_t *idx)
{
    uint64_t l1i = gc / s->l2_entries;
    *idx = gc % s->l2_entries;
    if (l1i >= s->l1_size)
        return -EIO;
    uint64_t e = s->l1[l1i], old = e & QCOW2_OFFSET_MASK;
    if (old && (e & QCOW2_OFLAG_COPIED))
        return qcow2_l2_load(s, e, table);
    uint8_t *src = NULL;
    int r;
    if (old && (r = qcow2_l2_load(s, e, &src)) < 0)
        return r;
    int64_t nw = qcow2_alloc_clusters(s, 1);
    if (nw < 0)
        return (int)nw;
    if ((r = qcow2_cache_get(s, &s->l2_cache, (uint64_t)nw, true, table)) < 0)
        return r;
    if (src) {
        /* The source may have been evicted by the allocation's reads only
         * if trimmed, which happens between operations: it is still valid. */
        memcpy(*table, src, s->cluster_size);
        if ((r = qcow2_free_later(s, old, 1)) < 0)
            return r;
    }
    qcow2_cache_mark_dirty(&s->l2_cache, (uint64_t)nw);
    qcow2_l1_set(s, l1i, (uint64_t)nw | QCOW2_OFLAG_COPIED);
    return 0;
}

/* The L2 entry of @gc (0 when there is no L2 table). */
static int l2_entry(struct qcow2 *s, uint64_t gc, uint64_t *e, uint8_t **tbl)
{
    uint64_t l1i = gc / s->l2_entries;
    *e = 0;
    *tbl = NULL;
    if (l1i >= s->l1_size || !(s->l1[l1i] & QCOW2_OFFSET_MASK))
        return 0;
    int r = qcow2_l2_load(s, s->l1[l1i], tbl);
    if (r == 0)
        *e = qcow2_l2_get(*tbl, gc % s->l2_entries);
    return r;
}

static bool writable_in_place(const struct qcow2 *s, uint64_t l1e, uint64_t e)
{
    return (l1e & QCOW2_OFLAG_COPIED) && (e & QCOW2_OFLAG_COPIED) && !(e & QCOW2_OFLAG_COMPRESSED) &&
           !(s->version >= 3 && (e & QCOW2_OFLAG_ZERO)) && (e & QCOW2_OFFSET_MASK) &&
           !(e & QCOW2_L2E_RESERVED) && !((e & QCOW2_OFFSET_MASK) & (s->cluster_size - 1)) &&
           data_offset_ok(s, e & QCOW2_OFFSET_MASK);
}

/* What a cluster held before: the old contents for a partial write. */
static int read_old_cluster(struct block *b, uint64_t gc, uint64_t e, uint8_t *buf)
{
    struct qcow2 *s = qcow2_state(b);
    struct iovec v = { buf, s->cluster_size };
    uint64_t gstart = gc << s->cluster_bits;
    uint64_t n = b->length - gstart < s->cluster_size ? b->length - gstart : s->cluster_size;
    memset(buf, 0, s->cluster_size);
    if (e & QCOW2_OFLAG_COMPRESSED)
        return qcow2_decompress(s, e, buf);
    if (s->version >= 3 && (e & QCOW2_OFLAG_ZERO))
        return 0;
    if (e & QCOW2_OFFSET_MASK)
        return block_file_pread(s->fd, buf, s->cluster_size, e & QCOW2_OFFSET_MASK);
    return block_read_backing(b, &v, 1, 0, gstart, n);
}

/* Writes [off, off+n) (within one L2 table) into newly allocated clusters. */
static int write_allocating(struct block *b, const struct iovec *iov, int niov, uint64_t pos,
                            uint64_t off, uint64_t n, uint64_t k)
{
    struct qcow2 *s = qcow2_state(b);
    uint64_t gc = off >> s->cluster_bits, in = off & (s->cluster_size - 1);
    uint64_t old, l1e = s->l1[gc / s->l2_entries];
    uint8_t *t;
    int r = l2_entry(s, gc, &old, &t);
    if (r < 0)
        return r;
    (void)l1e;
    int64_t host = qcow2_alloc_clusters(s, k);
    if (host < 0)
        return (int)host;
    if ((r = inflight_add(s, gc, k)) < 0)
        return r;
    pthread_mutex_unlock(&s->lock);

    if (n == k * s->cluster_size) {
        int cnt;
        struct iovec *v = block_iov_slice(iov, niov, pos, n, &cnt);
        r = v ? block_file_pwritev(s->fd, v, cnt, (uint64_t)host, n) : -ENOMEM;
        free(v);
    } else {                         /* one partial cluster: merge with the old contents */
        uint8_t *buf = malloc(s->cluster_size);
        r = buf ? read_old_cluster(b, gc, old, buf) : -ENOMEM;
        if (!r) {
            block_iov_to_buf(iov, niov, pos, buf + in, n);
            r = block_file_pwrite(s->fd, buf, s->cluster_size, (uint64_t)host);
        }
        free(buf);
    }

    pthread_mutex_lock(&s->lock);
    if (r < 0) {
        qcow2_update_refcount(s, (uint64_t)host, k, -1);   /* referenced by nothing yet */
        inflight_del(s, gc);
        return r;
    }
    for (uint64_t i = 0; i < k && !r; i++) {
        uint64_t idx;
        if ((r = qcow2_l2_for_write(s, gc + i, &t, &idx)) < 0)
            break;
        uint64_t prev = qcow2_l2_get(t, idx);
        qcow2_l2_set(t, idx, ((uint64_t)host + i * s->cluster_size) | QCOW2_OFLAG_COPIED);
        qcow2_cache_mark_dirty(&s->l2_cache, s->l1[(gc + i) / s->l2_entries] & QCOW2_OFFSET_MASK);
        r = qcow2_free_l2_entry_later(s, prev);
    }
    inflight_del(s, gc);
    return r;
}

int qcow2_pwritev(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    struct qcow2 *s = qcow2_state(b);
    uint64_t C = s->cluster_size, pos = 0;
    int r = 0;
    pthread_mutex_lock(&s->lock);
    while (pos < len && !r) {
        uint64_t cur = off + pos, gc = cur >> s->cluster_bits, in = cur & (C - 1);
        uint64_t l2left = s->l2_entries - gc % s->l2_entries;
        uint64_t n = len - pos < l2left * C - in ? len - pos : l2left * C - in;
        uint64_t nclusters = (in + n + C - 1) / C;
        qcow2_wait_inflight(s, gc, 1);
        uint64_t e;
        uint8_t *t;
        if ((r = l2_entry(s, gc, &e, &t)) < 0)
            break;
        uint64_t l1e = s->l1[gc / s->l2_entries];
        if (writable_in_place(s, l1e, e)) {
            /* Extend over following clusters that are ours and contiguous on the host. */
            uint64_t host = e & QCOW2_OFFSET_MASK, k = 1;
            while (k < nclusters && !inflight_overlaps(s, gc + k, 1)) {
                uint64_t f = qcow2_l2_get(t, gc % s->l2_entries + k);
                if (!writable_in_place(s, l1e, f) || (f & QCOW2_OFFSET_MASK) != host + k * C)
                    break;
                k++;
            }
            uint64_t m = k * C - in < n ? k * C - in : n;
            if ((r = inflight_add(s, gc, k)) < 0)
                break;
            pthread_mutex_unlock(&s->lock);
            int cnt;
            struct iovec *v = block_iov_slice(iov, niov, pos, m, &cnt);
            r = v ? block_file_pwritev(s->fd, v, cnt, host + in, m) : -ENOMEM;
            free(v);
            pthread_mutex_lock(&s->lock);
            inflight_del(s, gc);
            pos += m;
            continue;
        }
        /* Whole clusters needing a new home are allocated together. */
        uint64_t k = 1, m = n < C - in ? n : C - in;
        if (in == 0 && n >= C) {
            while (k < n / C && !inflight_overlaps(s, gc + k, 1) &&
                   !writable_in_place(s, l1e, t ? qcow2_l2_get(t, gc % s->l2_entries + k) : 0))
                k++;
            m = k * C;
        }
        r = write_allocating(b, iov, niov, pos, cur, m, k);
        pos += m;
    }
    int r2 = qcow2_op_done(s);
    pthread_mutex_unlock(&s->lock);
    return r ? r : r2;
}

int qcow2_flush(struct block *b)
{
    struct qcow2 *s = qcow2_state(b);
    pthread_mutex_lock(&s->lock);
    int r = qcow2_flush_metadata(s);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Whole clusters [gc, gc+n) become zero (or unallocated: @discard, or
 * @unmap: unallocated even over a backing file, for shrinking and
 * emptying an image). Returns -ENOTSUP where the format cannot express it
 * (v2 zeroes over a backing file). */
static int zero_clusters(struct block *b, uint64_t gc, uint64_t n, bool discard, bool unmap)
{
    struct qcow2 *s = qcow2_state(b);
    bool zero_flag = b->backing && !unmap;
    int r = 0;
    for (uint64_t i = 0; i < n && !r; i++) {
        uint64_t c = gc + i, l1i = c / s->l2_entries;
        if (!(s->l1[l1i] & QCOW2_OFFSET_MASK) && !zero_flag) {
            i += s->l2_entries - c % s->l2_entries - 1;       /* all of this table reads zero */
            continue;
        }
        uint64_t want = zero_flag ? QCOW2_OFLAG_ZERO : 0;
        if (zero_flag && s->version < 3)
            return discard ? 0 : -ENOTSUP;
        qcow2_wait_inflight(s, c, 1);
        uint64_t e, idx;
        uint8_t *t;
        if ((r = l2_entry(s, c, &e, &t)) < 0)
            break;
        if (e == want)
            continue;
        if ((r = qcow2_l2_for_write(s, c, &t, &idx)) < 0)
            break;
        qcow2_l2_set(t, idx, want);
        qcow2_cache_mark_dirty(&s->l2_cache, s->l1[l1i] & QCOW2_OFFSET_MASK);
        r = qcow2_free_l2_entry_later(s, e);
        if (i % 4096 == 4095) {      /* let other requests in now and then */
            qcow2_op_done(s);
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_lock(&s->lock);
        }
    }
    return r;
}

int qcow2_unmap_clusters(struct block *b, uint64_t gc, uint64_t n)
{
    return zero_clusters(b, gc, n, true, true);
}

static int zero_range(struct block *b, uint64_t off, uint64_t len, bool discard)
{
    struct qcow2 *s = qcow2_state(b);
    uint64_t C = s->cluster_size;
    uint64_t first = (off + C - 1) & ~(C - 1);
    uint64_t last = (off + len) & ~(C - 1);
    if (off + len == b->length)
        last = (off + len + C - 1) & ~(C - 1);      /* the partial last cluster is whole to us */
    int r = 0;
    static const uint8_t zeros[65536];
    if (first < last) {
        pthread_mutex_lock(&s->lock);
        r = zero_clusters(b, first / C, (last - first) / C, discard, false);
        int r2 = qcow2_op_done(s);
        pthread_mutex_unlock(&s->lock);
        if (!r)
            r = r2;
    }
    if (discard)
        return r == -ENOTSUP ? 0 : r;
    /* Partial clusters at either end, or a format that cannot say "zero": write zeroes. */
    uint64_t spans[3][2] = { { off, first < last ? (first > off + len ? len : first - off) : len },
                             { last, first < last && off + len > last ? off + len - last : 0 },
                             { first, r == -ENOTSUP ? last - first : 0 } };
    if (r == -ENOTSUP)
        r = 0;
    for (int i = 0; i < 3 && !r; i++) {
        uint64_t o = spans[i][0], l = spans[i][1];
        while (l && !r) {
            size_t k = l < sizeof(zeros) ? (size_t)l : sizeof(zeros);
            r = qcow2_pwritev(b, &(struct iovec){ (void *)zeros, k }, 1, o, k);
            o += k;
            l -= k;
        }
    }
    return r;
}

int qcow2_discard(struct block *b, uint64_t off, uint64_t len)
{
    return zero_range(b, off, len, true);
}

int qcow2_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap)
{
    return zero_range(b, off, len, false);
}
