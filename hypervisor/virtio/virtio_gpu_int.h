/* virtio-gpu internals shared by the device (virtio_gpu.c) and its saved
 * state (virtio_gpu_state.c). Everything here runs under vdev.lock. */
#pragma once
#include "virtio_gpu.h"
#include "core/memory.h"

#include <stdbool.h>
#include <stdint.h>

struct gpu_backing {
    uint8_t *host;
    uint64_t gpa;                    /* what the guest gave: kept for snapshots */
    uint64_t len;
};

struct gpu_resource {
    uint32_t id, format, width, height, stride;
    uint64_t size;
    int memfd;
    uint8_t *data;                   /* host storage (the memfd mapped) */
    struct gpu_backing *iov;
    unsigned niov;
    uint64_t backing_len;
    bool direct;                     /* backing is contiguous guest RAM: clients map it */
    uint64_t direct_offset;          /* of the backing in the guest RAM memfd */
};

#define VIRTIO_GPU_STATE_VERSION 1
struct virtio_gpu_state {
    uint32_t version;
    uint32_t pref_width, pref_height;
    uint32_t events_read;
    uint32_t scanout_resource;
    struct virtio_gpu_rect scanout_rect;
};

struct virtio_gpu {
    struct virtio_device vdev;
    const struct guest_mem *mem;
    struct display_server *ds;
    struct virtio_gpu_state state;
    struct gpu_resource *res[GPU_MAX_RESOURCES];
    uint64_t total_bytes;
    uint64_t total_entries;          /* backing entries of all resources */
    uint32_t cursor_resource, cursor_hot_x, cursor_hot_y;
    int32_t cursor_x, cursor_y;
    void (*on_release)(void *opaque);  /* another display (VGA) takes the channel back */
    void *release_opaque;
    bool scanout_shown;
    struct virtq_chain chain;        /* I/O thread scratch, under vdev.lock */
    uint8_t req[sizeof(struct virtio_gpu_resp_edid)];
    uint8_t resp[sizeof(struct virtio_gpu_resp_edid)];
    struct virtio_gpu_mem_entry entries[GPU_MAX_BACKING];
};

/* The saved state (virtio_gpu_state.c), little-endian, no padding:
 * struct gpu_saved, then per resource a struct gpu_saved_resource and its
 * nentries struct virtio_gpu_mem_entry (guest addresses). */
struct gpu_saved {
    uint32_t version;
    uint32_t pref_width, pref_height, events_read;
    uint32_t scanout_resource;
    struct virtio_gpu_rect scanout_rect;
    uint32_t cursor_resource, cursor_hot_x, cursor_hot_y;
    int32_t cursor_x, cursor_y;
    uint32_t nresources, nentries;
};

struct gpu_saved_resource {
    uint32_t id, format, width, height, nentries, pad;
};

/* The display channel's format for a virtio format; 0 when unknown. */
uint32_t gpu_dc_format(uint32_t virtio_format);
/* Whether @r lies wholly inside a WxH surface. */
static inline bool gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
    return r->x <= w && r->width <= w - r->x && r->y <= h && r->height <= h - r->y;
}
struct gpu_resource *gpu_res_find(struct virtio_gpu *gpu, uint32_t id);
/* Host storage for a WxH resource (parameters already checked); NULL when out of memory. */
struct gpu_resource *gpu_res_new(uint32_t id, uint32_t format, uint32_t width, uint32_t height);
/* Frees a resource that is in no list. */
void gpu_res_destroy(struct gpu_resource *r);
/* Frees @r and takes it out of gpu->res and the totals. */
void gpu_res_free(struct virtio_gpu *gpu, struct gpu_resource *r);
/* Gives @r (which has none) the backing @e[0..n): 0, -EFAULT when an entry
 * is empty or not guest RAM, -ENOMEM. Totals are the caller's. */
int gpu_res_attach(struct virtio_gpu *gpu, struct gpu_resource *r, const struct virtio_gpu_mem_entry *e, unsigned n);
/* Whether @r can be a cursor image. */
bool gpu_cursor_fits(const struct gpu_resource *r);
/* Tells the clients the scanout's mode (and its memfd); the cursor's
 * shape (when @shape) and position. */
void gpu_publish_scanout(struct virtio_gpu *gpu);
void gpu_publish_cursor(struct virtio_gpu *gpu, bool shape);

extern const struct state_ops virtio_gpu_state_ops;
