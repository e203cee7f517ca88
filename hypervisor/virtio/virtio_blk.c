/* virtio-blk (virtio 1.x 5.2) on a raw image file or block device.
 *
 * Requests are served synchronously on the I/O thread for now, straight
 * from and into guest memory with preadv/pwritev on the chain's iovecs. */
#include "virtio_blk.h"
#include "core/config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE        256
#define BLK_SEG_MAX           (VIRTQ_MAX_SEGS - 2)   /* plus header and status */
#define BLK_MAX_DWZ_SECTORS   0x400000u              /* 2 GiB per discard/zeroes segment */
#define BLK_MAX_DWZ_SEG       16

struct virtio_blk_config {           /* 5.2.4, up to write_zeroes_may_unmap */
    uint64_t capacity;
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t cylinders;
    uint8_t heads, sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp, alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback, unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config layout");

/* Device state for save/restore (the transport saves queues and features). */
#define VIRTIO_BLK_STATE_VERSION 1
struct virtio_blk_state {
    uint32_t version;
    uint64_t capacity;               /* sectors */
    uint8_t readonly;
    char serial[VIRTIO_BLK_ID_BYTES];
};

struct virtio_blk {
    struct virtio_device vdev;
    int fd;
    bool readonly;
    uint64_t capacity;               /* 512-byte sectors */
    char serial[VIRTIO_BLK_ID_BYTES]; /* NUL-padded, not terminated at 20 */
    struct virtio_blk_config config;
    struct virtio_blk_state state;
    /* I/O thread scratch, under vdev.lock */
    struct virtq_chain chain;
    struct iovec iov[VIRTQ_MAX_SEGS];
};

/* ---- requests ---- */

static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t count)
{
    return sector <= blk->capacity && count <= blk->capacity - sector;
}

/* Drops @done bytes from the front of an iovec array after a short transfer. */
static void iov_advance(struct iovec **iov, unsigned *n, size_t done)
{
    while (*n && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n && done) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + done;
        (*iov)->iov_len -= done;
    }
}

/* Reads or writes @len bytes at @sector between the file and bytes
 * [skip, skip+len) of the chain's iovecs. */
static uint8_t blk_rw(struct virtio_blk *blk, const struct iovec *iov, unsigned n, size_t skip,
                      uint64_t len, uint64_t sector, bool write)
{
    if (write && blk->readonly)
        return VIRTIO_BLK_S_IOERR;   /* 5.2.6.2: MUST fail, write nothing */
    if (len % VIRTIO_BLK_SECTOR || !blk_range_ok(blk, sector, len / VIRTIO_BLK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    struct iovec *v = blk->iov;
    unsigned cnt = iov_slice(iov, n, skip, len, v, VIRTQ_MAX_SEGS);
    off_t off = (off_t)(sector * VIRTIO_BLK_SECTOR);
    while (len) {
        ssize_t r = write ? pwritev(blk->fd, v, (int)cnt, off) : preadv(blk->fd, v, (int)cnt, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)                  /* error, or the file shrank under us */
            return VIRTIO_BLK_S_IOERR;
        off += r;
        len -= (uint64_t)r;
        iov_advance(&v, &cnt, (size_t)r);
    }
    return VIRTIO_BLK_S_OK;
}

static int blk_write_zero_buffer(struct virtio_blk *blk, off_t off, uint64_t len)
{
    static const uint8_t zeros[65536];
    while (len) {
        size_t k = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        ssize_t r = pwrite(blk->fd, zeros, k, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -EIO;
        off += r;
        len -= (uint64_t)r;
    }
    return 0;
}

static int blk_discard(struct virtio_blk *blk, off_t off, uint64_t len)
{
    if (fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) == 0)
        return 0;
    /* Discard is only a hint (5.2.6.2: the device MAY deallocate). */
    return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
}

/* The range must read back as zeroes afterwards whatever we do (5.2.6.2).
 * With unmap the space may go back to the host; without it it should stay
 * allocated, so zero it in place; plain writes are the last resort. */
static int blk_write_zeroes(struct virtio_blk *blk, off_t off, uint64_t len, bool unmap)
{
    if (unmap && fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) == 0)
        return 0;
    if (fallocate(blk->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) == 0)
        return 0;
    return blk_write_zero_buffer(blk, off, len);
}

/* DISCARD / WRITE_ZEROES: all segments are checked before any is acted on. */
static uint8_t blk_discard_zeroes(struct virtio_blk *blk, const struct virtq_chain *c, bool discard)
{
    if (blk->readonly)
        return VIRTIO_BLK_S_IOERR;
    uint64_t bytes = c->out_len - sizeof(struct virtio_blk_outhdr);
    if (bytes == 0 || bytes % sizeof(struct virtio_blk_dwz) || bytes / sizeof(struct virtio_blk_dwz) > BLK_MAX_DWZ_SEG)
        return VIRTIO_BLK_S_IOERR;
    unsigned nseg = (unsigned)(bytes / sizeof(struct virtio_blk_dwz));
    struct virtio_blk_dwz seg[BLK_MAX_DWZ_SEG];
    iov_to_buf(c->out, c->nout, sizeof(struct virtio_blk_outhdr), seg, bytes);
    for (unsigned i = 0; i < nseg; i++) {
        uint32_t flags = le32toh(seg[i].flags);
        /* Unknown flags, or unmap on a discard: UNSUPP (5.2.6.2). */
        if ((flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (discard && flags))
            return VIRTIO_BLK_S_UNSUPP;
        uint32_t num = le32toh(seg[i].num_sectors);
        if (num > BLK_MAX_DWZ_SECTORS || !blk_range_ok(blk, le64toh(seg[i].sector), num))
            return VIRTIO_BLK_S_IOERR;
    }
    for (unsigned i = 0; i < nseg; i++) {
        off_t off = (off_t)(le64toh(seg[i].sector) * VIRTIO_BLK_SECTOR);
        uint64_t len = (uint64_t)le32toh(seg[i].num_sectors) * VIRTIO_BLK_SECTOR;
        int r = discard ? blk_discard(blk, off, len)
                        : blk_write_zeroes(blk, off, len, le32toh(seg[i].flags) & VIRTIO_BLK_DWZ_F_UNMAP);
        if (r < 0)
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* Serves one request. Layout (5.2.6): a 16-byte header in the readable part,
 * data, and the status as the last writable byte, whatever the descriptor
 * boundaries. Returns -EINVAL when that framing is missing (the device is
 * then failed), else 0 with *written set for the used ring. */
static int blk_request(struct virtio_blk *blk, const struct virtq_chain *c, uint32_t *written)
{
    struct virtio_blk_outhdr hdr;
    if (c->out_len < sizeof(hdr) || c->in_len < 1)
        return -EINVAL;
    iov_to_buf(c->out, c->nout, 0, &hdr, sizeof(hdr));
    uint64_t sector = le64toh(hdr.sector);
    uint64_t in_data = c->in_len - 1;          /* writable bytes before the status */
    uint32_t data_written = 0;
    uint8_t status;
    switch (le32toh(hdr.type)) {
    case VIRTIO_BLK_T_IN:
        status = blk_rw(blk, c->in, c->nin, 0, in_data, sector, false);
        if (status == VIRTIO_BLK_S_OK)
            data_written = (uint32_t)in_data;
        break;
    case VIRTIO_BLK_T_OUT:
        status = blk_rw(blk, c->out, c->nout, sizeof(hdr), c->out_len - sizeof(hdr), sector, true);
        break;
    case VIRTIO_BLK_T_FLUSH:
        status = blk->readonly || fdatasync(blk->fd) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        break;
    case VIRTIO_BLK_T_GET_ID:
        data_written = (uint32_t)iov_from_buf(c->in, c->nin, 0, blk->serial,
                                              in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES);
        status = VIRTIO_BLK_S_OK;
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = blk_discard_zeroes(blk, c, le32toh(hdr.type) == VIRTIO_BLK_T_DISCARD);
        break;
    default:
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    iov_from_buf(c->in, c->nin, in_data, &status, 1);
    *written = data_written + 1;
    return 0;
}

static void blk_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_blk *blk = vdev->priv;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (virtio_queue_pop(vdev, q, &blk->chain) > 0) {
        uint32_t written;
        if (blk_request(blk, &blk->chain, &written) < 0) {
            virtio_device_fail(vdev, "request without a header or a status byte");
            break;
        }
        virtqueue_push(&vdev->vqs[q], blk->chain.head, written);
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, q);
    pthread_mutex_unlock(&vdev->lock);
}

/* ---- device ---- */

static uint64_t blk_get_features(struct virtio_device *vdev)
{
    struct virtio_blk *blk = vdev->priv;
    uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
                 (1ULL << VIRTIO_BLK_F_FLUSH);
    if (blk->readonly)
        f |= 1ULL << VIRTIO_BLK_F_RO;
    else
        f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
    return f;
}

static void blk_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_blk *blk = vdev->priv;
    memcpy(data, (const uint8_t *)&blk->config + offset, len);
}

static const struct virtio_device_ops virtio_blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max_size = BLK_QUEUE_SIZE,
    .get_features = blk_get_features,
    .config_size = sizeof(struct virtio_blk_config),
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
};

static int blk_error(char **error, int err, const char *fmt, ...)
{
    if (error) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(error, fmt, ap) < 0)
            *error = NULL;
        va_end(ap);
    }
    return err;
}

/* GET_ID string: the configured serial, else the image's file name, in
 * printable ASCII (5.2.6: an ASCII string of up to 20 bytes). */
static void blk_set_serial(struct virtio_blk *blk, const struct disk_config *disk)
{
    const char *src = disk->serial;
    if (!src || !*src) {
        const char *slash = strrchr(disk->path, '/');
        src = slash ? slash + 1 : disk->path;
    }
    memset(blk->serial, 0, sizeof(blk->serial));
    for (size_t i = 0; i < sizeof(blk->serial) && src[i]; i++)
        blk->serial[i] = src[i] >= 0x20 && src[i] < 0x7F ? src[i] : '_';
}

static void blk_fill_config(struct virtio_blk *blk, const struct stat *st)
{
    struct virtio_blk_config *c = &blk->config;
    uint32_t align = st->st_blksize > VIRTIO_BLK_SECTOR ? (uint32_t)(st->st_blksize / VIRTIO_BLK_SECTOR) : 1;
    memset(c, 0, sizeof(*c));
    c->capacity = htole64(blk->capacity);
    c->seg_max = htole32(BLK_SEG_MAX);
    c->blk_size = htole32(VIRTIO_BLK_SECTOR);
    c->max_discard_sectors = htole32(BLK_MAX_DWZ_SECTORS);
    c->max_discard_seg = htole32(BLK_MAX_DWZ_SEG);
    c->discard_sector_alignment = htole32(align);
    c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
    c->max_write_zeroes_seg = htole32(BLK_MAX_DWZ_SEG);
    c->write_zeroes_may_unmap = 1;
}

/* Opens @path and takes an OFD lock on it, so that two VMs never write one
 * image (and no VM reads an image another is writing). Returns the fd. */
static int blk_open(const struct disk_config *disk, struct stat *st, uint64_t *size, char **error)
{
    const char *path = disk->path;
    int fd = open(path, (disk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return blk_error(error, -errno, "cannot open disk %s: %s", path, strerror(errno));
    int err = 0;
    if (fstat(fd, st) < 0) {
        err = blk_error(error, -errno, "cannot open disk %s: %s", path, strerror(errno));
    } else if (S_ISREG(st->st_mode)) {
        *size = (uint64_t)st->st_size;
    } else if (!S_ISBLK(st->st_mode)) {
        err = blk_error(error, -EINVAL, "cannot open disk %s: not a regular file or block device", path);
    } else if (ioctl(fd, BLKGETSIZE64, size) < 0) {
        err = blk_error(error, -errno, "cannot open disk %s: %s", path, strerror(errno));
    }
    struct flock fl = { .l_type = disk->readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
    if (!err && fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        /* A filesystem without locks (ENOLCK, EINVAL) is used unlocked. */
        if (errno == EAGAIN || errno == EACCES)
            err = blk_error(error, -EBUSY, "cannot open disk %s: it is in use by another process%s", path,
                            disk->readonly ? " that writes to it" : "");
    }
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

int virtio_blk_new(const struct disk_config *disk, struct virtio_blk **out, char **error)
{
    if (error)
        *error = NULL;
    if (!disk->path)
        return blk_error(error, -EINVAL, "disk without a path");
    struct stat st;
    uint64_t size = 0;
    int fd = blk_open(disk, &st, &size, error);
    if (fd < 0)
        return fd;
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (!blk) {
        close(fd);
        return blk_error(error, -ENOMEM, "cannot open disk %s: out of memory", disk->path);
    }
    blk->fd = fd;
    blk->readonly = disk->readonly;
    blk->capacity = size / VIRTIO_BLK_SECTOR;  /* a partial last sector is not exposed */
    blk_set_serial(blk, disk);
    blk_fill_config(blk, &st);
    blk->state = (struct virtio_blk_state){ .version = VIRTIO_BLK_STATE_VERSION,
                                            .capacity = blk->capacity, .readonly = blk->readonly };
    memcpy(blk->state.serial, blk->serial, sizeof(blk->serial));
    virtio_device_init(&blk->vdev, &virtio_blk_ops, blk);
    *out = blk;
    return 0;
}

void virtio_blk_free(struct virtio_blk *blk)
{
    if (!blk)
        return;
    close(blk->fd);
    pthread_mutex_destroy(&blk->vdev.lock);
    free(blk);
}

struct virtio_device *virtio_blk_device(struct virtio_blk *blk)
{
    return &blk->vdev;
}

int virtio_blk_create_err(struct vm *vm, const struct disk_config *disk, char **error)
{
    struct virtio_blk *blk;
    int r = virtio_blk_new(disk, &blk, error);
    if (r < 0)
        return r;
    r = virtio_pci_create(vm, &blk->vdev);
    if (r < 0) {
        virtio_blk_free(blk);
        return blk_error(error, r, "cannot add disk %s: %s", disk->path, strerror(-r));
    }
    return 0;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *disk)
{
    char *error = NULL;
    int r = virtio_blk_create_err(vm, disk, &error);
    /* Callers of this form print strerror(); keep the fuller reason too. */
    if (r < 0 && error)
        fprintf(stderr, "domus-vmm: %s\n", error);
    free(error);
    return r;
}
