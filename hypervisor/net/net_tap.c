/* An existing tap interface (bridged or routed by the host's own setup; the
 * user or an administrator creates it owned by the user, so opening it needs
 * no privilege). Frames are plain Ethernet (IFF_NO_PI); offloads were
 * already resolved by the NIC model before send. */
#include "net.h"
#include "net_config.h"
#include "core/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Frames read per wake-up: a flood from the host side cannot hold the I/O
 * thread for long; epoll reports the fd again if more is waiting. */
#define TAP_READ_BUDGET 64

struct net_tap {
    struct net_backend nb;
    int fd;
    bool reading;                    /* EPOLLIN registered */
    uint8_t buf[NET_MAX_FRAME];
};

static void tap_set_reading(struct net_tap *t, bool on)
{
    if (t->reading != on && event_loop_modify(t->nb.loop, t->fd, on ? EPOLLIN : 0) == 0)
        t->reading = on;
}

static void tap_readable(void *opaque, uint32_t events)
{
    struct net_tap *t = opaque;
    for (int i = 0; i < TAP_READ_BUDGET; i++) {
        ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
        if (n <= 0)
            return;
        if (!net_backend_deliver(&t->nb, t->buf, (size_t)n)) {
            /* The guest is full: stop reading until it posts buffers, and let
             * the kernel queue (and eventually drop) instead of us. */
            tap_set_reading(t, false);
            return;
        }
    }
}

static void tap_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (write(t->fd, frame, len) < 0)
        nb->tx_dropped++;            /* EAGAIN/ENOBUFS: the host side is full; like a wire, drop */
}

static void tap_resume(struct net_backend *nb)
{
    tap_set_reading((struct net_tap *)nb, true);
}

static void tap_free(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (t->fd >= 0) {
        event_loop_del(nb->loop, t->fd);
        close(t->fd);
    }
    free(t);
}

static const struct net_backend_ops net_tap_ops = {
    .name = "tap",
    .send = tap_send,
    .resume = tap_resume,
    .free = tap_free,
};

struct net_backend *net_tap_open(struct event_loop *loop, const struct net_config *cfg, char **error)
{
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nb.ops = &net_tap_ops;
    t->nb.loop = loop;
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->ifname);
    const char *step = "open /dev/net/tun";
    if (t->fd >= 0) {
        step = "attach to";
        if (ioctl(t->fd, TUNSETIFF, &ifr) == 0) {
            step = "watch";
            if (event_loop_add(loop, t->fd, EPOLLIN, tap_readable, t) == 0) {
                t->reading = true;
                return &t->nb;
            }
        }
    }
    int err = errno;
    if (asprintf(error, "--net tap:%s: cannot %s %s: %s%s", cfg->ifname, step,
                 t->fd >= 0 ? cfg->ifname : "", strerror(err),
                 err == EPERM ? " (create it first: ip tuntap add NAME mode tap user $USER)" : "") < 0)
        *error = NULL;
    tap_free(&t->nb);
    return NULL;
}
