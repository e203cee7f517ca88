/* virtio-gpu's saved state: the resources with their backing as guest
 * addresses (the pixels are in guest RAM, which the snapshot carries; the
 * host copies clients map are rebuilt from it once RAM is back), the
 * scanout, the cursor and the config. The resource list makes it variable
 * in size, bounded by the device's own limits; load checks the whole blob
 * before it builds anything and builds everything before it touches the
 * device (layout: virtio_gpu_int.h). */
#include "virtio_gpu_int.h"
#include "core/state.h"
#include "vdisplay/display_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t saved_size(uint64_t nresources, uint64_t nentries)
{
    return sizeof(struct gpu_saved) + nresources * sizeof(struct gpu_saved_resource) +
           nentries * sizeof(struct virtio_gpu_mem_entry);
}

static long gpu_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_gpu *gpu = ((struct virtio_device *)opaque)->priv;
    pthread_mutex_lock(&gpu->vdev.lock);
    struct gpu_saved h = {
        .version = VIRTIO_GPU_STATE_VERSION, .pref_width = gpu->state.pref_width,
        .pref_height = gpu->state.pref_height, .events_read = gpu->state.events_read,
        .scanout_resource = gpu->state.scanout_resource, .scanout_rect = gpu->state.scanout_rect,
        .cursor_resource = gpu->cursor_resource, .cursor_hot_x = gpu->cursor_hot_x,
        .cursor_hot_y = gpu->cursor_hot_y, .cursor_x = gpu->cursor_x, .cursor_y = gpu->cursor_y,
    };
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++)
        if (gpu->res[i]) {
            h.nresources++;
            h.nentries += gpu->res[i]->niov;
        }
    long size = (long)saved_size(h.nresources, h.nentries);
    if ((size_t)size > max) {
        pthread_mutex_unlock(&gpu->vdev.lock);
        return -ENOSPC;
    }
    uint8_t *p = buf;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++) {
        const struct gpu_resource *r = gpu->res[i];
        if (!r)
            continue;
        struct gpu_saved_resource sr = { r->id, r->format, r->width, r->height, r->niov, 0 };
        memcpy(p, &sr, sizeof(sr));
        p += sizeof(sr);
        for (unsigned e = 0; e < r->niov; e++) {
            struct virtio_gpu_mem_entry me = { r->iov[e].gpa, (uint32_t)r->iov[e].len, 0 };
            memcpy(p, &me, sizeof(me));
            p += sizeof(me);
        }
    }
    pthread_mutex_unlock(&gpu->vdev.lock);
    return size;
}

/* One saved resource against the device's limits; @e its entries. */
static bool resource_ok(const struct virtio_gpu *gpu, const struct gpu_saved_resource *sr,
                        const uint8_t *e, uint64_t *total_bytes)
{
    if (!sr->id || !gpu_dc_format(sr->format) || !sr->width || !sr->height ||
        sr->width > GPU_MAX_DIM || sr->height > GPU_MAX_DIM || sr->nentries > GPU_MAX_BACKING)
        return false;
    uint64_t size = (uint64_t)sr->width * 4 * sr->height;
    *total_bytes += size;
    if (size > GPU_MAX_RESOURCE || *total_bytes > GPU_MAX_TOTAL)
        return false;
    for (uint32_t i = 0; i < sr->nentries; i++) {
        struct virtio_gpu_mem_entry me;
        memcpy(&me, e + (size_t)i * sizeof(me), sizeof(me));
        if (!me.length || !guest_mem_ptr(gpu->mem, me.addr, me.length))
            return false;
    }
    return true;
}

/* Checks the whole blob: 0 and the totals, or -EINVAL. */
static int state_check(const struct virtio_gpu *gpu, const uint8_t *buf, size_t len, struct gpu_saved *h,
                       uint64_t *total_bytes)
{
    if (len < sizeof(*h))
        return -EINVAL;
    memcpy(h, buf, sizeof(*h));
    if (h->version != VIRTIO_GPU_STATE_VERSION || h->nresources > GPU_MAX_RESOURCES ||
        h->nentries > GPU_MAX_ENTRIES_TOTAL || len != saved_size(h->nresources, h->nentries))
        return -EINVAL;
    if (h->pref_width < GPU_MIN_W || h->pref_width > GPU_MAX_W || h->pref_height < GPU_MIN_H ||
        h->pref_height > GPU_MAX_H || (h->events_read & ~(uint32_t)VIRTIO_GPU_EVENT_DISPLAY))
        return -EINVAL;
    bool scanout_found = !h->scanout_resource, cursor_found = !h->cursor_resource;
    uint32_t ids[GPU_MAX_RESOURCES];
    uint64_t entries = 0;
    const uint8_t *p = buf + sizeof(*h);
    *total_bytes = 0;
    for (uint32_t i = 0; i < h->nresources; i++) {
        struct gpu_saved_resource sr;
        memcpy(&sr, p, sizeof(sr));
        p += sizeof(sr);
        /* Within len: the entries so far never exceed the header's count. */
        if ((entries += sr.nentries) > h->nentries || !resource_ok(gpu, &sr, p, total_bytes))
            return -EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (ids[j] == sr.id)
                return -EINVAL;
        ids[i] = sr.id;
        p += (size_t)sr.nentries * sizeof(struct virtio_gpu_mem_entry);
        if (sr.id == h->scanout_resource) {
            const struct virtio_gpu_rect *s = &h->scanout_rect;
            if (!s->width || !s->height || !gpu_rect_inside(s, sr.width, sr.height))
                return -EINVAL;
            scanout_found = true;
        }
        if (sr.id == h->cursor_resource) {
            struct gpu_resource probe = { .format = sr.format, .width = sr.width, .height = sr.height };
            if (!gpu_cursor_fits(&probe))
                return -EINVAL;
            cursor_found = true;
        }
    }
    return entries == h->nentries && scanout_found && cursor_found ? 0 : -EINVAL;
}

static void free_built(struct gpu_resource **built, uint32_t n)
{
    for (uint32_t i = 0; built && i < n && built[i]; i++)
        gpu_res_destroy(built[i]);
    free(built);
}

static int gpu_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_gpu *gpu = ((struct virtio_device *)opaque)->priv;
    struct gpu_saved h;
    uint64_t total_bytes;
    pthread_mutex_lock(&gpu->vdev.lock);
    int r = state_check(gpu, buf, len, &h, &total_bytes);
    struct gpu_resource **built = r ? NULL : calloc(h.nresources + 1, sizeof(*built));
    if (!r && !built)
        r = -ENOMEM;
    const uint8_t *p = (const uint8_t *)buf + sizeof(h);
    for (uint32_t i = 0; !r && i < h.nresources; i++) {
        struct gpu_saved_resource sr;
        memcpy(&sr, p, sizeof(sr));
        p += sizeof(sr);
        size_t elen = (size_t)sr.nentries * sizeof(struct virtio_gpu_mem_entry);
        memcpy(gpu->entries, p, elen);   /* aligned for gpu_res_attach */
        p += elen;
        if (!(built[i] = gpu_res_new(sr.id, sr.format, sr.width, sr.height)))
            r = -ENOMEM;
        else if (sr.nentries)
            r = gpu_res_attach(gpu, built[i], gpu->entries, sr.nentries);
    }
    if (r) {
        free_built(built, h.nresources);
        pthread_mutex_unlock(&gpu->vdev.lock);
        return r;
    }
    /* Everything is built: from here on nothing can fail. The clients hear
     * of the new state in gpu_state_loaded(), once guest RAM is back. */
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++)
        if (gpu->res[i])
            gpu_res_free(gpu, gpu->res[i]);
    memcpy(gpu->res, built, h.nresources * sizeof(*built));
    free(built);
    gpu->total_bytes = total_bytes;
    gpu->total_entries = h.nentries;
    gpu->state.pref_width = h.pref_width;
    gpu->state.pref_height = h.pref_height;
    gpu->state.events_read = h.events_read;
    gpu->state.scanout_resource = h.scanout_resource;
    gpu->state.scanout_rect = h.scanout_rect;
    gpu->cursor_resource = h.cursor_resource;
    gpu->cursor_hot_x = h.cursor_hot_x;
    gpu->cursor_hot_y = h.cursor_hot_y;
    gpu->cursor_x = h.cursor_x;
    gpu->cursor_y = h.cursor_y;
    pthread_mutex_unlock(&gpu->vdev.lock);
    return 0;
}

/* Guest RAM is the snapshot's now: the host copies take the backing's
 * pixels (what the guest last transferred, unless it drew without a
 * transfer since), and every client gets the mode, a full-frame repaint
 * and the cursor again. A display event the driver had not acknowledged
 * is signalled again (an interrupt in flight at the save is lost). */
static void gpu_state_loaded(void *opaque)
{
    struct virtio_gpu *gpu = ((struct virtio_device *)opaque)->priv;
    pthread_mutex_lock(&gpu->vdev.lock);
    for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++) {
        struct gpu_resource *r = gpu->res[i];
        if (!r || r->direct)
            continue;
        uint64_t off = 0;
        for (unsigned e = 0; e < r->niov && off < r->size; e++) {
            uint64_t n = r->iov[e].len < r->size - off ? r->iov[e].len : r->size - off;
            memcpy(r->data + off, r->iov[e].host, n);
            off += n;
        }
    }
    gpu_publish_scanout(gpu);
    const struct virtio_gpu_rect *s = &gpu->state.scanout_rect;
    if (gpu->ds && gpu_res_find(gpu, gpu->state.scanout_resource))
        display_server_damage(gpu->ds, 0, 0, s->width, s->height);
    gpu_publish_cursor(gpu, true);
    if (gpu->state.events_read && (gpu->vdev.status & VIRTIO_STATUS_DRIVER_OK) && gpu->vdev.notify_config)
        gpu->vdev.notify_config(&gpu->vdev);
    pthread_mutex_unlock(&gpu->vdev.lock);
}

const struct state_ops virtio_gpu_state_ops = {
    .version = VIRTIO_GPU_STATE_VERSION, .save = gpu_state_save, .load = gpu_state_load,
    .loaded = gpu_state_loaded,
};
