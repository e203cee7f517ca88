/* File and iovec helpers shared by the format drivers. */
#include "block_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int block_err(char **error, int err, const char *fmt, ...)
{
    if (error && !*error) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(error, fmt, ap) < 0)
            *error = NULL;
        va_end(ap);
    }
    return err;
}

int block_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
    struct iovec v = { buf, len };
    return block_file_preadv(fd, &v, 1, off, len);
}

int block_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = { (void *)buf, len };
    return block_file_pwritev(fd, &v, 1, off, len);
}

/* One loop for both directions: advances through the iovecs on short transfers. */
static int file_rw(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len, bool write)
{
    uint64_t done = 0;
    if (niov <= IOV_MAX) {           /* the usual case: one call, no copy of the iovecs */
        ssize_t r = write ? pwritev(fd, iov, niov, (off_t)off) : preadv(fd, iov, niov, (off_t)off);
        if (r > 0)
            done = (uint64_t)r;
        if (done == len)
            return 0;
    }
    while (done < len) {
        int n;
        struct iovec *v = block_iov_slice(iov, niov, done, len - done, &n);
        if (!v)
            return -ENOMEM;
        if (n > IOV_MAX)
            n = IOV_MAX;
        ssize_t r = write ? pwritev(fd, v, n, (off_t)(off + done)) : preadv(fd, v, n, (off_t)(off + done));
        int e = errno;
        if (r == 0 && !write) {      /* past the end of the file: zeroes */
            block_iov_memset(v, n, 0, 0, len - done);
            free(v);
            return 0;
        }
        free(v);
        if (r < 0 && e == EINTR)
            continue;
        if (r < 0)
            return -e;
        if (r == 0)
            return -EIO;
        done += (uint64_t)r;
    }
    return 0;
}

int block_file_preadv(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return file_rw(fd, iov, niov, off, len, false);
}

int block_file_pwritev(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return file_rw(fd, iov, niov, off, len, true);
}

int block_file_preadv_nowait(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    /* A short read (part cached, or the end of the file) goes the slow way too. */
    if (niov > IOV_MAX)
        return -EAGAIN;
    ssize_t r = preadv2(fd, iov, niov, (off_t)off, RWF_NOWAIT);
    return r >= 0 && (uint64_t)r == len ? 0 : -EAGAIN;
}

struct iovec *block_iov_slice(const struct iovec *iov, int niov, uint64_t skip, uint64_t len, int *out_n)
{
    struct iovec *dst = malloc(sizeof(*dst) * (size_t)(niov ? niov : 1));
    int out = 0;
    if (!dst)
        return NULL;
    for (int i = 0; i < niov && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        uint64_t k = iov[i].iov_len - skip;
        if (k > len)
            k = len;
        dst[out++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, (size_t)k };
        skip = 0;
        len -= k;
    }
    *out_n = out;
    return dst;
}

/* Walks [skip, skip+len) of the iovecs, calling @fn on each piece. */
static void iov_walk(const struct iovec *iov, int niov, uint64_t skip, uint64_t len,
                     void (*fn)(void *piece, size_t n, size_t pos, void *arg), void *arg)
{
    size_t pos = 0;
    for (int i = 0; i < niov && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - skip;
        if (k > len)
            k = (size_t)len;
        fn((uint8_t *)iov[i].iov_base + skip, k, pos, arg);
        pos += k;
        skip = 0;
        len -= k;
    }
}

static void piece_set(void *p, size_t n, size_t pos, void *arg) { memset(p, *(int *)arg, n); }
static void piece_out(void *p, size_t n, size_t pos, void *arg) { memcpy((uint8_t *)arg + pos, p, n); }
static void piece_in(void *p, size_t n, size_t pos, void *arg) { memcpy(p, (const uint8_t *)arg + pos, n); }

void block_iov_memset(const struct iovec *iov, int niov, uint64_t skip, int c, uint64_t len)
{
    iov_walk(iov, niov, skip, len, piece_set, &c);
}

void block_iov_to_buf(const struct iovec *iov, int niov, uint64_t skip, void *buf, uint64_t len)
{
    iov_walk(iov, niov, skip, len, piece_out, buf);
}

void block_iov_from_buf(const struct iovec *iov, int niov, uint64_t skip, const void *buf, uint64_t len)
{
    iov_walk(iov, niov, skip, len, piece_in, (void *)buf);
}

static int read_backing(struct block *b, const struct iovec *iov, int niov, uint64_t skip,
                        uint64_t off, uint64_t len, bool nowait)
{
    int (*rd)(struct block *, const struct iovec *, int, uint64_t) = nowait ? block_preadv_nowait : block_preadv;
    uint64_t have = 0;
    if (b->backing && off < b->backing->length)
        have = b->backing->length - off < len ? b->backing->length - off : len;
    if (have && have == len && skip == 0)
        return rd(b->backing, iov, niov, off);
    if (have) {
        int n;
        struct iovec *v = block_iov_slice(iov, niov, skip, have, &n);
        if (!v)
            return -ENOMEM;
        int r = rd(b->backing, v, n, off);
        free(v);
        if (r < 0)
            return r;
    }
    if (have < len)
        block_iov_memset(iov, niov, skip + have, 0, len - have);
    return 0;
}

int block_read_backing(struct block *b, const struct iovec *iov, int niov, uint64_t skip,
                       uint64_t off, uint64_t len)
{
    return read_backing(b, iov, niov, skip, off, len, false);
}

int block_read_backing_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t skip,
                              uint64_t off, uint64_t len)
{
    return read_backing(b, iov, niov, skip, off, len, true);
}

int block_reserve(void *pp, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 32;
    if (n < want)
        n = want;
    void *p = realloc(*(void **)pp, n * elem);
    if (!p)
        return -ENOMEM;
    *(void **)pp = p;
    *cap = n;
    return 0;
}
