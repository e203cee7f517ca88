/* Creating images (raw, qcow2) and rewriting a qcow2 backing file name. */
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCOW2_V3_HEADER_LENGTH 112

static void wr32(uint8_t *p, uint32_t v) { *(uint32_t *)p = htobe32(v); }
static void wr64(uint8_t *p, uint64_t v) { *(uint64_t *)p = htobe64(v); }

/* Header extensions and the backing file name, from @pos in cluster 0.
 * Returns the end, or 0 if they do not fit. */
static uint64_t put_backing(uint8_t *h, uint64_t pos, uint64_t C, const char *name, enum block_format fmt)
{
    if (name && fmt != BLOCK_FMT_AUTO) {
        const char *f = block_format_name(fmt);
        size_t n = strlen(f);
        wr32(h + pos, QCOW2_EXT_BACKING_FORMAT);
        wr32(h + pos + 4, (uint32_t)n);
        memcpy(h + pos + 8, f, n);
        pos += 8 + ((n + 7) & ~7u);
    }
    memset(h + pos, 0, 8);           /* end of extensions */
    pos += 8;
    size_t n = name ? strlen(name) : 0;
    if (pos + n > C)
        return 0;
    wr64(h + QH_BACKING_OFFSET, n ? pos : 0);
    wr32(h + QH_BACKING_SIZE, (uint32_t)n);
    if (n)
        memcpy(h + pos, name, n);
    return pos + n;
}

static int open_locked(const char *path, char **error)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return block_err(error, -errno, "cannot create %s: %s", path, strerror(errno));
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0 && (errno == EAGAIN || errno == EACCES)) {
        close(fd);
        return block_err(error, -EBUSY, "cannot create %s: it is in use by another process", path);
    }
    if (ftruncate(fd, 0) < 0) {
        int e = errno;
        close(fd);
        return block_err(error, -e, "cannot create %s: %s", path, strerror(e));
    }
    return fd;
}

static int create_qcow2(int fd, const struct block_create_opts *o, uint64_t size, enum block_format bfmt, char **error)
{
    uint64_t C = o->cluster_size ? o->cluster_size : 65536;
    unsigned rbits = o->refcount_bits ? o->refcount_bits : 16;
    int version = o->version ? o->version : 3;
    if (C < 512 || C > (2u << 20) || (C & (C - 1)))
        return block_err(error, -EINVAL, "cluster size must be a power of two from 512 to 2M");
    if (rbits > 64 || (rbits & (rbits - 1)) || (version == 2 && rbits != 16))
        return block_err(error, -EINVAL, "refcount bits must be a power of two up to 64 (16 for version 2)");
    if (version != 2 && version != 3)
        return block_err(error, -EINVAL, "qcow2 version must be 2 or 3");
    if (version == 2 && o->zstd)
        return block_err(error, -EINVAL, "zstd compression needs qcow2 version 3");
    if (size > QCOW2_MAX_SIZE / 4)
        return block_err(error, -EFBIG, "size is too large");
    unsigned cbits = (unsigned)__builtin_ctzll(C);
    uint64_t l2_span = C * (C / 8), E = C * 8 / rbits;
    uint64_t l1_size = (size + l2_span - 1) / l2_span;
    uint64_t l1c = (l1_size * 8 + C - 1) / C;
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return block_err(error, -EFBIG, "size is too large for %llu-byte clusters", (unsigned long long)C);
    uint64_t rt = 1, rb = 1;
    for (;;) {                       /* header, refcount table, refcount blocks, L1 */
        uint64_t total = 1 + rt + rb + l1c;
        uint64_t rb2 = (total + E - 1) / E, rt2 = (rb2 * 8 + C - 1) / C;
        if (rb2 == rb && rt2 == rt)
            break;
        rb = rb2;
        rt = rt2;
    }
    uint64_t total = 1 + rt + rb + l1c;
    uint8_t *buf = calloc(total, C);
    if (!buf)
        return -ENOMEM;
    uint8_t *h = buf;
    wr32(h, QCOW2_MAGIC);
    wr32(h + 4, (uint32_t)version);
    wr32(h + 20, cbits);
    wr64(h + 24, size);
    wr32(h + 36, (uint32_t)l1_size);
    wr64(h + 40, l1_size ? (1 + rt + rb) * C : 0);
    wr64(h + 48, C);
    wr32(h + 56, (uint32_t)rt);
    uint64_t hlen = 72;
    if (version == 3) {
        hlen = QCOW2_V3_HEADER_LENGTH;
        wr64(h + 72, o->zstd ? QCOW2_INCOMPAT_COMPRESSION : 0);
        wr32(h + 96, (uint32_t)__builtin_ctz(rbits));
        wr32(h + 100, (uint32_t)hlen);
        h[104] = o->zstd ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_ZLIB;
    }
    int r = 0;
    if (!put_backing(h, hlen, C, o->backing_file, bfmt))
        r = block_err(error, -ENAMETOOLONG, "backing file name too long");
    uint64_t *table = (uint64_t *)(buf + C);
    for (uint64_t i = 0; i < rb; i++)
        table[i] = htobe64((1 + rt + i) * C);
    uint8_t *blocks = buf + (1 + rt) * C;
    for (uint64_t c = 0; c < total; c++) {  /* refcount 1 for each cluster we use */
        uint8_t *blk = blocks + (c / E) * C;
        uint64_t i = c % E;
        switch (rbits) {
        case 64: ((uint64_t *)blk)[i] = htobe64(1); break;
        case 32: ((uint32_t *)blk)[i] = htobe32(1); break;
        case 16: ((uint16_t *)blk)[i] = htobe16(1); break;
        case 8: blk[i] = 1; break;
        default: blk[i * rbits / 8] |= (uint8_t)(1u << (i * rbits % 8)); break;
        }
    }
    if (!r && (r = block_file_pwrite(fd, buf, total * C, 0)) < 0)
        block_err(error, r, "cannot write: %s", strerror(-r));
    free(buf);
    return r;
}

int block_create(const char *path, const struct block_create_opts *o, char **error)
{
    if (error)
        *error = NULL;
    if (o->format != BLOCK_FMT_RAW && o->format != BLOCK_FMT_QCOW2)
        return block_err(error, -EINVAL, "format must be raw or qcow2");
    if (o->backing_file && o->format != BLOCK_FMT_QCOW2)
        return block_err(error, -EINVAL, "only qcow2 images have a backing file");
    uint64_t size = o->size;
    enum block_format bfmt = o->backing_format;
    if (o->backing_file) {
        /* Relative names are relative to the new image, as when it is opened. */
        char *copy = strdup(path), *full = NULL;
        if (o->backing_file[0] == '/')
            full = strdup(o->backing_file);
        else if (copy && asprintf(&full, "%s/%s", dirname(copy), o->backing_file) < 0)
            full = NULL;
        free(copy);
        struct block *bb;
        struct block_open_opts bo = { .format = bfmt, .readonly = true, .no_lock = true };
        char *why = NULL;
        int r = full ? block_open(full, &bo, &bb, &why) : -ENOMEM;
        free(full);
        if (r < 0) {
            block_err(error, r, "backing file: %s", why ? why : strerror(-r));
            free(why);
            return r;
        }
        if (!size)
            size = block_length(bb);
        if (bfmt == BLOCK_FMT_AUTO)
            bfmt = block_get_format(bb);
        block_close(bb);
    }
    int fd = open_locked(path, error);
    if (fd < 0)
        return fd;
    int r = 0;
    if (o->format == BLOCK_FMT_RAW) {
        if (ftruncate(fd, (off_t)size) < 0)
            r = block_err(error, -errno, "cannot create %s: %s", path, strerror(errno));
    } else {
        char *why = NULL;
        r = create_qcow2(fd, o, size, bfmt, &why);
        if (r < 0)
            block_err(error, r, "cannot create %s: %s", path, why ? why : strerror(-r));
        free(why);
    }
    if (!r && fsync(fd) < 0)
        r = block_err(error, -errno, "cannot create %s: %s", path, strerror(errno));
    close(fd);
    return r;
}

int block_set_backing(struct block *b, const char *name, enum block_format fmt, char **error)
{
    if (error)
        *error = NULL;
    if (b->drv != &block_qcow2_driver)
        return block_err(error, -ENOTSUP, "%s: only qcow2 images have a backing file", b->path);
    if (b->readonly)
        return block_err(error, -EROFS, "%s: image is open read-only", b->path);
    struct qcow2 *s = qcow2_state(b);
    pthread_mutex_lock(&s->lock);
    uint8_t *h = calloc(1, s->cluster_size);
    int r = h ? block_file_pread(s->fd, h, s->cluster_size, 0) : -ENOMEM;
    /* Keep the other extensions; the backing format one is rewritten. */
    uint64_t p = s->header_length, out = s->header_length;
    uint64_t end = s->backing_file ? be64toh(*(uint64_t *)(h + QH_BACKING_OFFSET)) : s->cluster_size;
    uint8_t *exts = h ? calloc(1, s->cluster_size) : NULL;
    uint64_t elen = 0;
    while (!r && exts && p + 8 <= end) {
        uint32_t type = be32toh(*(uint32_t *)(h + p)), len = be32toh(*(uint32_t *)(h + p + 4));
        uint64_t whole = 8 + ((len + 7) & ~7u);
        if (type == QCOW2_EXT_END || p + whole > end)
            break;
        if (type != QCOW2_EXT_BACKING_FORMAT) {
            memcpy(exts + elen, h + p, whole);
            elen += whole;
        }
        p += whole;
    }
    if (!r && !exts)
        r = -ENOMEM;
    if (!r) {
        memset(h + out, 0, s->cluster_size - out);
        memcpy(h + out, exts, elen);
        if (!put_backing(h, out + elen, s->cluster_size, name, name ? fmt : BLOCK_FMT_AUTO))
            r = -ENAMETOOLONG;
    }
    if (!r)
        r = qcow2_flush_metadata(s);
    if (!r)
        r = qcow2_write_header_field(s, 0, h, s->cluster_size);
    if (!r) {
        free(s->backing_file);
        s->backing_file = name ? strdup(name) : NULL;
        s->backing_format = name ? fmt : BLOCK_FMT_AUTO;
    }
    pthread_mutex_unlock(&s->lock);
    free(h);
    free(exts);
    if (r < 0)
        block_err(error, r, "%s: cannot change the backing file: %s", b->path, strerror(-r));
    return r;
}
