/* qcow2 compressed clusters (zlib raw deflate or zstd, as the header
 * says): reading them, and writing whole clusters compressed (convert -c).
 *
 * Compressed data is packed byte by byte into host clusters, as QEMU does:
 * every compressed cluster adds one to the refcount of each host cluster
 * its sectors touch, so frees and checks count them the same way. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

int qcow2_decompress(struct qcow2 *s, uint64_t l2e, uint8_t *out)
{
    unsigned shift = 62 - (s->cluster_bits - 8);
    uint64_t coff = l2e & ((1ULL << shift) - 1);
    uint64_t nsect = ((l2e >> shift) & ((1ULL << (s->cluster_bits - 8)) - 1)) + 1;
    size_t csize = (size_t)(nsect * 512 - (coff & 511));
    uint8_t *in = malloc(csize);
    if (!in)
        return -ENOMEM;
    int r = block_file_pread(s->fd, in, csize, coff);
    if (r < 0) {
        free(in);
        return r;
    }
    r = -EIO;
    if (s->compression == QCOW2_COMPRESSION_ZLIB) {
        z_stream z = { .next_in = in, .avail_in = (uInt)csize, .next_out = out, .avail_out = (uInt)s->cluster_size };
        if (inflateInit2(&z, -12) == Z_OK) {
            int zr = inflate(&z, Z_FINISH);
            if ((zr == Z_STREAM_END || zr == Z_BUF_ERROR) && z.avail_out == 0)
                r = 0;
            inflateEnd(&z);
        }
    } else {
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer ib = { in, csize, 0 };
        ZSTD_outBuffer ob = { out, s->cluster_size, 0 };
        while (d && ob.pos < ob.size && ib.pos < ib.size) {
            size_t zr = ZSTD_decompressStream(d, &ob, &ib);
            if (ZSTD_isError(zr) || zr == 0)
                break;
        }
        if (ob.pos == ob.size)
            r = 0;
        ZSTD_freeDCtx(d);
    }
    free(in);
    return r;
}

/* Compresses one cluster into @out (room for cluster_size - 1 bytes): the
 * size, or 0 when it does not get smaller. */
static size_t compress_cluster(const struct qcow2 *s, const uint8_t *in, uint8_t *out)
{
    size_t cap = s->cluster_size - 1;
    if (s->compression == QCOW2_COMPRESSION_ZSTD) {
        size_t n = ZSTD_compress(out, cap, in, s->cluster_size, ZSTD_CLEVEL_DEFAULT);
        return ZSTD_isError(n) ? 0 : n;
    }
    z_stream z = { .next_in = (uint8_t *)in, .avail_in = (uInt)s->cluster_size, .next_out = out, .avail_out = (uInt)cap };
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    size_t n = deflate(&z, Z_FINISH) == Z_STREAM_END ? cap - z.avail_out : 0;
    deflateEnd(&z);
    return n;
}

/* Room for @n compressed bytes: after the last ones if they fit in the
 * same host cluster (one more reference to it), else a new cluster. */
static int64_t alloc_bytes(struct qcow2 *s, size_t n)
{
    uint64_t C = s->cluster_size;
    if (s->comp_next && (s->comp_next & (C - 1)) + n <= C) {
        int r = qcow2_update_refcount(s, s->comp_cluster, 1, 1);
        if (r < 0)
            return r;
    } else {
        int64_t host = qcow2_alloc_clusters(s, 1);
        if (host < 0)
            return host;
        s->comp_cluster = s->comp_next = (uint64_t)host;
    }
    uint64_t off = s->comp_next;
    s->comp_next = (off + n) & (C - 1) ? off + n : 0;
    return (int64_t)off;
}

static int write_compressed_locked(struct qcow2 *s, uint64_t gc, const uint8_t *data, size_t n)
{
    uint8_t *t;
    uint64_t idx;
    int r = qcow2_l2_for_write(s, gc, &t, &idx);
    if (r < 0)
        return r;
    int64_t off = alloc_bytes(s, n);
    if (off < 0)
        return (int)off;
    unsigned shift = 62 - (s->cluster_bits - 8);
    uint64_t nsect = (((uint64_t)off + n - 1) >> 9) - ((uint64_t)off >> 9);
    if ((uint64_t)off >= (1ULL << shift))
        return -EFBIG;
    if ((r = block_file_pwrite(s->fd, data, n, (uint64_t)off)) < 0) {
        qcow2_update_refcount(s, (uint64_t)off & ~(s->cluster_size - 1), 1, -1);
        return r;
    }
    uint64_t old = qcow2_l2_get(t, idx);
    qcow2_l2_set(t, idx, QCOW2_OFLAG_COMPRESSED | nsect << shift | (uint64_t)off);
    qcow2_cache_mark_dirty(&s->l2_cache, s->l1[gc / s->l2_entries] & QCOW2_OFFSET_MASK);
    return qcow2_free_l2_entry_later(s, old);
}

int block_pwrite_compressed(struct block *b, const void *buf, size_t len, uint64_t off)
{
    if (b->drv != &block_qcow2_driver)
        return -ENOTSUP;
    if (b->readonly)
        return -EROFS;
    struct qcow2 *s = qcow2_state(b);
    uint64_t C = s->cluster_size;
    if ((off & (C - 1)) || off >= b->length || !len || len > C || (len < C && off + len != b->length))
        return -EINVAL;
    uint8_t *in = calloc(2, C);          /* the cluster (zero padded), then its compressed form */
    if (!in)
        return -ENOMEM;
    memcpy(in, buf, len);
    size_t n = compress_cluster(s, in, in + C);
    int r;
    if (!n) {                            /* does not compress: stored as it is */
        r = block_pwrite(b, buf, len, off);
    } else {
        pthread_mutex_lock(&s->lock);
        qcow2_wait_inflight(s, off >> s->cluster_bits, 1);
        r = write_compressed_locked(s, off >> s->cluster_bits, in + C, n);
        int r2 = qcow2_op_done(s);
        pthread_mutex_unlock(&s->lock);
        r = r ? r : r2;
    }
    free(in);
    return r;
}
