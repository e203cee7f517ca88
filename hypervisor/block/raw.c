/* Raw images: the file is the disk. Regular files or block devices. */
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int raw_open(struct block *b, char **error)
{
    struct stat st;
    if (fstat(b->fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &b->length) < 0)
            return -errno;
    } else {
        b->length = (uint64_t)st.st_size;
    }
    return 0;
}

static void raw_close(struct block *b) {}

static int raw_preadv(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return block_file_preadv(b->fd, iov, niov, off, len);
}

static int raw_pwritev(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len)
{
    return block_file_pwritev(b->fd, iov, niov, off, len);
}

static int raw_preadv_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t off,
                             uint64_t len)
{
    return block_file_preadv_nowait(b->fd, iov, niov, off, len);
}

static int raw_flush(struct block *b)
{
    return fdatasync(b->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct block *b, uint64_t off, uint64_t len)
{
    if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;   /* only a hint */
}

/* Zeroes must read back whatever happens: punch (unmap), else zero in
 * place keeping the allocation, else plain writes. */
static int raw_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap)
{
    if (unmap && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    static const uint8_t zeros[65536];
    while (len) {
        size_t k = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        int r = block_file_pwrite(b->fd, zeros, k, off);
        if (r < 0)
            return r;
        off += k;
        len -= k;
    }
    return 0;
}

/* Holes read as zeroes; SEEK_DATA finds where data starts again. */
static int raw_status(struct block *b, uint64_t off, uint64_t len, uint64_t *pnum)
{
    off_t data = lseek(b->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {           /* a hole up to the end */
        *pnum = len;
        return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_ZERO;
    }
    if (data < 0 || (uint64_t)data <= off) {
        off_t hole = data < 0 ? -1 : lseek(b->fd, (off_t)off, SEEK_HOLE);
        uint64_t n = hole > (off_t)off ? (uint64_t)hole - off : len;
        *pnum = n < len ? n : len;
        return BLOCK_STATUS_ALLOCATED;
    }
    uint64_t n = (uint64_t)data - off;
    *pnum = n < len ? n : len;
    return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_ZERO;
}

static void raw_info(struct block *b, struct block_info *info) {}

const struct block_driver block_raw_driver = {
    .name = "raw",
    .format = BLOCK_FMT_RAW,
    .open = raw_open,
    .close = raw_close,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .preadv_nowait = raw_preadv_nowait,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .status = raw_status,
    .info = raw_info,
};
