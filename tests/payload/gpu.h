/* A minimal virtio-gpu 2D driver for payloads: the control queue on the
 * shared ring set, a resource whose backing is two separate pieces of
 * guest RAM (so the device has to gather), and the pictures of
 * gpu_test.h, which the host checks through the display channel. */
#pragma once
#include "payload.h"
#include "gpu_test.h"

#define CMD_GET_DISPLAY_INFO   0x0100
#define CMD_RESOURCE_CREATE_2D 0x0101
#define CMD_SET_SCANOUT        0x0103
#define CMD_RESOURCE_FLUSH     0x0104
#define CMD_TRANSFER_TO_HOST   0x0105
#define CMD_ATTACH_BACKING     0x0106
#define CMD_UPDATE_CURSOR      0x0300
#define CMD_MOVE_CURSOR        0x0301
#define RESP_OK_NODATA         0x1100
#define RESP_OK_DISPLAY_INFO   0x1101
#define RESP_ERR_INVALID_PARAMETER 0x1205
#define FORMAT_B8G8R8A8        1
#define FORMAT_B8G8R8X8        2

struct gpu_hdr { uint32_t type, flags; uint64_t fence_id; uint32_t ctx_id, padding; };
struct gpu_rect { uint32_t x, y, w, h; };
struct gpu_display_info { struct gpu_hdr h; struct { struct gpu_rect r; uint32_t enabled, flags; } modes[16]; };
struct gpu_create_2d { struct gpu_hdr h; uint32_t id, format, width, height; };
struct gpu_set_scanout { struct gpu_hdr h; struct gpu_rect r; uint32_t scanout, id; };
struct gpu_flush { struct gpu_hdr h; struct gpu_rect r; uint32_t id, padding; };
struct gpu_transfer { struct gpu_hdr h; struct gpu_rect r; uint64_t offset; uint32_t id, padding; };
struct gpu_attach { struct gpu_hdr h; uint32_t id, nr_entries; struct { uint64_t addr; uint32_t len, padding; } e[2]; };

extern union gpu_req { struct gpu_hdr h; struct gpu_create_2d c; struct gpu_set_scanout s; struct gpu_flush f;
                       struct gpu_transfer t; struct gpu_attach a; } gpu_req;
extern union gpu_resp { struct gpu_display_info di; struct gpu_hdr h; } gpu_resp;
extern struct vdev gpu_dev;

/* Finds and starts the device; fails the payload when there is none. */
void gpu_init(void);
/* Sends gpu_req (@len bytes, its type set to @type); returns the response type. */
uint32_t gpu_command(uint32_t type, unsigned len, unsigned resp_len);
/* Resource 1 with frame 1 of gpu_test.h on scanout 0, transferred and flushed. */
void gpu_show_frame1(void);
/* Frame 2: the white box, only it transferred and flushed. */
void gpu_show_box(void);
/* Resource 2 as the cursor (gpu_test.h's image and hot spot) at @x,@y, on
 * the cursor queue; then moves it. */
void gpu_show_cursor(uint32_t x, uint32_t y);
void gpu_move_cursor(uint32_t x, uint32_t y);
