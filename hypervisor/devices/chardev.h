/* Character backends for the serial port and virtio-console: stdio, a pty,
 * a UNIX socket (one client at a time) or a file. Input arrives on the I/O
 * thread and is offered to the front end; output is written non-blocking
 * and dropped rather than stalling a vCPU when nobody reads. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"

struct event_loop;
struct chardev;

struct chardev_frontend {
    /* How many bytes the front end can take now (0 pauses input). */
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
};

struct chardev *chardev_open(struct event_loop *loop, enum serial_kind kind, const char *path, char **error);
void chardev_close(struct chardev *chr);
void chardev_set_frontend(struct chardev *chr, const struct chardev_frontend *fe);
/* Writes guest output; never blocks. */
void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len);
/* Front end has room again: re-arm input. Any thread, any locks held; the
 * re-arm itself happens on the I/O thread. */
void chardev_accept_input(struct chardev *chr);
/* What Ctrl-A x on a stdio terminal does (e.g. request power-off); without
 * a handler it exits the process at once, restoring the terminal. */
void chardev_set_quit_handler(void (*fn)(void *opaque), void *opaque);
/* The pty's path, for printing; NULL for other kinds. */
const char *chardev_pty_name(struct chardev *chr);
