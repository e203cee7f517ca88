/* The VMM's end of the display channel (docs/display-channel.md): accepts
 * any number of clients, tells each the current mode (with the framebuffer
 * memfd), damage and cursor, and hands their input back to the devices.
 *
 * A client never slows the guest down: sockets are non-blocking, and a
 * client that falls behind gets coalesced state (latest mode, cursor, a
 * bounded damage list) once it drains, never a growing queue. A client that
 * sends garbage or dies is dropped; nothing else notices.
 *
 * Thread-safe: the device calls in from the I/O thread or a vCPU thread
 * (reset); sockets are served on the I/O thread. Input callbacks run on the
 * I/O thread without the server's lock held. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "channel.h"

struct event_loop;
struct display_server;

struct display_input_ops {
    void (*key)(void *opaque, uint32_t code, bool down);
    /* x, y in pixels of the current width x height mode (clamped by the server) */
    void (*pointer)(void *opaque, int32_t x, int32_t y, uint32_t width, uint32_t height,
                    uint32_t buttons, int32_t wheel, int32_t hwheel);
    void (*resize)(void *opaque, uint32_t width, uint32_t height);
};

struct display_server *display_server_new(struct event_loop *loop, const char *vm_name);
void display_server_free(struct display_server *ds);
void display_server_set_input(struct display_server *ds, const struct display_input_ops *ops, void *opaque);
/* Listens on a UNIX socket at @path (replacing a stale socket file).
 * Returns -errno with *error set to a malloc'ed message. */
int display_server_listen(struct display_server *ds, const char *path, char **error);
/* Serves an already connected socket (e.g. one end of a socketpair given to
 * a spawned client). Takes ownership of @fd. */
int display_server_add_client(struct display_server *ds, int fd);
unsigned display_server_client_count(struct display_server *ds);

/* The scanout now shows @mode from @fd (borrowed; clients get a read-only
 * reopen of it). mode->width == 0 or fd < 0: display off. */
void display_server_set_mode(struct display_server *ds, const struct dc_mode *mode, int fd);
void display_server_damage(struct display_server *ds, int32_t x, int32_t y, uint32_t w, uint32_t h);
/* @argb: w*h pixels; w == 0 hides the cursor. w, h <= DC_CURSOR_MAX. */
void display_server_cursor(struct display_server *ds, uint32_t w, uint32_t h,
                           uint32_t hot_x, uint32_t hot_y, const uint32_t *argb);
void display_server_cursor_pos(struct display_server *ds, int32_t x, int32_t y, bool visible);
void display_server_leds(struct display_server *ds, uint32_t leds);
