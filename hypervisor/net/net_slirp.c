/* User-mode networking through libslirp: DHCP, DNS, NAT to the host's
 * sockets and port forwards, all unprivileged.
 *
 * libslirp is written for a poll() loop (fill the fd set, poll, dispatch).
 * Here it lives on the VMM's epoll I/O thread: after every slirp call the fd
 * set is refilled and mirrored into epoll registrations with the events
 * slirp asked for; when one fires, a zero-timeout poll() over that set
 * gives slirp its revents. slirp's own timers are timerfds. Nothing wakes
 * up unless slirp has asked for it. */
#include "net.h"
#include "net_config.h"
#include "core/event_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct slirp_fd {                    /* one socket of slirp's, by fd number */
    struct net_slirp *ns;
    int fd;
    uint32_t events;                 /* registered epoll events, 0 = not registered */
    unsigned seen;                   /* fill generation that last asked for it */
};

struct slirp_timer {
    struct net_slirp *ns;
    int fd;                          /* timerfd */
    SlirpTimerId id;
    void *cb_opaque;
    SlirpTimerCb cb;                 /* old-style timer (timer_new) */
    void *opaque;
};

struct net_slirp {
    struct net_backend nb;
    Slirp *slirp;
    int tick_fd;                     /* timerfd for slirp's fast/slow TCP timers */
    struct slirp_fd **fds;           /* indexed by fd */
    unsigned fds_cap;
    struct pollfd *pfds;             /* the set of the last fill */
    unsigned npfds, pfds_cap;
    unsigned generation;
};

static int64_t slirp_clock_ns(void *opaque)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ssize_t slirp_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *ns = opaque;
    net_backend_deliver(&ns->nb, buf, len);
    return (ssize_t)len;
}

static void slirp_guest_error(const char *msg, void *opaque)
{
    fprintf(stderr, "domus-vmm: net user: guest error: %s\n", msg);
}

/* ---- fd set <-> epoll ---- */

static void slirp_refill(struct net_slirp *ns);

static int slirp_get_revents(int idx, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (idx < 0 || (unsigned)idx >= ns->npfds)
        return 0;
    short re = ns->pfds[idx].revents;
    return (re & POLLIN ? SLIRP_POLL_IN : 0) | (re & POLLOUT ? SLIRP_POLL_OUT : 0) |
           (re & POLLPRI ? SLIRP_POLL_PRI : 0) | (re & POLLERR ? SLIRP_POLL_ERR : 0) |
           (re & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* Poll what slirp asked for (without waiting) and let it act on the result. */
static void slirp_poll_now(struct net_slirp *ns)
{
    int r = ns->npfds ? poll(ns->pfds, ns->npfds, 0) : 0;
    if (r < 0 && errno == EINTR)
        r = 0;
    slirp_pollfds_poll(ns->slirp, r < 0, slirp_get_revents, ns);
    slirp_refill(ns);
}

static void slirp_fd_ready(void *opaque, uint32_t events)
{
    struct slirp_fd *sf = opaque;
    slirp_poll_now(sf->ns);
}

static void slirp_tick(void *opaque, uint32_t events)
{
    struct net_slirp *ns = opaque;
    uint64_t n;
    if (read(ns->tick_fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
        return;
    slirp_poll_now(ns);
}

static struct slirp_fd *slirp_fd_get(struct net_slirp *ns, int fd)
{
    if ((unsigned)fd >= ns->fds_cap) {
        unsigned cap = ns->fds_cap ? ns->fds_cap : 64;
        while (cap <= (unsigned)fd)
            cap *= 2;
        struct slirp_fd **n = realloc(ns->fds, cap * sizeof(*n));
        if (!n)
            return NULL;
        memset(n + ns->fds_cap, 0, (cap - ns->fds_cap) * sizeof(*n));
        ns->fds = n;
        ns->fds_cap = cap;
    }
    if (!ns->fds[fd]) {
        ns->fds[fd] = calloc(1, sizeof(struct slirp_fd));
        if (!ns->fds[fd])
            return NULL;
        ns->fds[fd]->ns = ns;
        ns->fds[fd]->fd = fd;
    }
    return ns->fds[fd];
}

static void slirp_fd_forget(struct net_slirp *ns, int fd)
{
    if ((unsigned)fd >= ns->fds_cap || !ns->fds[fd])
        return;
    if (ns->fds[fd]->events)
        event_loop_del(ns->nb.loop, fd);
    ns->fds[fd]->events = 0;
}

static int slirp_add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (ns->npfds == ns->pfds_cap) {
        unsigned cap = ns->pfds_cap ? 2 * ns->pfds_cap : 32;
        struct pollfd *n = realloc(ns->pfds, cap * sizeof(*n));
        if (!n)
            return -1;
        ns->pfds = n;
        ns->pfds_cap = cap;
    }
    short pe = (events & SLIRP_POLL_IN ? POLLIN : 0) | (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
               (events & SLIRP_POLL_PRI ? POLLPRI : 0);
    ns->pfds[ns->npfds] = (struct pollfd){ .fd = fd, .events = pe };
    return (int)ns->npfds++;
}

/* Asks slirp what it waits for now and makes epoll wait for exactly that. */
static void slirp_refill(struct net_slirp *ns)
{
    ns->npfds = 0;
    ns->generation++;
    uint32_t timeout = UINT32_MAX;
    slirp_pollfds_fill(ns->slirp, &timeout, slirp_add_poll, ns);
    for (unsigned i = 0; i < ns->npfds; i++) {
        struct pollfd *p = &ns->pfds[i];
        uint32_t want = (p->events & POLLIN ? EPOLLIN : 0) | (p->events & POLLOUT ? EPOLLOUT : 0) |
                        (p->events & POLLPRI ? EPOLLPRI : 0);
        struct slirp_fd *sf = slirp_fd_get(ns, p->fd);
        if (!sf)
            continue;
        sf->seen = ns->generation;
        if (want == sf->events)
            continue;
        int r;
        if (!want) {
            slirp_fd_forget(ns, p->fd);
            continue;
        }
        if (sf->events) {
            r = event_loop_modify(ns->nb.loop, p->fd, want);
            if (r == -ENOENT) {          /* closed and reused behind our back */
                event_loop_del(ns->nb.loop, p->fd);
                r = event_loop_add(ns->nb.loop, p->fd, want, slirp_fd_ready, sf);
            }
        } else {
            r = event_loop_add(ns->nb.loop, p->fd, want, slirp_fd_ready, sf);
        }
        sf->events = r < 0 ? 0 : want;
    }
    /* Sockets slirp no longer asked about (still open: unregister_poll_fd
     * comes before close) stop waking us. */
    for (unsigned fd = 0; fd < ns->fds_cap; fd++)
        if (ns->fds[fd] && ns->fds[fd]->events && ns->fds[fd]->seen != ns->generation)
            slirp_fd_forget(ns, (int)fd);
    struct itimerspec its = { 0 };
    if (timeout != UINT32_MAX) {
        its.it_value.tv_sec = timeout / 1000;
        its.it_value.tv_nsec = (long)(timeout % 1000) * 1000000 + 1;
    }
    timerfd_settime(ns->tick_fd, 0, &its, NULL);
}

static void slirp_register_poll_fd(int fd, void *opaque)
{
    /* Registration happens at the next refill, with the events slirp wants. */
}

static void slirp_unregister_poll_fd(int fd, void *opaque)
{
    slirp_fd_forget(opaque, fd);
}

static void slirp_notify(void *opaque)
{
    /* Called from inside slirp: socket buffer space changed; the refill
     * after the current slirp call picks it up. */
}

/* ---- timers ---- */

static void slirp_timer_fired(void *opaque, uint32_t events)
{
    struct slirp_timer *t = opaque;
    uint64_t n;
    if (read(t->fd, &n, sizeof(n)) < 0)
        return;
    if (t->cb)
        t->cb(t->cb_opaque);
    else
        slirp_handle_timer(t->ns->slirp, t->id, t->cb_opaque);
    slirp_refill(t->ns);
}

static struct slirp_timer *slirp_timer_make(struct net_slirp *ns)
{
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ns = ns;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (t->fd < 0 || event_loop_add(ns->nb.loop, t->fd, EPOLLIN, slirp_timer_fired, t) < 0) {
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        return NULL;
    }
    return t;
}

static void *slirp_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = slirp_timer_make(opaque);
    if (t) {
        t->id = id;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void *slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = slirp_timer_make(opaque);
    if (t) {
        t->cb = cb;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void slirp_timer_free(void *timer, void *opaque)
{
    struct slirp_timer *t = timer;
    if (!t)
        return;
    event_loop_del(t->ns->nb.loop, t->fd);
    close(t->fd);
    free(t);
}

static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *t = timer;
    if (!t)
        return;
    /* expire_ms is on slirp_clock_ns()'s clock, i.e. CLOCK_MONOTONIC. */
    if (expire_ms <= 0)
        expire_ms = 1;
    struct itimerspec its = { .it_value = { .tv_sec = expire_ms / 1000,
                                            .tv_nsec = (expire_ms % 1000) * 1000000 } };
    timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send_packet,
    .guest_error = slirp_guest_error,
    .clock_get_ns = slirp_clock_ns,
    .timer_new = slirp_timer_new,
    .timer_free = slirp_timer_free,
    .timer_mod = slirp_timer_mod,
    .register_poll_fd = slirp_register_poll_fd,
    .unregister_poll_fd = slirp_unregister_poll_fd,
    .notify = slirp_notify,
    .timer_new_opaque = slirp_timer_new_opaque,
};

/* ---- backend ops ---- */

static void net_slirp_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    struct net_slirp *ns = (struct net_slirp *)nb;
    slirp_input(ns->slirp, frame, (int)len);
    /* The guest's data may now wait for a socket to become writable. */
    slirp_refill(ns);
}

static void net_slirp_free(struct net_backend *nb)
{
    struct net_slirp *ns = (struct net_slirp *)nb;
    if (ns->slirp)
        slirp_cleanup(ns->slirp);
    for (unsigned fd = 0; fd < ns->fds_cap; fd++) {
        if (ns->fds[fd])
            slirp_fd_forget(ns, (int)fd);
        free(ns->fds[fd]);
    }
    if (ns->tick_fd >= 0) {
        event_loop_del(nb->loop, ns->tick_fd);
        close(ns->tick_fd);
    }
    free(ns->fds);
    free(ns->pfds);
    free(ns);
}

static const struct net_backend_ops net_slirp_ops = {
    .name = "user",
    .send = net_slirp_send,
    .free = net_slirp_free,
};

static char *errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *errorf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

struct net_backend *net_slirp_open(struct event_loop *loop, const struct net_config *cfg, char **error)
{
    struct net_slirp *ns = calloc(1, sizeof(*ns));
    if (!ns)
        return NULL;
    ns->nb.ops = &net_slirp_ops;
    ns->nb.loop = loop;
    ns->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (ns->tick_fd < 0 || event_loop_add(loop, ns->tick_fd, EPOLLIN, slirp_tick, ns) < 0) {
        *error = errorf("--net user: %s", strerror(errno));
        net_slirp_free(&ns->nb);
        return NULL;
    }
    /* QEMU's well-known layout: 10.0.2.0/24, host 10.0.2.2, DNS 10.0.2.3,
     * guest 10.0.2.15 by DHCP; 10.0.2.2 reaches the host's loopback. */
    SlirpConfig sc = {
        .version = 4,
        .in_enabled = true,
        .vnetwork.s_addr = htonl(0x0A000200),
        .vnetmask.s_addr = htonl(0xFFFFFF00),
        .vhost.s_addr = htonl(0x0A000202),
        .vdhcp_start.s_addr = htonl(0x0A00020F),
        .vnameserver.s_addr = htonl(0x0A000203),
        .in6_enabled = true,
        .vprefix_len = 64,
        .vhostname = "domus",
    };
    inet_pton(AF_INET6, "fec0::", &sc.vprefix_addr6);
    inet_pton(AF_INET6, "fec0::2", &sc.vhost6);
    inet_pton(AF_INET6, "fec0::3", &sc.vnameserver6);
    ns->slirp = slirp_new(&sc, &slirp_callbacks, ns);
    if (!ns->slirp) {
        *error = errorf("--net user: libslirp could not start");
        net_slirp_free(&ns->nb);
        return NULL;
    }
    for (unsigned i = 0; i < cfg->nhostfwd; i++) {
        const struct net_hostfwd *f = &cfg->hostfwd[i];
        struct in_addr h = { f->host_addr }, g = { f->guest_addr ? f->guest_addr : sc.vdhcp_start.s_addr };
        if (slirp_add_hostfwd(ns->slirp, f->udp, h, f->host_port, g, f->guest_port) < 0) {
            char hs[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &h, hs, sizeof(hs));
            *error = errorf("--net user: cannot forward %s %s:%u: %s", f->udp ? "udp" : "tcp", hs,
                            f->host_port, strerror(errno ? errno : EADDRINUSE));
            net_slirp_free(&ns->nb);
            return NULL;
        }
    }
    slirp_refill(ns);
    return &ns->nb;
}
