/* The client end of the display channel, shared by domus-vnc, domus-view
 * and the manager's display widget: connects, maps the framebuffer the VMM
 * shares, validates every message, and sends input back. Not thread-safe:
 * use one client from one thread (or lock around it). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "channel.h"

struct dc_client;

struct dc_client_ops {
    void (*hello)(void *opaque, const char *vm_name);
    /* New mode; @pixels is the mapped pixel (0,0), NULL when the display is off.
     * The whole framebuffer is to be redrawn. */
    void (*mode)(void *opaque, const struct dc_mode *mode, const uint8_t *pixels);
    /* Rects already clipped to the mode. */
    void (*damage)(void *opaque, const struct dc_rect *rects, unsigned n);
    void (*cursor)(void *opaque, const struct dc_cursor *cursor, const uint32_t *argb);
    void (*cursor_pos)(void *opaque, const struct dc_cursor_pos *pos);
    void (*leds)(void *opaque, uint32_t leds);
};

/* Connects to a VMM's channel socket. Returns the fd or -errno, with
 * *error (if given) set to a malloc'ed message. */
int dc_client_connect(const char *path, char **error);
/* Takes ownership of a connected channel socket. */
struct dc_client *dc_client_new(int fd, const struct dc_client_ops *ops, void *opaque);
void dc_client_free(struct dc_client *c);
int dc_client_fd(const struct dc_client *c);
/* Handles every message waiting on the socket (never blocks). Returns 0,
 * -EPIPE when the VMM went away, or -EPROTO after a malformed message. */
int dc_client_dispatch(struct dc_client *c);
/* Blocks until the socket has something (or @timeout_ms passes; -1: forever). */
int dc_client_wait(struct dc_client *c, int timeout_ms);

const struct dc_mode *dc_client_mode(const struct dc_client *c);
const uint8_t *dc_client_pixels(const struct dc_client *c);

int dc_client_send_key(struct dc_client *c, uint32_t evdev_code, bool down);
int dc_client_send_pointer(struct dc_client *c, int32_t x, int32_t y, uint32_t buttons,
                           int32_t wheel, int32_t hwheel);
int dc_client_send_resize(struct dc_client *c, uint32_t width, uint32_t height);
