/* virtio-gpu 2D. Every resource gets host storage in its own memfd, which is
 * what display clients map: TRANSFER_TO_HOST_2D copies only the rect the
 * guest names from its backing pages, RESOURCE_FLUSH becomes exact damage.
 * When a resource's backing is one contiguous run of guest RAM the clients
 * map guest RAM itself (zero copies) and transfers cost nothing.
 *
 * Command errors are answered with the spec's ERR_* responses; only a
 * malformed descriptor chain stops the device (virtio_queue_pop). */
#include "virtio_gpu_int.h"
#include "core/vm.h"
#include "vdisplay/display_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GPU_CTRLQ        0
#define GPU_CURSORQ      1
#define GPU_QUEUE_SIZE   256
#define GPU_DEFAULT_W    1024
#define GPU_DEFAULT_H    768

struct gpu_resource *gpu_res_find(struct virtio_gpu *gpu, uint32_t id)
{
    for (unsigned i = 0; id && i < GPU_MAX_RESOURCES; i++)
        if (gpu->res[i] && gpu->res[i]->id == id)
            return gpu->res[i];
    return NULL;
}

uint32_t gpu_dc_format(uint32_t virtio_format)
{
    switch (virtio_format) {
    case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM: return DC_FORMAT_ARGB8888;
    case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: return DC_FORMAT_XRGB8888;
    case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM: return DC_FORMAT_BGRA8888;
    case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: return DC_FORMAT_BGRX8888;
    case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM: return DC_FORMAT_ABGR8888;
    case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: return DC_FORMAT_RGBX8888;
    case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: return DC_FORMAT_RGBA8888;
    case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: return DC_FORMAT_XBGR8888;
    }
    return 0;
}

/* ---- what the clients see ---- */

void gpu_publish_scanout(struct virtio_gpu *gpu)
{
    if (!gpu->ds)
        return;
    struct gpu_resource *r = gpu_res_find(gpu, gpu->state.scanout_resource);
    __atomic_store_n(&gpu->scanout_shown, r != NULL, __ATOMIC_RELEASE);
    if (!r && gpu->on_release) {
        gpu->on_release(gpu->release_opaque);
        return;
    }
    struct dc_mode m = { 0 };
    int fd = -1;
    if (r) {
        const struct virtio_gpu_rect *s = &gpu->state.scanout_rect;
        m.width = s->width;
        m.height = s->height;
        m.stride = r->stride;
        m.format = gpu_dc_format(r->format);
        m.offset = (uint64_t)s->y * r->stride + (uint64_t)s->x * 4;
        m.size = (uint64_t)r->stride * (s->height - 1) + (uint64_t)s->width * 4;
        if (r->direct) {
            m.offset += r->direct_offset;
            m.flags = DC_MODE_F_GUEST_RAM;
            fd = gpu->mem->memfd;
        } else {
            fd = r->memfd;
        }
    }
    display_server_set_mode(gpu->ds, &m, fd);
}

static void res_drop_backing(struct virtio_gpu *gpu, struct gpu_resource *r)
{
    bool was_direct = r->direct;
    free(r->iov);
    gpu->total_entries -= r->niov;
    r->iov = NULL;
    r->niov = 0;
    r->backing_len = 0;
    r->direct = false;
    if (was_direct && r->id == gpu->state.scanout_resource)
        gpu_publish_scanout(gpu);
}

void gpu_res_destroy(struct gpu_resource *r)
{
    free(r->iov);
    munmap(r->data, r->size);
    close(r->memfd);
    free(r);
}

void gpu_res_free(struct virtio_gpu *gpu, struct gpu_resource *r)
{
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++)
        if (gpu->res[i] == r)
            gpu->res[i] = NULL;
    gpu->total_entries -= r->niov;
    gpu->total_bytes -= r->size;
    gpu_res_destroy(r);
}

/* ---- commands (vdev.lock held); each returns the response type ---- */

struct gpu_resource *gpu_res_new(uint32_t id, uint32_t format, uint32_t width, uint32_t height)
{
    struct gpu_resource *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    uint64_t size = (uint64_t)width * 4 * height;
    /* A sparse memfd: pages cost memory only once the guest draws on them. */
    r->memfd = memfd_create("domus-gpu-resource", MFD_CLOEXEC);
    if (r->memfd < 0 || ftruncate(r->memfd, (off_t)size) < 0 ||
        (r->data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0)) == MAP_FAILED) {
        if (r->memfd >= 0)
            close(r->memfd);
        free(r);
        return NULL;
    }
    r->id = id;
    r->format = format;
    r->width = width;
    r->height = height;
    r->stride = width * 4;
    r->size = size;
    return r;
}

static uint32_t cmd_create_2d(struct virtio_gpu *gpu, const struct virtio_gpu_resource_create_2d *c)
{
    if (!c->resource_id || gpu_res_find(gpu, c->resource_id))
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!gpu_dc_format(c->format) || !c->width || !c->height ||
        c->width > GPU_MAX_DIM || c->height > GPU_MAX_DIM)
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    uint64_t size = (uint64_t)c->width * 4 * c->height;
    if (size > GPU_MAX_RESOURCE || gpu->total_bytes + size > GPU_MAX_TOTAL)
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    unsigned slot = 0;
    while (slot < GPU_MAX_RESOURCES && gpu->res[slot])
        slot++;
    if (slot == GPU_MAX_RESOURCES)
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    struct gpu_resource *r = gpu_res_new(c->resource_id, c->format, c->width, c->height);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    gpu->res[slot] = r;
    gpu->total_bytes += size;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_unref(struct virtio_gpu *gpu, const struct virtio_gpu_resource_unref *c)
{
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    bool shown = r->id == gpu->state.scanout_resource;
    if (shown)
        gpu->state.scanout_resource = 0;
    if (r->id == gpu->cursor_resource)
        gpu->cursor_resource = 0;
    gpu_res_free(gpu, r);
    if (shown)
        gpu_publish_scanout(gpu);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_set_scanout(struct virtio_gpu *gpu, const struct virtio_gpu_set_scanout *c)
{
    if (c->scanout_id != 0)
        return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    if (!c->resource_id) {           /* display off */
        gpu->state.scanout_resource = 0;
        gpu_publish_scanout(gpu);
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!c->r.width || !c->r.height || !gpu_rect_inside(&c->r, r->width, r->height))
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    gpu->state.scanout_resource = r->id;
    gpu->state.scanout_rect = c->r;
    gpu_publish_scanout(gpu);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_flush(struct virtio_gpu *gpu, const struct virtio_gpu_resource_flush *c)
{
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!gpu_rect_inside(&c->r, r->width, r->height))
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    if (r->id != gpu->state.scanout_resource || !gpu->ds)
        return VIRTIO_GPU_RESP_OK_NODATA;
    /* Damage in scanout coordinates: the flushed rect clipped to the scanout. */
    const struct virtio_gpu_rect *s = &gpu->state.scanout_rect;
    int64_t x0 = c->r.x > s->x ? c->r.x : s->x, y0 = c->r.y > s->y ? c->r.y : s->y;
    int64_t x1 = (int64_t)c->r.x + c->r.width, y1 = (int64_t)c->r.y + c->r.height;
    if (x1 > (int64_t)s->x + s->width) x1 = (int64_t)s->x + s->width;
    if (y1 > (int64_t)s->y + s->height) y1 = (int64_t)s->y + s->height;
    if (x1 > x0 && y1 > y0)
        display_server_damage(gpu->ds, (int32_t)(x0 - s->x), (int32_t)(y0 - s->y),
                              (uint32_t)(x1 - x0), (uint32_t)(y1 - y0));
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Copies backing bytes [off, off+len) to @dst. Rows are copied in
 * increasing order, so the segment search resumes from *seg and *seg_start. */
static void backing_read(const struct gpu_resource *r, uint64_t off, uint8_t *dst, uint64_t len,
                         unsigned *seg, uint64_t *seg_start)
{
    while (*seg < r->niov && *seg_start + r->iov[*seg].len <= off)
        *seg_start += r->iov[(*seg)++].len;
    while (len && *seg < r->niov) {
        const struct gpu_backing *b = &r->iov[*seg];
        uint64_t in = off - *seg_start, n = b->len - in < len ? b->len - in : len;
        memcpy(dst, b->host + in, n);
        dst += n;
        off += n;
        len -= n;
        if (len) {
            *seg_start += b->len;
            (*seg)++;
        }
    }
}

static uint32_t cmd_transfer(struct virtio_gpu *gpu, const struct virtio_gpu_transfer_to_host_2d *c)
{
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!r->iov)
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (!gpu_rect_inside(&c->r, r->width, r->height))
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    if (!c->r.width || !c->r.height)
        return VIRTIO_GPU_RESP_OK_NODATA;
    uint64_t row = (uint64_t)c->r.width * 4;
    /* Every byte read must lie in the backing (offset is guest-chosen). */
    if (c->offset > r->backing_len ||
        (uint64_t)r->stride * (c->r.height - 1) + row > r->backing_len - c->offset)
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    if (r->direct)
        return VIRTIO_GPU_RESP_OK_NODATA;   /* clients already see guest RAM */
    unsigned seg = 0;
    uint64_t seg_start = 0;
    for (uint32_t y = 0; y < c->r.height; y++) {
        uint8_t *dst = r->data + (uint64_t)(c->r.y + y) * r->stride + (uint64_t)c->r.x * 4;
        backing_read(r, c->offset + (uint64_t)r->stride * y, dst, row, &seg, &seg_start);
    }
    return VIRTIO_GPU_RESP_OK_NODATA;
}

int gpu_res_attach(struct virtio_gpu *gpu, struct gpu_resource *r, const struct virtio_gpu_mem_entry *e, unsigned n)
{
    struct gpu_backing *iov = calloc(n, sizeof(*iov));
    if (!iov)
        return -ENOMEM;
    uint64_t total = 0;
    bool contiguous = gpu->mem->memfd >= 0;
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct gpu_backing){ guest_mem_ptr(gpu->mem, e[i].addr, e[i].length), e[i].addr, e[i].length };
        if (!iov[i].host || !e[i].length) {
            free(iov);
            return -EFAULT;
        }
        if (i && iov[i].host != iov[i - 1].host + iov[i - 1].len)
            contiguous = false;
        total += e[i].length;
    }
    r->iov = iov;
    r->niov = n;
    r->backing_len = total;
    if (contiguous && total >= r->size) {
        r->direct = true;
        r->direct_offset = (uint64_t)(iov[0].host - gpu->mem->base);
    }
    return 0;
}

static uint32_t cmd_attach_backing(struct virtio_gpu *gpu, const struct virtio_gpu_resource_attach_backing *c)
{
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (r->iov || !c->nr_entries || c->nr_entries > GPU_MAX_BACKING)
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    size_t bytes = (size_t)c->nr_entries * sizeof(struct virtio_gpu_mem_entry);
    if (iov_to_buf(gpu->chain.out, gpu->chain.nout, sizeof(*c), gpu->entries, bytes) != bytes)
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (gpu->total_entries + c->nr_entries > GPU_MAX_ENTRIES_TOTAL)
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    int err = gpu_res_attach(gpu, r, gpu->entries, c->nr_entries);
    if (err < 0)
        return err == -ENOMEM ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY : VIRTIO_GPU_RESP_ERR_UNSPEC;
    gpu->total_entries += r->niov;
    if (r->direct && r->id == gpu->state.scanout_resource)
        gpu_publish_scanout(gpu);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_detach_backing(struct virtio_gpu *gpu, const struct virtio_gpu_resource_detach_backing *c)
{
    struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!r->iov)
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (r->direct)                   /* keep what was shown once guest RAM is gone */
        memcpy(r->data, r->iov[0].host, r->size);
    res_drop_backing(gpu, r);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static void display_size(struct virtio_gpu *gpu, uint32_t *w, uint32_t *h)
{
    *w = gpu->state.pref_width;
    *h = gpu->state.pref_height;
}

static uint32_t cmd_display_info(struct virtio_gpu *gpu, size_t *len)
{
    struct virtio_gpu_resp_display_info *d = (void *)gpu->resp;
    memset(d->pmodes, 0, sizeof(d->pmodes));
    display_size(gpu, &d->pmodes[0].r.width, &d->pmodes[0].r.height);
    d->pmodes[0].enabled = 1;
    *len = sizeof(*d);
    return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t cmd_get_edid(struct virtio_gpu *gpu, const struct virtio_gpu_get_edid *c, size_t *len)
{
    if (c->scanout != 0)
        return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    struct virtio_gpu_resp_edid *e = (void *)gpu->resp;
    memset((uint8_t *)e + sizeof(e->hdr), 0, sizeof(*e) - sizeof(e->hdr));
    uint32_t w, h;
    display_size(gpu, &w, &h);
    virtio_gpu_edid(e->edid, w, h);
    e->size = 128;
    *len = sizeof(*e);
    return VIRTIO_GPU_RESP_OK_EDID;
}

/* Reads a command of the expected size; false when the guest sent less. */
static bool req_get(struct virtio_gpu *gpu, size_t size)
{
    return iov_to_buf(gpu->chain.out, gpu->chain.nout, 0, gpu->req, size) == size;
}

static void ctrl_one(struct virtio_gpu *gpu)
{
    struct virtio_gpu_ctrl_hdr *hdr = (void *)gpu->req;
    struct virtio_gpu_ctrl_hdr *resp = (void *)gpu->resp;
    size_t len = sizeof(*resp);
    uint32_t type = VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (!req_get(gpu, sizeof(*hdr))) {
        hdr->type = 0;
        hdr->flags = 0;
    }
#define CMD(T, fn) \
    (req_get(gpu, sizeof(T)) ? fn(gpu, (const T *)gpu->req) : VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER)
    switch (hdr->type) {
    case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: type = cmd_display_info(gpu, &len); break;
    case VIRTIO_GPU_CMD_GET_EDID:
        type = req_get(gpu, sizeof(struct virtio_gpu_get_edid)) ?
               cmd_get_edid(gpu, (const void *)gpu->req, &len) : VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        break;
    case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: type = CMD(struct virtio_gpu_resource_create_2d, cmd_create_2d); break;
    case VIRTIO_GPU_CMD_RESOURCE_UNREF: type = CMD(struct virtio_gpu_resource_unref, cmd_unref); break;
    case VIRTIO_GPU_CMD_SET_SCANOUT: type = CMD(struct virtio_gpu_set_scanout, cmd_set_scanout); break;
    case VIRTIO_GPU_CMD_RESOURCE_FLUSH: type = CMD(struct virtio_gpu_resource_flush, cmd_flush); break;
    case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: type = CMD(struct virtio_gpu_transfer_to_host_2d, cmd_transfer); break;
    case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
        type = CMD(struct virtio_gpu_resource_attach_backing, cmd_attach_backing);
        break;
    case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
        type = CMD(struct virtio_gpu_resource_detach_backing, cmd_detach_backing);
        break;
    }
#undef CMD
    if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC)
        len = sizeof(*resp);
    memset(resp, 0, sizeof(*resp));
    resp->type = type;
    if (hdr->flags & VIRTIO_GPU_FLAG_FENCE) {
        /* Commands complete in order before the response, so every fence is already signalled. */
        resp->flags = VIRTIO_GPU_FLAG_FENCE;
        resp->fence_id = hdr->fence_id;
        resp->ctx_id = hdr->ctx_id;
        resp->ring_idx = hdr->ring_idx;
    }
    size_t n = iov_from_buf(gpu->chain.in, gpu->chain.nin, 0, gpu->resp, len);
    virtqueue_push(&gpu->vdev.vqs[GPU_CTRLQ], gpu->chain.head, (uint32_t)n);
}

/* ---- cursor ---- */

bool gpu_cursor_fits(const struct gpu_resource *r)
{
    unsigned rb, gb, bb;
    return r->width <= DC_CURSOR_MAX && r->height <= DC_CURSOR_MAX &&
           dc_format_info(gpu_dc_format(r->format), &rb, &gb, &bb);
}

void gpu_publish_cursor(struct virtio_gpu *gpu, bool shape)
{
    if (!gpu->ds)
        return;
    struct gpu_resource *r = gpu_res_find(gpu, gpu->cursor_resource);
    if (shape && !r) {
        display_server_cursor(gpu->ds, 0, 0, 0, 0, NULL);
    } else if (shape) {
        static uint32_t argb[DC_CURSOR_MAX * DC_CURSOR_MAX];
        unsigned rb = 0, gb = 0, bb = 0;    /* set: the resource passed gpu_cursor_fits() */
        dc_format_info(gpu_dc_format(r->format), &rb, &gb, &bb);
        unsigned ab = 6 - rb - gb - bb;     /* the remaining byte of the four */
        bool has_alpha = r->format == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM ||
                         r->format == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM ||
                         r->format == VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM ||
                         r->format == VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM;
        const uint8_t *src = r->direct ? r->iov[0].host : r->data;
        for (uint32_t i = 0; i < r->width * r->height; i++) {
            const uint8_t *p = src + i * 4;
            argb[i] = (uint32_t)(has_alpha ? p[ab] : 0xFF) << 24 | (uint32_t)p[rb] << 16 |
                      (uint32_t)p[gb] << 8 | p[bb];
        }
        display_server_cursor(gpu->ds, r->width, r->height, gpu->cursor_hot_x, gpu->cursor_hot_y, argb);
    }
    display_server_cursor_pos(gpu->ds, gpu->cursor_x, gpu->cursor_y, r != NULL);
}

static void cursor_update(struct virtio_gpu *gpu, const struct virtio_gpu_update_cursor *c)
{
    if (c->pos.scanout_id != 0)
        return;
    bool shape = c->hdr.type == VIRTIO_GPU_CMD_UPDATE_CURSOR;
    if (shape) {
        struct gpu_resource *r = gpu_res_find(gpu, c->resource_id);
        gpu->cursor_resource = r && gpu_cursor_fits(r) ? r->id : 0;
        gpu->cursor_hot_x = c->hot_x;
        gpu->cursor_hot_y = c->hot_y;
    }
    gpu->cursor_x = (int32_t)c->pos.x;
    gpu->cursor_y = (int32_t)c->pos.y;
    gpu_publish_cursor(gpu, shape);
}

static void gpu_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_gpu *gpu = vdev->priv;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (virtio_queue_pop(vdev, q, &gpu->chain) > 0) {
        if (q == GPU_CTRLQ) {
            ctrl_one(gpu);
        } else {
            struct virtio_gpu_update_cursor c;
            if (iov_to_buf(gpu->chain.out, gpu->chain.nout, 0, &c, sizeof(c)) == sizeof(c))
                cursor_update(gpu, &c);
            virtqueue_push(&vdev->vqs[q], gpu->chain.head, 0);
        }
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, q);
    pthread_mutex_unlock(&vdev->lock);
}

/* ---- config, features, reset ---- */

static uint64_t gpu_get_features(struct virtio_device *vdev)
{
    return 1ULL << VIRTIO_GPU_F_EDID;
}

static void gpu_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_gpu *gpu = vdev->priv;
    struct virtio_gpu_config cfg = { .events_read = gpu->state.events_read, .num_scanouts = 1 };
    memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static void gpu_config_write(struct virtio_device *vdev, unsigned offset, const void *data, unsigned len)
{
    struct virtio_gpu *gpu = vdev->priv;
    if (offset == offsetof(struct virtio_gpu_config, events_clear) && len == 4) {
        uint32_t v;
        memcpy(&v, data, 4);
        gpu->state.events_read &= ~v;
    }
}

static void gpu_reset(struct virtio_device *vdev)
{
    struct virtio_gpu *gpu = vdev->priv;
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++)
        if (gpu->res[i])
            gpu_res_free(gpu, gpu->res[i]);
    gpu->state.scanout_resource = 0;
    gpu->state.events_read = 0;
    gpu->cursor_resource = gpu->cursor_hot_x = gpu->cursor_hot_y = 0;
    gpu->cursor_x = gpu->cursor_y = 0;
    gpu_publish_scanout(gpu);
    if (gpu->ds)
        display_server_cursor(gpu->ds, 0, 0, 0, 0, NULL);
}

static const struct virtio_device_ops virtio_gpu_ops = {
    .name = "virtio-gpu",
    .device_id = VIRTIO_ID_GPU,
    .num_queues = 2,
    .queue_max_size = GPU_QUEUE_SIZE,
    .get_features = gpu_get_features,
    .config_size = sizeof(struct virtio_gpu_config),
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .queue_notify = gpu_queue_notify,
    .reset = gpu_reset,
    .state = &virtio_gpu_state_ops,
};

void virtio_gpu_share_display(struct virtio_gpu *gpu, void (*on_release)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&gpu->vdev.lock);
    gpu->on_release = on_release;
    gpu->release_opaque = opaque;
    pthread_mutex_unlock(&gpu->vdev.lock);
}

bool virtio_gpu_scanout_active(void *gpu)
{
    return __atomic_load_n(&((struct virtio_gpu *)gpu)->scanout_shown, __ATOMIC_ACQUIRE);
}

void virtio_gpu_request_size(struct virtio_gpu *gpu, uint32_t width, uint32_t height)
{
    width = width < GPU_MIN_W ? GPU_MIN_W : width > GPU_MAX_W ? GPU_MAX_W : width;
    height = height < GPU_MIN_H ? GPU_MIN_H : height > GPU_MAX_H ? GPU_MAX_H : height;
    width &= ~7u;                    /* modes are multiples of 8 wide (CVT) */
    pthread_mutex_lock(&gpu->vdev.lock);
    if (width != gpu->state.pref_width || height != gpu->state.pref_height) {
        gpu->state.pref_width = width;
        gpu->state.pref_height = height;
        gpu->state.events_read |= VIRTIO_GPU_EVENT_DISPLAY;
        virtio_config_changed(&gpu->vdev);
    }
    pthread_mutex_unlock(&gpu->vdev.lock);
}

int virtio_gpu_new(const struct guest_mem *mem, struct display_server *ds, struct virtio_gpu **out)
{
    struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
    if (!gpu)
        return -ENOMEM;
    gpu->mem = mem;
    gpu->ds = ds;
    gpu->state = (struct virtio_gpu_state){ .version = VIRTIO_GPU_STATE_VERSION,
                                            .pref_width = GPU_DEFAULT_W, .pref_height = GPU_DEFAULT_H };
    virtio_device_init(&gpu->vdev, &virtio_gpu_ops, gpu);
    *out = gpu;
    return 0;
}

void virtio_gpu_free(struct virtio_gpu *gpu)
{
    if (!gpu)
        return;
    pthread_mutex_lock(&gpu->vdev.lock);
    gpu->ds = NULL;
    gpu_reset(&gpu->vdev);
    pthread_mutex_unlock(&gpu->vdev.lock);
    pthread_mutex_destroy(&gpu->vdev.lock);
    free(gpu);
}

struct virtio_device *virtio_gpu_device(struct virtio_gpu *gpu)
{
    return &gpu->vdev;
}

int virtio_gpu_create(struct vm *vm, struct display_server *ds, struct virtio_gpu **out)
{
    struct virtio_gpu *gpu;
    int r = virtio_gpu_new(&vm->mem, ds, &gpu);
    if (r < 0)
        return r;
    if ((r = virtio_pci_create(vm, &gpu->vdev)) < 0) {
        virtio_gpu_free(gpu);
        return r;
    }
    *out = gpu;
    return 0;
}
