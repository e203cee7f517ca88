/* The display channel: the protocol between a VMM and its display clients
 * (domus-vnc, domus-view, the manager's display widget). See
 * docs/display-channel.md for the full description.
 *
 * Transport: a UNIX SOCK_SEQPACKET socket, one message per packet, every
 * message a struct dc_header followed by its body. File descriptors travel
 * with SCM_RIGHTS. All integers are host-endian (both ends are on one host). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define DC_VERSION          1
#define DC_MAX_MSG          65536      /* largest packet either side sends */
#define DC_MAX_RECTS        64         /* rects in one DAMAGE message */
#define DC_CURSOR_MAX       64         /* cursor images are at most 64x64 */
#define DC_MAX_DIM          16384      /* width/height limit for modes and resize requests */

/* DRM fourcc codes; the framebuffer's byte order in memory. */
#define DC_FOURCC(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define DC_FORMAT_XRGB8888  DC_FOURCC('X', 'R', '2', '4')   /* bytes B G R X */
#define DC_FORMAT_ARGB8888  DC_FOURCC('A', 'R', '2', '4')   /* bytes B G R A */
#define DC_FORMAT_XBGR8888  DC_FOURCC('X', 'B', '2', '4')   /* bytes R G B X */
#define DC_FORMAT_ABGR8888  DC_FOURCC('A', 'B', '2', '4')   /* bytes R G B A */
#define DC_FORMAT_BGRX8888  DC_FOURCC('B', 'X', '2', '4')   /* bytes X R G B */
#define DC_FORMAT_BGRA8888  DC_FOURCC('B', 'A', '2', '4')   /* bytes A R G B */
#define DC_FORMAT_RGBX8888  DC_FOURCC('R', 'X', '2', '4')   /* bytes X B G R */
#define DC_FORMAT_RGBA8888  DC_FOURCC('R', 'A', '2', '4')   /* bytes A B G R */

/* Byte positions of red, green and blue in a pixel of a DC_FORMAT_* (all
 * formats are 4 bytes per pixel); false if the format is unknown. */
static inline bool dc_format_info(uint32_t format, unsigned *r, unsigned *g, unsigned *b)
{
    switch (format) {
    case DC_FORMAT_XRGB8888: case DC_FORMAT_ARGB8888: *r = 2; *g = 1; *b = 0; return true;
    case DC_FORMAT_XBGR8888: case DC_FORMAT_ABGR8888: *r = 0; *g = 1; *b = 2; return true;
    case DC_FORMAT_BGRX8888: case DC_FORMAT_BGRA8888: *r = 1; *g = 2; *b = 3; return true;
    case DC_FORMAT_RGBX8888: case DC_FORMAT_RGBA8888: *r = 3; *g = 2; *b = 1; return true;
    }
    return false;
}

enum dc_msg_type {
    /* VMM -> client */
    DC_MSG_HELLO = 1,           /* struct dc_hello; first message on a connection */
    DC_MSG_MODE = 2,            /* struct dc_mode + SCM_RIGHTS memfd (none when width == 0) */
    DC_MSG_DAMAGE = 3,          /* struct dc_damage */
    DC_MSG_CURSOR = 4,          /* struct dc_cursor + width*height ARGB8888 pixels */
    DC_MSG_CURSOR_POS = 5,      /* struct dc_cursor_pos */
    DC_MSG_LEDS = 6,            /* struct dc_leds */
    /* client -> VMM */
    DC_MSG_KEY = 64,            /* struct dc_key */
    DC_MSG_POINTER = 65,        /* struct dc_pointer */
    DC_MSG_RESIZE = 66,         /* struct dc_resize: the client would like this mode */
};

struct dc_header {
    uint32_t type;
    uint32_t len;               /* body bytes after this header */
};

struct dc_hello {
    uint32_t version;           /* DC_VERSION */
    uint32_t flags;             /* 0 */
    char name[64];              /* the VM's name, NUL-terminated */
};

/* The scanout changed. The memfd holds the framebuffer at byte @offset
 * (the fd is read-only; map it MAP_SHARED at the page below @offset).
 * width == 0: the guest shows nothing (display off). */
struct dc_mode {
    uint32_t width, height;
    uint32_t stride;            /* bytes per row */
    uint32_t format;            /* DC_FORMAT_* */
    uint64_t offset;            /* of pixel (0,0) in the fd */
    uint64_t size;              /* bytes the client may map from @offset (>= stride*(height-1) + width*4) */
    uint32_t serial;            /* bumped on every mode change */
    uint32_t flags;             /* DC_MODE_F_* */
};
#define DC_MODE_F_GUEST_RAM 1   /* the fd is guest RAM itself (zero-copy) */

struct dc_rect {
    int32_t x, y;
    uint32_t w, h;
};

/* These pixels changed (already in the shared framebuffer). */
struct dc_damage {
    uint32_t serial;            /* of the mode they belong to */
    uint32_t count;
    struct dc_rect rects[];     /* count <= DC_MAX_RECTS */
};

struct dc_cursor {
    uint32_t width, height;     /* 0x0: hide the cursor */
    uint32_t hot_x, hot_y;
    /* then width*height ARGB8888 pixels (premultiplied? no: straight alpha) */
};

struct dc_cursor_pos {
    int32_t x, y;
    uint32_t visible;
};

struct dc_leds {
    uint32_t leds;              /* DC_LED_* */
};
#define DC_LED_NUM    1
#define DC_LED_CAPS   2
#define DC_LED_SCROLL 4

/* A key, as a Linux evdev code (linux/input-event-codes.h). */
struct dc_key {
    uint32_t code;
    uint32_t down;
};

/* Absolute pointer in framebuffer pixels of the current mode, plus buttons
 * (bit 0 left, 1 middle, 2 right) and wheel steps (positive: up / right). */
#define DC_BUTTON_LEFT   1
#define DC_BUTTON_MIDDLE 2
#define DC_BUTTON_RIGHT  4
struct dc_pointer {
    int32_t x, y;
    uint32_t buttons;
    int32_t wheel, hwheel;
};

struct dc_resize {
    uint32_t width, height;
};
