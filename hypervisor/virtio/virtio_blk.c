/* virtio-blk (virtio 1.x 5.2) on a disk image through the block layer
 * (raw or qcow2, see block/block.h).
 *
 * The I/O thread pops requests and hands them to a worker pool, straight
 * from and into guest memory; workers complete them through an eventfd
 * back on the I/O thread, which writes the status and fills the used ring.
 * No lock is held across disk I/O. With on-error=pause a request failing
 * with ENOSPC or EIO is parked and the VM paused; resume retries it. */
#include "virtio_blk.h"
#include "block/block.h"
#include "block/block_set.h"
#include "block/block_aio.h"
#include "core/config.h"
#include "core/event_loop.h"
#include "core/state.h"
#include "core/vm.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE        256
#define BLK_SEG_MAX           (VIRTQ_MAX_SEGS - 2)   /* plus header and status */
#define BLK_MAX_DWZ_SECTORS   0x400000u              /* 2 GiB per discard/zeroes segment */
#define BLK_MAX_DWZ_SEG       16
#define BLK_WORKERS           4

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

/* One request in flight: a copy of its chain (guest memory stays mapped). */
struct blk_req {
    struct block_request br;
    struct virtio_blk *blk;
    unsigned q;
    uint16_t head;
    uint32_t gen;                    /* device generation it belongs to */
    uint32_t written;                /* data bytes for the used ring on success */
    unsigned nseg;                   /* DISCARD / WRITE_ZEROES segments */
    bool discard;
    struct virtio_blk_dwz seg[BLK_MAX_DWZ_SEG];
    struct iovec *status;            /* where the status byte goes */
    struct iovec status_iov;
    struct iovec iov[];              /* data */
};

struct virtio_blk {
    struct virtio_device vdev;
    struct block *bdev;
    struct block_aio *aio;
    struct vm *vm;
    bool readonly, pause_on_error;
    uint64_t capacity;               /* 512-byte sectors */
    char serial[VIRTIO_BLK_ID_BYTES]; /* NUL-padded, not terminated at 20 */
    struct virtio_blk_config config;
    struct virtio_blk_state state;
    /* under vdev.lock */
    uint32_t gen;                    /* bumped on reset: older completions are dropped */
    struct blk_req *parked;          /* failed requests waiting for resume (on-error=pause) */
    struct virtq_chain chain;        /* I/O thread scratch */
};

/* ---- requests ---- */

static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t count)
{
    return sector <= blk->capacity && count <= blk->capacity - sector;
}

static int blk_run_segments(struct block_request *br)
{
    struct blk_req *req = (struct blk_req *)br;
    for (unsigned i = 0; i < req->nseg; i++) {
        uint64_t off = le64toh(req->seg[i].sector) * VIRTIO_BLK_SECTOR;
        uint64_t len = (uint64_t)le32toh(req->seg[i].num_sectors) * VIRTIO_BLK_SECTOR;
        int r = req->discard ? block_discard(br->bdev, off, len)
                             : block_write_zeroes(br->bdev, off, len, le32toh(req->seg[i].flags) & VIRTIO_BLK_DWZ_F_UNMAP);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Checks DISCARD / WRITE_ZEROES segments, all before any is acted on. */
static uint8_t blk_parse_segments(struct virtio_blk *blk, const struct virtq_chain *c, struct blk_req *req)
{
    if (blk->readonly)
        return VIRTIO_BLK_S_IOERR;
    uint64_t bytes = c->out_len - sizeof(struct virtio_blk_outhdr);
    if (bytes == 0 || bytes % sizeof(struct virtio_blk_dwz) || bytes / sizeof(struct virtio_blk_dwz) > BLK_MAX_DWZ_SEG)
        return VIRTIO_BLK_S_IOERR;
    req->nseg = (unsigned)(bytes / sizeof(struct virtio_blk_dwz));
    iov_to_buf(c->out, c->nout, sizeof(struct virtio_blk_outhdr), req->seg, bytes);
    for (unsigned i = 0; i < req->nseg; i++) {
        uint32_t flags = le32toh(req->seg[i].flags);
        /* Unknown flags, or unmap on a discard: UNSUPP (5.2.6.2). */
        if ((flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (req->discard && flags))
            return VIRTIO_BLK_S_UNSUPP;
        uint32_t num = le32toh(req->seg[i].num_sectors);
        if (num > BLK_MAX_DWZ_SECTORS || !blk_range_ok(blk, le64toh(req->seg[i].sector), num))
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

static void blk_finish(struct virtio_blk *blk, struct blk_req *req, uint8_t status)
{
    iov_from_buf(req->status, 1, 0, &status, 1);
    virtqueue_push(&blk->vdev.vqs[req->q], req->head, (status == VIRTIO_BLK_S_OK ? req->written : 0) + 1);
}

/* Builds the request for one chain. Returns -EINVAL when the framing is
 * missing (the device is then failed), 1 when it was answered at once
 * (*status set), 0 when *out is to be submitted. */
static int blk_prepare(struct virtio_blk *blk, unsigned q, const struct virtq_chain *c,
                       struct blk_req **out, uint8_t *status, uint32_t *written)
{
    struct virtio_blk_outhdr hdr;
    if (c->out_len < sizeof(hdr) || c->in_len < 1)
        return -EINVAL;
    iov_to_buf(c->out, c->nout, 0, &hdr, sizeof(hdr));
    uint64_t sector = le64toh(hdr.sector), in_data = c->in_len - 1;
    uint32_t type = le32toh(hdr.type);
    *written = 0;
    struct blk_req *req = calloc(1, sizeof(*req) + sizeof(struct iovec) * VIRTQ_MAX_SEGS);
    if (!req) {
        *status = VIRTIO_BLK_S_IOERR;
        return 1;
    }
    req->blk = blk;
    req->q = q;
    req->head = c->head;
    req->gen = blk->gen;
    req->br.bdev = blk->bdev;
    req->br.opaque = req;
    /* The status byte is the last writable byte, whatever the descriptors. */
    unsigned n = iov_slice(c->in, c->nin, in_data, 1, &req->status_iov, 1);
    req->status = &req->status_iov;
    uint64_t len = 0;
    *status = VIRTIO_BLK_S_OK;
    switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (type == VIRTIO_BLK_T_OUT && blk->readonly) {
            *status = VIRTIO_BLK_S_IOERR;    /* 5.2.6.2: MUST fail, write nothing */
            break;
        }
        len = type == VIRTIO_BLK_T_IN ? in_data : c->out_len - sizeof(hdr);
        if (len % VIRTIO_BLK_SECTOR || !blk_range_ok(blk, sector, len / VIRTIO_BLK_SECTOR)) {
            *status = VIRTIO_BLK_S_IOERR;
            break;
        }
        req->br.op = type == VIRTIO_BLK_T_IN ? BLOCK_OP_READ : BLOCK_OP_WRITE;
        req->br.off = sector * VIRTIO_BLK_SECTOR;
        req->br.niov = (int)(type == VIRTIO_BLK_T_IN ? iov_slice(c->in, c->nin, 0, len, req->iov, VIRTQ_MAX_SEGS)
                                                     : iov_slice(c->out, c->nout, sizeof(hdr), len, req->iov, VIRTQ_MAX_SEGS));
        req->br.iov = req->iov;
        req->written = type == VIRTIO_BLK_T_IN ? (uint32_t)len : 0;
        break;
    case VIRTIO_BLK_T_FLUSH:
        req->br.op = BLOCK_OP_FLUSH;
        break;
    case VIRTIO_BLK_T_GET_ID:
        *written = (uint32_t)iov_from_buf(c->in, c->nin, 0, blk->serial,
                                          in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        req->discard = type == VIRTIO_BLK_T_DISCARD;
        *status = blk_parse_segments(blk, c, req);
        req->br.op = BLOCK_OP_CALL;
        req->br.call = blk_run_segments;
        break;
    default:
        *status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    bool now = *status != VIRTIO_BLK_S_OK || type == VIRTIO_BLK_T_GET_ID;
    if (now || n != 1) {
        free(req);
        return 1;
    }
    *out = req;
    return 0;
}

static void blk_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_blk *blk = vdev->priv;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (virtio_queue_pop(vdev, q, &blk->chain) > 0) {
        struct blk_req *req = NULL;
        uint8_t status;
        uint32_t written;
        int r = blk_prepare(blk, q, &blk->chain, &req, &status, &written);
        if (r < 0) {
            virtio_device_fail(vdev, "request without a header or a status byte");
            break;
        }
        if (r == 0 && !block_aio_start(blk->aio, &req->br))
            continue;
        if (r == 0) {                /* a read served from the page cache right here */
            blk_finish(blk, req, VIRTIO_BLK_S_OK);
            free(req);
            pushed = true;
            continue;
        }
        iov_from_buf(blk->chain.in, blk->chain.nin, blk->chain.in_len - 1, &status, 1);
        virtqueue_push(&vdev->vqs[q], blk->chain.head, written + 1);
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, q);
    pthread_mutex_unlock(&vdev->lock);
}

static bool blk_pausable(const struct virtio_blk *blk, int err)
{
    return blk->pause_on_error && blk->vm && (err == -ENOSPC || err == -EIO || err == -EDQUOT);
}

/* Completions, on the I/O thread (or the unit tests' thread). */
static void blk_complete(struct virtio_blk *blk)
{
    struct block_request *list = block_aio_reap(blk->aio);
    bool notify[VIRTIO_MAX_QUEUES] = { false }, pause = false;
    pthread_mutex_lock(&blk->vdev.lock);
    while (list) {
        struct blk_req *req = list->opaque;
        list = list->next;
        if (req->gen != blk->gen || !virtio_queue_active(&blk->vdev, req->q)) {
            free(req);               /* the device was reset meanwhile */
            continue;
        }
        if (req->br.ret < 0 && blk_pausable(blk, req->br.ret)) {
            if (!blk->parked)
                fprintf(stderr, "domus-vmm: disk %s: %s; pausing the guest until 'resume'\n",
                        block_path(blk->bdev), strerror(-req->br.ret));
            req->br.next = (struct block_request *)blk->parked;
            blk->parked = req;
            pause = true;
            continue;
        }
        blk_finish(blk, req, req->br.ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
        notify[req->q] = true;
        free(req);
    }
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (notify[q])
            virtio_queue_notify_guest(&blk->vdev, q);
    pthread_mutex_unlock(&blk->vdev.lock);
    if (pause)
        vm_request(blk->vm, VM_REQ_PAUSE);
}

static void blk_on_completion(void *opaque, uint32_t events)
{
    blk_complete(opaque);
}

/* On resume the parked requests are tried again. */
static void blk_resume(void *opaque)
{
    struct virtio_blk *blk = opaque;
    pthread_mutex_lock(&blk->vdev.lock);
    struct blk_req *req = blk->parked;
    blk->parked = NULL;
    while (req) {
        struct blk_req *next = (struct blk_req *)req->br.next;
        block_aio_submit(blk->aio, &req->br);
        req = next;
    }
    pthread_mutex_unlock(&blk->vdev.lock);
}

static void blk_reset(struct virtio_device *vdev)
{
    struct virtio_blk *blk = vdev->priv;
    /* Requests still running may touch guest memory; wait for them. Workers
     * never take the device lock, so waiting here under it is safe. */
    block_aio_drain(blk->aio);
    blk->gen++;
    while (blk->parked) {
        struct blk_req *next = (struct blk_req *)blk->parked->br.next;
        free(blk->parked);
        blk->parked = next;
    }
}

void virtio_blk_wait_idle(struct virtio_blk *blk)
{
    block_aio_drain(blk->aio);
    blk_complete(blk);
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

/* Snapshots wait for every request in flight; a request parked by
 * on-error=pause has no place in a snapshot, so that refuses. */
static int blk_quiesce(void *opaque)
{
    struct virtio_blk *blk = ((struct virtio_device *)opaque)->priv;
    virtio_blk_wait_idle(blk);
    pthread_mutex_lock(&blk->vdev.lock);
    bool parked = blk->parked != NULL;
    pthread_mutex_unlock(&blk->vdev.lock);
    return parked ? -EBUSY : 0;
}

static long blk_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_blk *blk = ((struct virtio_device *)opaque)->priv;
    return state_save_struct(buf, max, &blk->state, sizeof(blk->state));
}

/* The saved disk must be this one: same size, mode and serial. */
static int blk_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_blk *blk = ((struct virtio_device *)opaque)->priv;
    struct virtio_blk_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.version != VIRTIO_BLK_STATE_VERSION || st.capacity != blk->state.capacity ||
        st.readonly != blk->state.readonly || memcmp(st.serial, blk->state.serial, sizeof(st.serial)))
        return -EINVAL;
    return 0;
}

static const struct state_ops blk_state_ops = {
    .version = VIRTIO_BLK_STATE_VERSION, .save = blk_state_save, .load = blk_state_load,
    .quiesce = blk_quiesce,
};

static const struct virtio_device_ops virtio_blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max_size = BLK_QUEUE_SIZE,
    .get_features = blk_get_features,
    .config_size = sizeof(struct virtio_blk_config),
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .state = &blk_state_ops,
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

/* Discards are aligned to the image's allocation unit (a qcow2 cluster). */
static void blk_fill_config(struct virtio_blk *blk, uint32_t unit)
{
    struct virtio_blk_config *c = &blk->config;
    uint32_t align = unit > VIRTIO_BLK_SECTOR ? unit / VIRTIO_BLK_SECTOR : 1;
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

int virtio_blk_new(const struct disk_config *disk, struct virtio_blk **out, char **error)
{
    if (error)
        *error = NULL;
    if (!disk->path)
        return blk_error(error, -EINVAL, "disk without a path");
    struct block *bdev;
    struct block_open_opts o = { .format = (enum block_format)disk->format, .readonly = disk->readonly };
    char *why = NULL;
    int r = block_open(disk->path, &o, &bdev, &why);
    if (r < 0) {
        blk_error(error, r, "cannot open disk %s", why ? why : strerror(-r));
        free(why);
        return r;
    }
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (!blk || !(blk->aio = block_aio_new(BLK_WORKERS))) {
        free(blk);
        block_close(bdev);
        return blk_error(error, -ENOMEM, "cannot open disk %s: out of memory", disk->path);
    }
    blk->bdev = bdev;
    blk->readonly = disk->readonly;
    blk->pause_on_error = disk->pause_on_error;
    blk->capacity = block_length(bdev) / VIRTIO_BLK_SECTOR;  /* a partial last sector is not exposed */
    blk_set_serial(blk, disk);
    struct block_info info;
    block_get_info(bdev, &info);
    blk_fill_config(blk, info.cluster_size ? info.cluster_size : 4096);
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
    block_aio_free(blk->aio);
    while (blk->parked) {
        struct blk_req *next = (struct blk_req *)blk->parked->br.next;
        free(blk->parked);
        blk->parked = next;
    }
    block_set_remove(blk->bdev);
    block_close(blk->bdev);
    pthread_mutex_destroy(&blk->vdev.lock);
    free(blk);
}

struct virtio_device *virtio_blk_device(struct virtio_blk *blk)
{
    return &blk->vdev;
}

/* Every disk of this VM, closed (flushed) when the VMM exits or reboots. */
static struct virtio_blk *open_disks[VM_MAX_DISKS];
static unsigned nopen_disks;

void virtio_blk_close_all(void)
{
    while (nopen_disks)
        virtio_blk_free(open_disks[--nopen_disks]);
}

int virtio_blk_create_err(struct vm *vm, const struct disk_config *disk, char **error)
{
    struct virtio_blk *blk;
    int r = virtio_blk_new(disk, &blk, error);
    if (r < 0)
        return r;
    blk->vm = vm;
    r = virtio_pci_create(vm, &blk->vdev);
    if (r == 0)
        r = event_loop_add(vm->loop, block_aio_fd(blk->aio), EPOLLIN, blk_on_completion, blk);
    if (r == 0)
        vm_add_resume_hook(vm, blk_resume, blk);
    if (r < 0) {
        virtio_blk_free(blk);
        return blk_error(error, r, "cannot add disk %s: %s", disk->path, strerror(-r));
    }
    if (nopen_disks < VM_MAX_DISKS)
        open_disks[nopen_disks++] = blk;
    if ((r = block_set_add(blk->bdev)) < 0)
        return blk_error(error, r, "cannot add disk %s: too many disks", disk->path);
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

