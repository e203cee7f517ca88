/* qcow2: opening (every header field and table checked, hostile images
 * refused with a reason), reads, block status and info. */
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define L2_CACHE_BYTES (32u << 20)
#define RB_CACHE_BYTES (4u << 20)

static uint32_t rd32(const uint8_t *p) { return be32toh(*(const uint32_t *)p); }
static uint64_t rd64(const uint8_t *p) { return be64toh(*(const uint64_t *)p); }

int qcow2_check_offset(const struct qcow2 *s, uint64_t off, const char *what)
{
    return (off & (s->cluster_size - 1)) || off > QCOW2_MAX_SIZE ? -EIO : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static int parse_extensions(struct qcow2 *s, const uint8_t *h, uint64_t start, uint64_t end, char **error)
{
    uint64_t p = start;
    while (p + 8 <= end) {
        uint32_t type = rd32(h + p), len = rd32(h + p + 4);
        p += 8;
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - p)
            return block_err(error, -EINVAL, "header extension 0x%x runs past the header", type);
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            char fmt[16] = { 0 };
            memcpy(fmt, h + p, len < sizeof(fmt) - 1 ? len : sizeof(fmt) - 1);
            if (block_parse_format(fmt, &s->backing_format) < 0)
                return block_err(error, -ENOTSUP, "backing file format '%s' is not supported", fmt);
        }
        p += (len + 7) & ~7u;
    }
    return 0;
}

static int parse_header(struct qcow2 *s, const uint8_t *h, uint64_t flen, char **error)
{
    if (rd32(h) != QCOW2_MAGIC)
        return block_err(error, -EINVAL, "not a qcow2 image");
    s->version = rd32(h + 4);
    if (s->version != 2 && s->version != 3)
        return block_err(error, -ENOTSUP, "qcow2 version %u is not supported", s->version);
    s->cluster_bits = rd32(h + 20);
    if (s->cluster_bits < 9 || s->cluster_bits > 21)
        return block_err(error, -EINVAL, "invalid cluster size 2^%u", s->cluster_bits);
    s->cluster_size = 1ULL << s->cluster_bits;
    s->l2_entries = s->cluster_size / 8;
    s->b->length = rd64(h + 24);
    if (s->b->length > QCOW2_MAX_SIZE)
        return block_err(error, -EFBIG, "virtual size %llu is absurd", (unsigned long long)s->b->length);
    if (rd32(h + 32))
        return block_err(error, -ENOTSUP, "encrypted images are not supported");
    s->l1_size = rd32(h + 36);
    s->l1_offset = rd64(h + 40);
    s->reftable_offset = rd64(h + 48);
    s->reftable_clusters = rd32(h + 56);
    s->nb_snapshots = rd32(h + 60);
    s->snapshots_offset = rd64(h + 64);
    s->refcount_order = 4;
    s->header_length = 72;
    if (s->version == 3) {
        s->incompat = rd64(h + 72);
        s->compat = rd64(h + 80);
        s->autoclear = rd64(h + 88);
        s->refcount_order = rd32(h + 96);
        s->header_length = rd32(h + 100);
        if (s->header_length < 104 || s->header_length > s->cluster_size)
            return block_err(error, -EINVAL, "invalid header length %u", s->header_length);
        if (s->refcount_order > 6)
            return block_err(error, -EINVAL, "invalid refcount order %u", s->refcount_order);
        if (s->header_length > 104)
            s->compression = h[104];
    }
    uint64_t unknown = s->incompat & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION);
    if (unknown)
        return block_err(error, -ENOTSUP, "unsupported incompatible features 0x%llx%s", (unsigned long long)unknown,
                         unknown & QCOW2_INCOMPAT_DATA_FILE ? " (external data file)" :
                         unknown & QCOW2_INCOMPAT_EXTL2 ? " (extended L2 entries)" : "");
    if (s->compression > QCOW2_COMPRESSION_ZSTD ||
        (s->compression && !(s->incompat & QCOW2_INCOMPAT_COMPRESSION)))
        return block_err(error, -ENOTSUP, "unsupported compression type %u", s->compression);
    if (!s->b->readonly && !s->b->defer_repair && (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return block_err(error, -EIO, "image is marked corrupt; it can only be opened read-only "
                         "(domus-img check -r all may repair it)");
    s->refcount_bits = 1u << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ULL << s->refcount_bits) - 1;
    s->refblock_entries = s->cluster_size * 8 / s->refcount_bits;

    uint64_t l2_span = s->cluster_size * s->l2_entries;
    if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return block_err(error, -EFBIG, "L1 table of %u entries is absurd", s->l1_size);
    if ((s->b->length + l2_span - 1) / l2_span > s->l1_size)
        return block_err(error, -EINVAL, "L1 table too small for the virtual size");
    if ((uint64_t)s->reftable_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES || !s->reftable_clusters)
        return block_err(error, -EINVAL, "invalid refcount table size (%u clusters)", s->reftable_clusters);
    if (qcow2_check_offset(s, s->l1_offset, "L1") || qcow2_check_offset(s, s->reftable_offset, "reftable") ||
        qcow2_check_offset(s, s->snapshots_offset, "snapshots") || !s->reftable_offset ||
        (s->l1_size && !s->l1_offset))
        return block_err(error, -EINVAL, "unaligned or missing metadata table offset");
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return block_err(error, -EINVAL, "%u snapshots is absurd", s->nb_snapshots);
    uint64_t C = s->cluster_size;
    uint64_t l1_bytes = (uint64_t)s->l1_size * 8, rt_bytes = (uint64_t)s->reftable_clusters * C;
    if (overlaps(0, C, s->l1_offset, l1_bytes) || overlaps(0, C, s->reftable_offset, rt_bytes) ||
        overlaps(s->l1_offset, l1_bytes, s->reftable_offset, rt_bytes))
        return block_err(error, -EINVAL, "metadata tables overlap");
    if (s->l1_offset + l1_bytes > flen + C || s->reftable_offset + rt_bytes > flen + C)
        return block_err(error, -EINVAL, "metadata tables lie past the end of the file");

    uint64_t bf_off = rd64(h + QH_BACKING_OFFSET);
    uint32_t bf_len = rd32(h + QH_BACKING_SIZE);
    uint64_t ext_end = bf_off ? bf_off : C;
    if (bf_off) {
        if (bf_len == 0 || bf_len > 1023 || bf_off > C || bf_len > C - bf_off)
            return block_err(error, -EINVAL, "invalid backing file name location");
        s->backing_file = strndup((const char *)h + bf_off, bf_len);
        if (!s->backing_file || strlen(s->backing_file) != bf_len)
            return block_err(error, -EINVAL, "invalid backing file name");
    }
    return parse_extensions(s, h, s->header_length, ext_end, error);
}

/* Refcount blocks lie inside the file and each is named once: a hostile
 * table cannot make one block count for many ranges. */
static int check_refblocks(struct qcow2 *s, uint64_t flen, char **error)
{
    uint64_t *offs = malloc(s->reftable_size * 8), n = 0;
    if (!offs)
        return -ENOMEM;
    int r = 0;
    for (uint64_t i = 0; i < s->reftable_size && !r; i++) {
        uint64_t off = s->reftable[i] & QCOW2_REFT_OFFSET_MASK;
        if (off >= flen)
            r = block_err(error, -EINVAL, "refcount block %llu lies past the end of the file", (unsigned long long)i);
        else if (off)
            offs[n++] = off;
    }
    qsort(offs, n, 8, cmp_u64);
    for (uint64_t i = 1; i < n && !r; i++)
        if (offs[i] == offs[i - 1])
            r = block_err(error, -EINVAL, "two refcount table entries name the block at 0x%llx",
                          (unsigned long long)offs[i]);
    free(offs);
    return r;
}

static int load_tables(struct qcow2 *s, uint64_t flen, char **error)
{
    s->l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
    s->reftable_size = (uint64_t)s->reftable_clusters * s->cluster_size / 8;
    s->reftable = calloc(s->reftable_size, 8);
    if (!s->l1 || !s->reftable)
        return -ENOMEM;
    int r = block_file_pread(s->fd, s->l1, (size_t)s->l1_size * 8, s->l1_offset);
    if (!r)
        r = block_file_pread(s->fd, s->reftable, s->reftable_size * 8, s->reftable_offset);
    if (r < 0)
        return block_err(error, r, "cannot read metadata: %s", strerror(-r));
    for (uint32_t i = 0; i < s->l1_size; i++) {
        s->l1[i] = be64toh(s->l1[i]);
        if ((s->l1[i] & QCOW2_L1E_RESERVED) || qcow2_check_offset(s, s->l1[i] & QCOW2_OFFSET_MASK, "L2"))
            return block_err(error, -EINVAL, "invalid L1 entry %u", i);
        if ((s->l1[i] & QCOW2_OFFSET_MASK) >= flen)
            return block_err(error, -EINVAL, "L1 entry %u points past the end of the file", i);
    }
    for (uint64_t i = 0; i < s->reftable_size; i++) {
        s->reftable[i] = be64toh(s->reftable[i]);
        if (qcow2_check_offset(s, s->reftable[i] & QCOW2_REFT_OFFSET_MASK, "refblock") ||
            (s->reftable[i] & ~QCOW2_REFT_OFFSET_MASK))
            return block_err(error, -EINVAL, "invalid refcount table entry %llu", (unsigned long long)i);
    }
    return check_refblocks(s, flen, error);
}

static void qcow2_close(struct block *b)
{
    struct qcow2 *s = qcow2_state(b);
    if (!s)
        return;
    if (!b->readonly && s->l1) {
        qcow2_flush_metadata(s);
        qcow2_flush_metadata(s);     /* the frees applied by the first one */
    }
    qcow2_cache_destroy(&s->l2_cache);
    qcow2_cache_destroy(&s->rb_cache);
    qcow2_free_snapshots(s);
    free(s->l1);
    free(s->reftable);
    free(s->pending_free);
    free(s->inflight);
    free(s->backing_file);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->alloc_done);
    free(s);
    b->opaque = NULL;
}

/* Left open with lazy refcounts: the refcounts are rebuilt from the tables
 * before anything is written, as QEMU does when it opens such an image. */
static int repair_dirty(struct qcow2 *s, char **error)
{
    struct block_check_result res = { 0 };
    int r = qcow2_check_locked(s, BLOCK_FIX_ALL, &res);
    if (r < 0)
        return block_err(error, r, "image was not closed cleanly and its repair failed: %s", strerror(-r));
    if (s->incompat & QCOW2_INCOMPAT_DIRTY)
        return block_err(error, -EIO, "image was not closed cleanly and cannot be repaired (%s)", res.first_error);
    return 0;
}

static int qcow2_open(struct block *b, char **error)
{
    struct qcow2 *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    b->opaque = s;
    s->b = b;
    s->fd = b->fd;
    s->l1_dirty_lo = UINT32_MAX;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->alloc_done, NULL);
    off_t flen = lseek(b->fd, 0, SEEK_END);
    uint8_t head[32];
    int r = block_file_pread(b->fd, head, sizeof(head), 0);
    uint32_t bits = r ? 0 : rd32(head + 20);
    uint8_t *h = NULL;
    if (!r && (bits < 9 || bits > 21))
        r = block_err(error, -EINVAL, "invalid cluster size 2^%u", bits);
    if (!r && !(h = calloc(1, 1u << bits)))
        r = -ENOMEM;
    if (!r)
        r = block_file_pread(b->fd, h, 1u << bits, 0);
    s->file_end = flen < 0 ? 0 : (uint64_t)flen;
    if (!r)
        r = parse_header(s, h, s->file_end, error);
    free(h);
    if (!r)
        r = load_tables(s, s->file_end, error);
    if (!r)
        r = qcow2_read_snapshots(s, error);
    if (!r) {
        qcow2_cache_init(&s->l2_cache, s->cluster_size, (unsigned)(L2_CACHE_BYTES / s->cluster_size));
        qcow2_cache_init(&s->rb_cache, s->cluster_size, (unsigned)(RB_CACHE_BYTES / s->cluster_size));
    }
    if (!r && !b->readonly && !b->defer_repair && (s->incompat & QCOW2_INCOMPAT_DIRTY))
        r = repair_dirty(s, error);
    if (!r && !b->readonly && s->autoclear) {
        /* Bitmaps and the like we do not keep up to date become invalid. */
        uint64_t zero = 0;
        if ((r = qcow2_write_header_field(s, QH_AUTOCLEAR, &zero, 8)) == 0)
            s->autoclear = 0;
    }
    if (r < 0) {
        qcow2_close(b);
        return r;
    }
    return 0;
}

int qcow2_l2_load(struct qcow2 *s, uint64_t l1e, uint8_t **table)
{
    uint64_t off = l1e & QCOW2_OFFSET_MASK;
    if (qcow2_check_offset(s, off, "L2") || off == 0)
        return -EIO;
    return qcow2_cache_get(s, &s->l2_cache, off, false, table);
}

/* One run of guest clusters that read the same way. */
enum run_kind { RUN_UNALLOC, RUN_ZERO, RUN_DATA, RUN_COMPRESSED };

/* @nowait: -EAGAIN rather than reading an L2 table that is not cached. */
static int map_run(struct qcow2 *s, uint64_t off, uint64_t len, bool nowait, enum run_kind *kind,
                   uint64_t *host, uint64_t *n, uint64_t *l2e_out)
{
    uint64_t gc = off >> s->cluster_bits, in = off & (s->cluster_size - 1);
    uint64_t l1i = gc / s->l2_entries, l2i = gc % s->l2_entries;
    uint64_t avail = (s->l2_entries - l2i) * s->cluster_size - in;   /* to the end of this L2 table */
    if (avail > len)
        avail = len;
    *n = avail;
    if (l1i >= s->l1_size || !(s->l1[l1i] & QCOW2_OFFSET_MASK)) {
        *kind = RUN_UNALLOC;
        return 0;
    }
    uint8_t *t = NULL;
    int r = nowait ? 0 : qcow2_l2_load(s, s->l1[l1i], &t);
    if (nowait && !(t = qcow2_cache_peek(&s->l2_cache, s->l1[l1i] & QCOW2_OFFSET_MASK)))
        r = -EAGAIN;
    if (r < 0)
        return r;
    uint64_t e = qcow2_l2_get(t, l2i);
    *l2e_out = e;
    uint64_t clusters = qcow2_size_to_clusters(s, in + avail);
    uint64_t i = 1;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        *kind = RUN_COMPRESSED;
        clusters = 1;
    } else if ((e & QCOW2_L2E_RESERVED) || qcow2_check_offset(s, e & QCOW2_OFFSET_MASK, "data")) {
        return -EIO;
    } else if (s->version >= 3 && (e & QCOW2_OFLAG_ZERO)) {
        *kind = RUN_ZERO;
        while (i < clusters && s->version >= 3 && (qcow2_l2_get(t, l2i + i) & (QCOW2_OFLAG_ZERO | QCOW2_OFLAG_COMPRESSED)) == QCOW2_OFLAG_ZERO)
            i++;
    } else if (!(e & QCOW2_OFFSET_MASK)) {
        *kind = RUN_UNALLOC;
        while (i < clusters && qcow2_l2_get(t, l2i + i) == 0)
            i++;
    } else {
        *kind = RUN_DATA;
        *host = (e & QCOW2_OFFSET_MASK) + in;
        uint64_t base = e & QCOW2_OFFSET_MASK;
        while (i < clusters) {
            uint64_t f = qcow2_l2_get(t, l2i + i);
            if ((f & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO | QCOW2_L2E_RESERVED)) ||
                (f & QCOW2_OFFSET_MASK) != base + i * s->cluster_size)
                break;
            i++;
        }
    }
    uint64_t run = i * s->cluster_size - in;
    if (run < *n)
        *n = run;
    return 0;
}

/* @nowait: never block (the lock is only tried, nothing is read that is not cached). */
static int read_runs(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len, bool nowait)
{
    struct qcow2 *s = qcow2_state(b);
    uint64_t pos = 0;
    while (pos < len) {
        enum run_kind kind;
        uint64_t host = 0, n, l2e = 0;
        if (!nowait)
            pthread_mutex_lock(&s->lock);
        else if (pthread_mutex_trylock(&s->lock))
            return -EAGAIN;
        int r = map_run(s, off + pos, len - pos, nowait, &kind, &host, &n, &l2e);
        if (!nowait)
            qcow2_cache_trim(&s->l2_cache);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
            return r;
        if (nowait && kind == RUN_COMPRESSED)
            return -EAGAIN;          /* inflating is CPU work for a worker */
        switch (kind) {
        case RUN_UNALLOC:
            r = nowait ? block_read_backing_nowait(b, iov, niov, pos, off + pos, n)
                       : block_read_backing(b, iov, niov, pos, off + pos, n);
            break;
        case RUN_ZERO:
            block_iov_memset(iov, niov, pos, 0, n);
            break;
        case RUN_DATA: {
            int cnt;
            struct iovec *v = block_iov_slice(iov, niov, pos, n, &cnt);
            r = !v ? -ENOMEM : nowait ? block_file_preadv_nowait(s->fd, v, cnt, host, n)
                                      : block_file_preadv(s->fd, v, cnt, host, n);
            free(v);
            break;
        }
        case RUN_COMPRESSED: {
            uint8_t *buf = malloc(s->cluster_size);
            r = buf ? qcow2_decompress(s, l2e, buf) : -ENOMEM;
            if (!r)
                block_iov_from_buf(iov, niov, pos, buf + ((off + pos) & (s->cluster_size - 1)), n);
            free(buf);
            break;
        }
        }
        if (r < 0)
            return r;
        pos += n;
    }
    return 0;
}

static int qcow2_preadv(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return read_runs(b, iov, niov, off, len, false);
}

static int qcow2_preadv_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return read_runs(b, iov, niov, off, len, true);
}

static int qcow2_status(struct block *b, uint64_t off, uint64_t len, uint64_t *pnum)
{
    struct qcow2 *s = qcow2_state(b);
    enum run_kind kind;
    uint64_t host, l2e;
    pthread_mutex_lock(&s->lock);
    int r = map_run(s, off, len, false, &kind, &host, pnum, &l2e);
    qcow2_cache_trim(&s->l2_cache);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    switch (kind) {
    case RUN_UNALLOC: return b->backing ? 0 : BLOCK_STATUS_ZERO;
    case RUN_ZERO: return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_ZERO;
    default: return BLOCK_STATUS_ALLOCATED;
    }
}

static void qcow2_info(struct block *b, struct block_info *info)
{
    struct qcow2 *s = qcow2_state(b);
    info->cluster_size = (uint32_t)s->cluster_size;
    info->version = (int)s->version;
    info->refcount_bits = s->refcount_bits;
    info->lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
    info->corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
    info->compression = s->compression == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib";
    if (s->backing_file)
        snprintf(info->backing_file, sizeof(info->backing_file), "%s", s->backing_file);
    if (s->backing_format)
        snprintf(info->backing_format, sizeof(info->backing_format), "%s", block_format_name(s->backing_format));
    info->nsnapshots = s->nb_snapshots;
}

static const char *qcow2_backing_name(struct block *b, enum block_format *fmt)
{
    struct qcow2 *s = qcow2_state(b);
    *fmt = s->backing_format;
    return s->backing_file;
}

const struct block_driver block_qcow2_driver = {
    .name = "qcow2",
    .format = BLOCK_FMT_QCOW2,
    .open = qcow2_open,
    .close = qcow2_close,
    .preadv = qcow2_preadv,
    .preadv_nowait = qcow2_preadv_nowait,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .status = qcow2_status,
    .info = qcow2_info,
    .backing_name = qcow2_backing_name,
};
