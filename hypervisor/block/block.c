/* Opening images: format probing, OFD locks, backing chains; request
 * checks and dispatch to the format driver. */
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_MAX_CHAIN 1024         /* backing files; each holds one fd */

static const struct block_driver *const drivers[] = { &block_raw_driver, &block_qcow2_driver };

const char *block_format_name(enum block_format f)
{
    return f == BLOCK_FMT_RAW ? "raw" : f == BLOCK_FMT_QCOW2 ? "qcow2" : "auto";
}

int block_parse_format(const char *name, enum block_format *out)
{
    if (!strcmp(name, "raw"))
        *out = BLOCK_FMT_RAW;
    else if (!strcmp(name, "qcow2"))
        *out = BLOCK_FMT_QCOW2;
    else if (!strcmp(name, "auto"))
        *out = BLOCK_FMT_AUTO;
    else
        return -EINVAL;
    return 0;
}

static enum block_format probe(int fd)
{
    uint8_t magic[4] = { 0 };
    if (pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) && !memcmp(magic, "QFI\xfb", 4))
        return BLOCK_FMT_QCOW2;
    return BLOCK_FMT_RAW;
}

/* Writers take a write lock, readers (including every backing file) a read
 * lock: linked clones share a base, and nobody writes an image in use. */
static int lock_image(int fd, const char *path, bool readonly, char **error)
{
    struct flock fl = { .l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    if (errno == EAGAIN || errno == EACCES)
        return block_err(error, -EBUSY, "%s: it is in use by another process%s", path,
                         readonly ? " that writes to it" : "");
    return 0;                        /* a filesystem without locks is used unlocked */
}

/* The chain so far, to refuse a backing file that is already in it. */
struct chain_seen {
    dev_t dev[BLOCK_MAX_CHAIN];
    ino_t ino[BLOCK_MAX_CHAIN];
    unsigned n;
};

static int open_one(const char *path, const struct block_open_opts *opts, struct chain_seen *seen,
                    struct block **out, char **error);

/* A relative backing name is relative to the folder of the image naming it. */
static char *backing_path(const char *image, const char *name)
{
    if (name[0] == '/')
        return strdup(name);
    char *copy = strdup(image);
    char *p = NULL;
    if (copy && asprintf(&p, "%s/%s", dirname(copy), name) < 0)
        p = NULL;
    free(copy);
    return p;
}

static int open_backing(struct block *b, struct chain_seen *seen, char **error)
{
    enum block_format fmt = BLOCK_FMT_AUTO;
    const char *name = b->drv->backing_name ? b->drv->backing_name(b, &fmt) : NULL;
    if (!name)
        return 0;
    if (seen->n >= BLOCK_MAX_CHAIN)
        return block_err(error, -ELOOP, "%s: backing chain longer than %d images", b->path, BLOCK_MAX_CHAIN);
    char *p = backing_path(b->path, name);
    if (!p)
        return -ENOMEM;
    struct block_open_opts o = { .format = fmt, .readonly = true };
    char *sub = NULL;
    int r = open_one(p, &o, seen, &b->backing, &sub);
    if (r < 0)
        block_err(error, r, "%s: backing file %s", b->path, sub ? sub : strerror(-r));
    free(sub);
    free(p);
    return r;
}

static int open_one(const char *path, const struct block_open_opts *opts, struct chain_seen *seen,
                    struct block **out, char **error)
{
    int fd = open(path, (opts->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return block_err(error, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0)
        r = block_err(error, -errno, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        r = block_err(error, -EINVAL, "%s: not a regular file or block device", path);
    for (unsigned i = 0; !r && i < seen->n; i++)
        if (seen->dev[i] == st.st_dev && seen->ino[i] == st.st_ino)
            r = block_err(error, -ELOOP, "%s: the backing chain loops back to it", path);
    if (!r && !opts->no_lock)
        r = lock_image(fd, path, opts->readonly, error);
    if (r) {
        close(fd);
        return r;
    }
    seen->dev[seen->n] = st.st_dev;
    seen->ino[seen->n++] = st.st_ino;

    enum block_format fmt = opts->format ? opts->format : probe(fd);
    struct block *b = calloc(1, sizeof(*b));
    if (!b || !(b->path = strdup(path))) {
        free(b);
        close(fd);
        return -ENOMEM;
    }
    b->fd = fd;
    b->readonly = opts->readonly;
    b->defer_repair = opts->defer_repair;
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (drivers[i]->format == fmt)
            b->drv = drivers[i];
    char *why = NULL;
    r = b->drv->open(b, &why);
    if (r < 0) {
        block_err(error, r, "%s: %s", path, why ? why : strerror(-r));
        free(why);
        close(fd);
        free(b->path);
        free(b);
        return r;
    }
    if (!opts->no_backing && (r = open_backing(b, seen, error)) < 0) {
        block_close(b);
        return r;
    }
    *out = b;
    return 0;
}

int block_open(const char *path, const struct block_open_opts *opts, struct block **out, char **error)
{
    static const struct block_open_opts defaults;
    struct chain_seen *seen = calloc(1, sizeof(*seen));
    if (error)
        *error = NULL;
    if (!seen)
        return -ENOMEM;
    int r = open_one(path, opts ? opts : &defaults, seen, out, error);
    free(seen);
    return r;
}

void block_close(struct block *b)
{
    while (b) {
        struct block *next = b->backing;
        if (!b->readonly)
            block_flush(b);
        b->drv->close(b);
        close(b->fd);
        free(b->path);
        free(b);
        b = next;
    }
}

uint64_t block_length(const struct block *b) { return b->length; }
bool block_readonly(const struct block *b) { return b->readonly; }
const char *block_path(const struct block *b) { return b->path; }
struct block *block_backing(const struct block *b) { return b->backing; }
enum block_format block_get_format(const struct block *b) { return b->drv->format; }

static int check_range(const struct block *b, uint64_t off, uint64_t len)
{
    return off > b->length || len > b->length - off ? -EINVAL : 0;
}

static uint64_t iov_total(const struct iovec *iov, int niov)
{
    uint64_t n = 0;
    for (int i = 0; i < niov; i++)
        n += iov[i].iov_len;
    return n;
}

int block_preadv(struct block *b, const struct iovec *iov, int niov, uint64_t off)
{
    uint64_t len = iov_total(iov, niov);
    int r = check_range(b, off, len);
    return r ? r : len ? b->drv->preadv(b, iov, niov, off, len) : 0;
}

int block_preadv_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t off)
{
    uint64_t len = iov_total(iov, niov);
    if (!b->drv->preadv_nowait)
        return -EAGAIN;
    int r = check_range(b, off, len);
    return r ? r : len ? b->drv->preadv_nowait(b, iov, niov, off, len) : 0;
}

int block_pwritev(struct block *b, const struct iovec *iov, int niov, uint64_t off)
{
    uint64_t len = iov_total(iov, niov);
    if (b->readonly)
        return -EROFS;
    int r = check_range(b, off, len);
    return r ? r : len ? b->drv->pwritev(b, iov, niov, off, len) : 0;
}

int block_pread(struct block *b, void *buf, size_t len, uint64_t off)
{
    struct iovec v = { buf, len };
    return block_preadv(b, &v, 1, off);
}

int block_pwrite(struct block *b, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = { (void *)buf, len };
    return block_pwritev(b, &v, 1, off);
}

int block_flush(struct block *b)
{
    return b->readonly ? 0 : b->drv->flush(b);
}

int block_discard(struct block *b, uint64_t off, uint64_t len)
{
    if (b->readonly)
        return -EROFS;
    int r = check_range(b, off, len);
    return r ? r : len ? b->drv->discard(b, off, len) : 0;
}

int block_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap)
{
    if (b->readonly)
        return -EROFS;
    int r = check_range(b, off, len);
    return r ? r : len ? b->drv->write_zeroes(b, off, len, unmap) : 0;
}

int block_status(struct block *b, uint64_t off, uint64_t len, uint64_t *pnum)
{
    int r = check_range(b, off, len);
    if (r)
        return r;
    if (!len) {
        *pnum = 0;
        return BLOCK_STATUS_ALLOCATED;
    }
    return b->drv->status(b, off, len, pnum);
}

int block_get_info(struct block *b, struct block_info *info)
{
    struct stat st;
    memset(info, 0, sizeof(*info));
    info->format = b->drv->format;
    info->virtual_size = b->length;
    if (fstat(b->fd, &st) == 0)
        info->disk_size = (uint64_t)st.st_blocks * 512;
    b->drv->info(b, info);
    return 0;
}
