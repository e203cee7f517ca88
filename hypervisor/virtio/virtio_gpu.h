/* virtio-gpu 2D (virtio 1.x 5.7): guest framebuffers shown through the
 * display channel. Internals shared with the unit tests, which drive the
 * device on fake guest memory without a transport. */
#pragma once
#include <stddef.h>
#include "virtio.h"

#define VIRTIO_ID_GPU             16
#define VIRTIO_GPU_F_EDID         1

#define VIRTIO_GPU_EVENT_DISPLAY  1
#define VIRTIO_GPU_FLAG_FENCE     1
#define VIRTIO_GPU_MAX_SCANOUTS   16

enum virtio_gpu_ctrl_type {
    VIRTIO_GPU_CMD_GET_DISPLAY_INFO = 0x0100,
    VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
    VIRTIO_GPU_CMD_RESOURCE_UNREF,
    VIRTIO_GPU_CMD_SET_SCANOUT,
    VIRTIO_GPU_CMD_RESOURCE_FLUSH,
    VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
    VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
    VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
    VIRTIO_GPU_CMD_GET_CAPSET_INFO,
    VIRTIO_GPU_CMD_GET_CAPSET,
    VIRTIO_GPU_CMD_GET_EDID,
    VIRTIO_GPU_CMD_UPDATE_CURSOR = 0x0300,
    VIRTIO_GPU_CMD_MOVE_CURSOR,
    VIRTIO_GPU_RESP_OK_NODATA = 0x1100,
    VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
    VIRTIO_GPU_RESP_OK_CAPSET_INFO,
    VIRTIO_GPU_RESP_OK_CAPSET,
    VIRTIO_GPU_RESP_OK_EDID,
    VIRTIO_GPU_RESP_ERR_UNSPEC = 0x1200,
    VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
    VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
};

enum virtio_gpu_formats {
    VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM = 1,
    VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM = 2,
    VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM = 3,
    VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM = 4,
    VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM = 67,
    VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM = 68,
    VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM = 121,
    VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM = 134,
};

struct virtio_gpu_ctrl_hdr {
    uint32_t type, flags;
    uint64_t fence_id;
    uint32_t ctx_id;
    uint8_t ring_idx, padding[3];
};

struct virtio_gpu_rect { uint32_t x, y, width, height; };

struct virtio_gpu_resp_display_info {
    struct virtio_gpu_ctrl_hdr hdr;
    struct { struct virtio_gpu_rect r; uint32_t enabled, flags; } pmodes[VIRTIO_GPU_MAX_SCANOUTS];
};
struct virtio_gpu_get_edid { struct virtio_gpu_ctrl_hdr hdr; uint32_t scanout, padding; };
struct virtio_gpu_resp_edid { struct virtio_gpu_ctrl_hdr hdr; uint32_t size, padding; uint8_t edid[1024]; };
struct virtio_gpu_resource_create_2d { struct virtio_gpu_ctrl_hdr hdr; uint32_t resource_id, format, width, height; };
struct virtio_gpu_resource_unref { struct virtio_gpu_ctrl_hdr hdr; uint32_t resource_id, padding; };
struct virtio_gpu_set_scanout { struct virtio_gpu_ctrl_hdr hdr; struct virtio_gpu_rect r; uint32_t scanout_id, resource_id; };
struct virtio_gpu_resource_flush { struct virtio_gpu_ctrl_hdr hdr; struct virtio_gpu_rect r; uint32_t resource_id, padding; };
struct virtio_gpu_transfer_to_host_2d {
    struct virtio_gpu_ctrl_hdr hdr;
    struct virtio_gpu_rect r;
    uint64_t offset;
    uint32_t resource_id, padding;
};
struct virtio_gpu_mem_entry { uint64_t addr; uint32_t length, padding; };
struct virtio_gpu_resource_attach_backing { struct virtio_gpu_ctrl_hdr hdr; uint32_t resource_id, nr_entries; };
struct virtio_gpu_resource_detach_backing { struct virtio_gpu_ctrl_hdr hdr; uint32_t resource_id, padding; };
struct virtio_gpu_cursor_pos { uint32_t scanout_id, x, y, padding; };
struct virtio_gpu_update_cursor {
    struct virtio_gpu_ctrl_hdr hdr;
    struct virtio_gpu_cursor_pos pos;
    uint32_t resource_id, hot_x, hot_y, padding;
};

struct virtio_gpu_config {
    uint32_t events_read, events_clear, num_scanouts, num_capsets;
};

/* Limits a guest cannot talk us past (ERR_OUT_OF_MEMORY / ERR_INVALID_PARAMETER). */
#define GPU_MAX_DIM          16384
#define GPU_MAX_RESOURCE     (128u << 20)           /* bytes in one resource */
#define GPU_MAX_TOTAL        (256u << 20)           /* bytes in all resources */
#define GPU_MAX_RESOURCES    512
#define GPU_MAX_BACKING      32768                  /* entries in one attach */
#define GPU_MAX_ENTRIES_TOTAL (1u << 18)            /* entries in all attaches (bounds saved state too) */
/* Modes a viewer may ask for (kept within what one EDID timing can say). */
#define GPU_MIN_W 320
#define GPU_MIN_H 200
#define GPU_MAX_W 4096
#define GPU_MAX_H 4096

struct virtio_gpu;
struct display_server;
struct guest_mem;

/* Builds the device (no transport) showing on @ds (may be NULL). */
int virtio_gpu_new(const struct guest_mem *mem, struct display_server *ds, struct virtio_gpu **out);
void virtio_gpu_free(struct virtio_gpu *gpu);
struct virtio_device *virtio_gpu_device(struct virtio_gpu *gpu);
/* A viewer would like WxH: remembered, reported by GET_DISPLAY_INFO/EDID,
 * and signalled to the driver with a display config event. Thread-safe. */
void virtio_gpu_request_size(struct virtio_gpu *gpu, uint32_t width, uint32_t height);
/* The channel is shared with a boot display (VGA): while the guest shows
 * no scanout, @on_release is called (under the device lock) instead of
 * turning the display off. Lock-free: whether a scanout is shown now. */
void virtio_gpu_share_display(struct virtio_gpu *gpu, void (*on_release)(void *opaque), void *opaque);
bool virtio_gpu_scanout_active(void *gpu);
/* The PCI device on @vm. */
int virtio_gpu_create(struct vm *vm, struct display_server *ds, struct virtio_gpu **out);

/* A 128-byte EDID 1.4 block whose preferred timing is WxH at 60 Hz. */
void virtio_gpu_edid(uint8_t edid[128], uint32_t width, uint32_t height);
