/* domus-vnc's VNC side: a libvncserver screen fed from the display channel.
 * Single-threaded and event-driven: the caller polls the fds from
 * vnc_server_pollfds() plus the channel, and calls vnc_server_run() after
 * any wakeup; nothing happens on a timer, so a static screen costs no CPU. */
#pragma once
#include <poll.h>
#include <stdbool.h>
#include "display_client.h"
#include "keysym_map.h"

struct vnc_server;

struct vnc_server_options {
    const char *name;                /* desktop name */
    int listen_fd;                   /* bound, listening TCP socket */
    const char *password;            /* NULL: no authentication (loopback only) */
    enum keymap_layout layout;
};

struct vnc_server *vnc_server_new(const struct vnc_server_options *opt);
void vnc_server_free(struct vnc_server *vs);
void vnc_server_attach(struct vnc_server *vs, struct dc_client *dc);
/* The channel callbacks that feed the server (opaque: the vnc_server). */
extern const struct dc_client_ops vnc_server_channel_ops;
/* Fills @fds with the sockets libvncserver watches; returns how many. */
unsigned vnc_server_pollfds(struct vnc_server *vs, struct pollfd *fds, unsigned max);
/* Serves readable sockets and sends pending updates (never blocks long). */
void vnc_server_run(struct vnc_server *vs);
unsigned vnc_server_client_count(struct vnc_server *vs);
