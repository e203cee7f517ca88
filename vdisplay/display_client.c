/* Client side of the display channel (docs/display-channel.md). The VMM is
 * trusted more than a network peer, but its messages are still checked so
 * a bug there cannot make a client read outside its mapping. */
#include "display_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct dc_client {
    int fd;
    const struct dc_client_ops *ops;
    void *opaque;
    struct dc_mode mode;
    void *map;                       /* mapping of the framebuffer fd */
    size_t map_len;
    const uint8_t *pixels;
    uint8_t buf[DC_MAX_MSG];
};

int dc_client_connect(const char *path, char **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int err;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        err = ENAMETOOLONG;
        goto fail;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = errno;
        close(fd);
        goto fail;
    }
    return fd;
fail:
    if (error && asprintf(error, "cannot connect to display channel %s: %s", path, strerror(err)) < 0)
        *error = NULL;
    return -err;
}

struct dc_client *dc_client_new(int fd, const struct dc_client_ops *ops, void *opaque)
{
    struct dc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->ops = ops;
    c->opaque = opaque;
    return c;
}

static void unmap(struct dc_client *c)
{
    if (c->map)
        munmap(c->map, c->map_len);
    c->map = NULL;
    c->pixels = NULL;
}

void dc_client_free(struct dc_client *c)
{
    if (!c)
        return;
    unmap(c);
    close(c->fd);
    free(c);
}

int dc_client_fd(const struct dc_client *c) { return c->fd; }
const struct dc_mode *dc_client_mode(const struct dc_client *c) { return &c->mode; }
const uint8_t *dc_client_pixels(const struct dc_client *c) { return c->pixels; }

static int handle_mode(struct dc_client *c, const struct dc_mode *m, int fd)
{
    unmap(c);
    unsigned r, g, b;
    if (m->width == 0) {
        memset(&c->mode, 0, sizeof(c->mode));
        c->mode.serial = m->serial;
        goto done;
    }
    struct stat st;
    if (fd < 0 || m->width > DC_MAX_DIM || m->height > DC_MAX_DIM || !m->height ||
        !dc_format_info(m->format, &r, &g, &b) || m->stride < m->width * 4 ||
        m->size < (uint64_t)m->stride * (m->height - 1) + m->width * 4ULL || fstat(fd, &st) < 0 ||
        m->offset + m->size < m->offset || (uint64_t)st.st_size < m->offset + m->size)
        return -EPROTO;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = m->offset & ~(uint64_t)(page - 1);
    c->map_len = m->size + (m->offset - start);
    c->map = mmap(NULL, c->map_len, PROT_READ, MAP_SHARED, fd, (off_t)start);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return -errno;
    }
    c->pixels = (const uint8_t *)c->map + (m->offset - start);
    c->mode = *m;
done:
    if (c->ops->mode)
        c->ops->mode(c->opaque, &c->mode, c->pixels);
    return 0;
}

/* Clips damage to the mode in place; returns how many rects remain. */
static unsigned clip_rects(const struct dc_mode *m, struct dc_rect *r, unsigned n)
{
    unsigned out = 0;
    for (unsigned i = 0; i < n; i++) {
        int64_t x0 = r[i].x < 0 ? 0 : r[i].x, y0 = r[i].y < 0 ? 0 : r[i].y;
        int64_t x1 = (int64_t)r[i].x + r[i].w, y1 = (int64_t)r[i].y + r[i].h;
        if (x1 > m->width) x1 = m->width;
        if (y1 > m->height) y1 = m->height;
        if (x1 <= x0 || y1 <= y0)
            continue;
        r[out++] = (struct dc_rect){ (int32_t)x0, (int32_t)y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0) };
    }
    return out;
}

static int handle(struct dc_client *c, ssize_t n, int fd)
{
    struct dc_header h;
    if (n < (ssize_t)sizeof(h))
        return -EPROTO;
    memcpy(&h, c->buf, sizeof(h));
    if (h.len != (size_t)n - sizeof(h))
        return -EPROTO;
    uint8_t *body = c->buf + sizeof(h);
    switch (h.type) {
    case DC_MSG_HELLO: {
        struct dc_hello hello;
        if (h.len < sizeof(hello))
            return -EPROTO;
        memcpy(&hello, body, sizeof(hello));
        hello.name[sizeof(hello.name) - 1] = 0;
        if (hello.version != DC_VERSION)
            return -EPROTO;
        if (c->ops->hello)
            c->ops->hello(c->opaque, hello.name);
        return 0;
    }
    case DC_MSG_MODE: {
        struct dc_mode m;
        if (h.len < sizeof(m))
            return -EPROTO;
        memcpy(&m, body, sizeof(m));
        return handle_mode(c, &m, fd);
    }
    case DC_MSG_DAMAGE: {
        struct dc_damage d;
        if (h.len < sizeof(d))
            return -EPROTO;
        memcpy(&d, body, sizeof(d));
        if (d.count > DC_MAX_RECTS || h.len != sizeof(d) + d.count * sizeof(struct dc_rect))
            return -EPROTO;
        if (d.serial != c->mode.serial || !c->pixels)
            return 0;                /* for a mode we no longer show */
        struct dc_rect r[DC_MAX_RECTS];
        memcpy(r, body + sizeof(d), d.count * sizeof(struct dc_rect));
        unsigned k = clip_rects(&c->mode, r, d.count);
        if (k && c->ops->damage)
            c->ops->damage(c->opaque, r, k);
        return 0;
    }
    case DC_MSG_CURSOR: {
        struct dc_cursor cur;
        if (h.len < sizeof(cur))
            return -EPROTO;
        memcpy(&cur, body, sizeof(cur));
        if (cur.width > DC_CURSOR_MAX || cur.height > DC_CURSOR_MAX ||
            h.len != sizeof(cur) + cur.width * cur.height * 4)
            return -EPROTO;
        static uint32_t argb[DC_CURSOR_MAX * DC_CURSOR_MAX];
        memcpy(argb, body + sizeof(cur), cur.width * cur.height * 4);
        if (c->ops->cursor)
            c->ops->cursor(c->opaque, &cur, argb);
        return 0;
    }
    case DC_MSG_CURSOR_POS: {
        struct dc_cursor_pos p;
        if (h.len != sizeof(p))
            return -EPROTO;
        memcpy(&p, body, sizeof(p));
        if (c->ops->cursor_pos)
            c->ops->cursor_pos(c->opaque, &p);
        return 0;
    }
    case DC_MSG_LEDS: {
        struct dc_leds l;
        if (h.len != sizeof(l))
            return -EPROTO;
        memcpy(&l, body, sizeof(l));
        if (c->ops->leds)
            c->ops->leds(c->opaque, l.leds);
        return 0;
    }
    }
    return 0;                        /* unknown types are for newer clients: ignored */
}

int dc_client_dispatch(struct dc_client *c)
{
    for (;;) {
        union { struct cmsghdr c; char buf[CMSG_SPACE(4 * sizeof(int))]; } ctl;
        struct iovec iov = { c->buf, sizeof(c->buf) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
        ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -EPIPE;
        int fd = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            int nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < nfd; i++) {
                int f;
                memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (fd < 0)
                    fd = f;
                else
                    close(f);
            }
        }
        int r = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -EPROTO : handle(c, n, fd);
        if (fd >= 0)
            close(fd);               /* the mapping keeps what it needs */
        if (r < 0)
            return r;
    }
}

int dc_client_wait(struct dc_client *c, int timeout_ms)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    int r = poll(&p, 1, timeout_ms);
    return r < 0 ? -errno : r;
}

static int send_msg(struct dc_client *c, uint32_t type, const void *body, uint32_t len)
{
    struct dc_header h = { type, len };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t n;
    do
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

int dc_client_send_key(struct dc_client *c, uint32_t code, bool down)
{
    struct dc_key k = { code, down };
    return send_msg(c, DC_MSG_KEY, &k, sizeof(k));
}

int dc_client_send_pointer(struct dc_client *c, int32_t x, int32_t y, uint32_t buttons,
                           int32_t wheel, int32_t hwheel)
{
    struct dc_pointer p = { x, y, buttons, wheel, hwheel };
    return send_msg(c, DC_MSG_POINTER, &p, sizeof(p));
}

int dc_client_send_resize(struct dc_client *c, uint32_t width, uint32_t height)
{
    struct dc_resize r = { width, height };
    return send_msg(c, DC_MSG_RESIZE, &r, sizeof(r));
}
