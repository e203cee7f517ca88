/* VMM side of the display channel; see display_server.h for the model:
 * per client only "what is stale" is kept (mode, cursor, damage), and a
 * flush sends it until the socket would block. */
#include "display_server.h"
#include "core/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 16

struct ds_client {
    struct display_server *ds;
    int fd;
    bool want_out;                   /* EPOLLOUT armed */
    bool need_hello, need_mode, need_cursor, need_pos, need_leds;
    unsigned ndamage;
    struct dc_rect damage[DC_MAX_RECTS];
};

struct display_server {
    pthread_mutex_t lock;
    struct event_loop *loop;
    char name[64];
    int listen_fd;
    char *listen_path;
    const struct display_input_ops *ops;
    void *opaque;

    struct dc_mode mode;
    int mode_fd;                     /* read-only fd handed to clients, -1: none */
    uint32_t cursor_w, cursor_h, hot_x, hot_y;
    uint32_t cursor[DC_CURSOR_MAX * DC_CURSOR_MAX];
    struct dc_cursor_pos pos;
    uint32_t leds;

    struct ds_client *clients[MAX_CLIENTS];
};

/* ---- sending (lock held) ---- */

/* One packet; returns 0, -EAGAIN (try later) or another -errno (client gone). */
static int send_packet(int fd, uint32_t type, const void *body, uint32_t len, const void *tail,
                       uint32_t tail_len, int pass_fd)
{
    struct dc_header h = { .type = type, .len = len + tail_len };
    struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)body, len }, { (void *)tail, tail_len } };
    union { struct cmsghdr c; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = tail_len ? 3 : 2 };
    if (pass_fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return 0;
}

static int flush_damage(struct display_server *ds, struct ds_client *c)
{
    struct {
        struct dc_damage d;
        struct dc_rect r[DC_MAX_RECTS];
    } msg;
    msg.d.serial = ds->mode.serial;
    msg.d.count = c->ndamage;
    memcpy(msg.r, c->damage, c->ndamage * sizeof(struct dc_rect));
    int r = send_packet(c->fd, DC_MSG_DAMAGE, &msg, sizeof(msg.d) + c->ndamage * sizeof(struct dc_rect),
                        NULL, 0, -1);
    if (r == 0)
        c->ndamage = 0;
    return r;
}

/* Sends everything stale, in protocol order. Returns 0, -EAGAIN or -errno. */
static int client_flush(struct display_server *ds, struct ds_client *c)
{
    int r = 0;
    if (c->need_hello) {
        struct dc_hello h = { .version = DC_VERSION };
        snprintf(h.name, sizeof(h.name), "%s", ds->name);
        if ((r = send_packet(c->fd, DC_MSG_HELLO, &h, sizeof(h), NULL, 0, -1)) < 0)
            goto out;
        c->need_hello = false;
    }
    if (c->need_mode) {
        struct dc_mode m = ds->mode;
        if (ds->mode_fd < 0)
            m.width = m.height = m.stride = 0;
        if ((r = send_packet(c->fd, DC_MSG_MODE, &m, sizeof(m), NULL, 0, m.width ? ds->mode_fd : -1)) < 0)
            goto out;
        c->need_mode = false;
        c->ndamage = 0;              /* a new mode means "repaint everything" */
    }
    if (c->need_cursor) {
        struct dc_cursor cur = { ds->cursor_w, ds->cursor_h, ds->hot_x, ds->hot_y };
        if ((r = send_packet(c->fd, DC_MSG_CURSOR, &cur, sizeof(cur), ds->cursor,
                             ds->cursor_w * ds->cursor_h * 4, -1)) < 0)
            goto out;
        c->need_cursor = false;
    }
    if (c->need_pos) {
        if ((r = send_packet(c->fd, DC_MSG_CURSOR_POS, &ds->pos, sizeof(ds->pos), NULL, 0, -1)) < 0)
            goto out;
        c->need_pos = false;
    }
    if (c->need_leds) {
        struct dc_leds l = { ds->leds };
        if ((r = send_packet(c->fd, DC_MSG_LEDS, &l, sizeof(l), NULL, 0, -1)) < 0)
            goto out;
        c->need_leds = false;
    }
    if (c->ndamage)
        r = flush_damage(ds, c);
out:
    /* Writable-interest only while something is stale, so an idle client costs nothing. */
    bool want = r == -EAGAIN;
    if (want != c->want_out) {
        c->want_out = want;
        event_loop_modify(ds->loop, c->fd, EPOLLIN | (want ? EPOLLOUT : 0));
    }
    return r;
}

static void flush_all(struct display_server *ds)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            client_flush(ds, ds->clients[i]);  /* a dead one is reaped by its EPOLLHUP */
}

/* ---- clients ---- */

static void client_drop(struct display_server *ds, struct ds_client *c)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i] == c)
            ds->clients[i] = NULL;
    event_loop_del(ds->loop, c->fd);
    close(c->fd);
    free(c);
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* One message from a client. Returns false when the client must go. The
 * callback to run (without the lock) is left in *act. */
struct action {
    enum { ACT_NONE, ACT_KEY, ACT_POINTER, ACT_RESIZE } kind;
    union { struct dc_key key; struct dc_pointer ptr; struct dc_resize resize; } u;
    uint32_t width, height;          /* of the mode a pointer event refers to */
};

static bool client_parse(struct display_server *ds, const uint8_t *buf, ssize_t n, struct action *act)
{
    struct dc_header h;
    act->kind = ACT_NONE;
    if (n < (ssize_t)sizeof(h))
        return false;
    memcpy(&h, buf, sizeof(h));
    if (h.len != (size_t)n - sizeof(h))
        return false;
    const uint8_t *body = buf + sizeof(h);
    switch (h.type) {
    case DC_MSG_KEY:
        if (h.len != sizeof(act->u.key))
            return false;
        memcpy(&act->u.key, body, h.len);
        if (act->u.key.code == 0 || act->u.key.code >= 0x300)
            return false;
        act->kind = ACT_KEY;
        return true;
    case DC_MSG_POINTER:
        if (h.len != sizeof(act->u.ptr))
            return false;
        memcpy(&act->u.ptr, body, h.len);
        act->u.ptr.x = clamp(act->u.ptr.x, 0, ds->mode.width ? (int32_t)ds->mode.width - 1 : 0);
        act->u.ptr.y = clamp(act->u.ptr.y, 0, ds->mode.height ? (int32_t)ds->mode.height - 1 : 0);
        act->u.ptr.wheel = clamp(act->u.ptr.wheel, -16, 16);
        act->u.ptr.hwheel = clamp(act->u.ptr.hwheel, -16, 16);
        act->width = ds->mode.width;
        act->height = ds->mode.height;
        act->kind = ACT_POINTER;
        return true;
    case DC_MSG_RESIZE:
        if (h.len != sizeof(act->u.resize))
            return false;
        memcpy(&act->u.resize, body, h.len);
        if (!act->u.resize.width || !act->u.resize.height ||
            act->u.resize.width > DC_MAX_DIM || act->u.resize.height > DC_MAX_DIM)
            return false;
        act->kind = ACT_RESIZE;
        return true;
    }
    return false;
}

static void client_ready(void *opaque, uint32_t events)
{
    struct ds_client *c = opaque;
    struct display_server *ds = c->ds;
    uint8_t buf[256];
    pthread_mutex_lock(&ds->lock);
    if (events & EPOLLOUT)
        client_flush(ds, c);
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR)))
            break;
        struct action act;
        if (n <= 0 || n > (ssize_t)sizeof(buf) || !client_parse(ds, buf, n, &act)) {
            if (n > 0)
                fprintf(stderr, "domus-vmm: display client sent a malformed message; disconnecting it\n");
            client_drop(ds, c);
            break;
        }
        const struct display_input_ops *ops = ds->ops;
        void *o = ds->opaque;
        pthread_mutex_unlock(&ds->lock);
        if (ops && act.kind == ACT_KEY && ops->key)
            ops->key(o, act.u.key.code, act.u.key.down != 0);
        else if (ops && act.kind == ACT_POINTER && ops->pointer)
            ops->pointer(o, act.u.ptr.x, act.u.ptr.y, act.width, act.height, act.u.ptr.buttons,
                         act.u.ptr.wheel, act.u.ptr.hwheel);
        else if (ops && act.kind == ACT_RESIZE && ops->resize)
            ops->resize(o, act.u.resize.width, act.u.resize.height);
        pthread_mutex_lock(&ds->lock);
    }
    pthread_mutex_unlock(&ds->lock);
}

int display_server_add_client(struct display_server *ds, int fd)
{
    struct ds_client *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->ds = ds;
    c->fd = fd;
    c->need_hello = c->need_mode = c->need_cursor = c->need_pos = c->need_leds = true;
    pthread_mutex_lock(&ds->lock);
    unsigned i = 0;
    while (i < MAX_CLIENTS && ds->clients[i])
        i++;
    int r = i < MAX_CLIENTS ? event_loop_add(ds->loop, fd, EPOLLIN, client_ready, c) : -EMFILE;
    if (r < 0) {
        pthread_mutex_unlock(&ds->lock);
        fprintf(stderr, "domus-vmm: display client refused: %s\n", strerror(-r));
        close(fd);
        free(c);
        return r;
    }
    ds->clients[i] = c;
    client_flush(ds, c);
    pthread_mutex_unlock(&ds->lock);
    return 0;
}

unsigned display_server_client_count(struct display_server *ds)
{
    unsigned n = 0;
    pthread_mutex_lock(&ds->lock);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        n += ds->clients[i] != NULL;
    pthread_mutex_unlock(&ds->lock);
    return n;
}

static void listener_ready(void *opaque, uint32_t events)
{
    struct display_server *ds = opaque;
    int fd = accept4(ds->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0)
        display_server_add_client(ds, fd);
}

int display_server_listen(struct display_server *ds, const char *path, char **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        if (error && asprintf(error, "socket path %s is too long", path) < 0)
            *error = NULL;
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);               /* stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
        int err = errno;
        if (error && asprintf(error, "cannot listen on %s: %s", path, strerror(err)) < 0)
            *error = NULL;
        close(fd);
        return -err;
    }
    int r = event_loop_add(ds->loop, fd, EPOLLIN, listener_ready, ds);
    if (r < 0) {
        close(fd);
        return r;
    }
    ds->listen_fd = fd;
    ds->listen_path = strdup(path);
    return 0;
}

/* ---- state from the device ---- */

struct display_server *display_server_new(struct event_loop *loop, const char *vm_name)
{
    struct display_server *ds = calloc(1, sizeof(*ds));
    if (!ds)
        return NULL;
    pthread_mutex_init(&ds->lock, NULL);
    ds->loop = loop;
    ds->listen_fd = -1;
    ds->mode_fd = -1;
    snprintf(ds->name, sizeof(ds->name), "%s", vm_name ? vm_name : "guest");
    return ds;
}

void display_server_free(struct display_server *ds)
{
    if (!ds)
        return;
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            client_drop(ds, ds->clients[i]);
    if (ds->listen_fd >= 0) {
        event_loop_del(ds->loop, ds->listen_fd);
        close(ds->listen_fd);
        unlink(ds->listen_path);
    }
    free(ds->listen_path);
    if (ds->mode_fd >= 0)
        close(ds->mode_fd);
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}

void display_server_set_input(struct display_server *ds, const struct display_input_ops *ops, void *opaque)
{
    pthread_mutex_lock(&ds->lock);
    ds->ops = ops;
    ds->opaque = opaque;
    pthread_mutex_unlock(&ds->lock);
}

/* Clients must not be able to write the guest's memory: they get a
 * read-only open of the same file. */
static int reopen_readonly(int fd)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return open(p, O_RDONLY | O_CLOEXEC);
}

void display_server_set_mode(struct display_server *ds, const struct dc_mode *mode, int fd)
{
    int ro = -1;
    if (mode->width && fd >= 0 && (ro = reopen_readonly(fd)) < 0)
        fprintf(stderr, "domus-vmm: display: cannot share the framebuffer: %s\n", strerror(errno));
    pthread_mutex_lock(&ds->lock);
    if (ds->mode_fd >= 0)
        close(ds->mode_fd);
    uint32_t serial = ds->mode.serial + 1;
    ds->mode = *mode;
    ds->mode.serial = serial;
    ds->mode_fd = ro;
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            ds->clients[i]->need_mode = true;
    flush_all(ds);
    pthread_mutex_unlock(&ds->lock);
}

static void rect_union(struct dc_rect *a, const struct dc_rect *b)
{
    int32_t x0 = a->x < b->x ? a->x : b->x, y0 = a->y < b->y ? a->y : b->y;
    int64_t ax1 = (int64_t)a->x + a->w, bx1 = (int64_t)b->x + b->w;
    int64_t ay1 = (int64_t)a->y + a->h, by1 = (int64_t)b->y + b->h;
    a->x = x0;
    a->y = y0;
    a->w = (uint32_t)((ax1 > bx1 ? ax1 : bx1) - x0);
    a->h = (uint32_t)((ay1 > by1 ? ay1 : by1) - y0);
}

void display_server_damage(struct display_server *ds, int32_t x, int32_t y, uint32_t w, uint32_t h)
{
    if (!w || !h)
        return;
    struct dc_rect r = { x, y, w, h };
    pthread_mutex_lock(&ds->lock);
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        struct ds_client *c = ds->clients[i];
        if (!c || c->need_mode)
            continue;
        if (c->ndamage < DC_MAX_RECTS)
            c->damage[c->ndamage++] = r;
        else                         /* a client this far behind gets one bounding box */
            rect_union(&c->damage[DC_MAX_RECTS - 1], &r);
        client_flush(ds, c);
    }
    pthread_mutex_unlock(&ds->lock);
}

void display_server_cursor(struct display_server *ds, uint32_t w, uint32_t h,
                           uint32_t hot_x, uint32_t hot_y, const uint32_t *argb)
{
    if (w > DC_CURSOR_MAX || h > DC_CURSOR_MAX || !argb)
        w = h = 0;
    pthread_mutex_lock(&ds->lock);
    ds->cursor_w = w;
    ds->cursor_h = h;
    ds->hot_x = hot_x < w ? hot_x : 0;
    ds->hot_y = hot_y < h ? hot_y : 0;
    if (w)
        memcpy(ds->cursor, argb, (size_t)w * h * 4);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            ds->clients[i]->need_cursor = true;
    flush_all(ds);
    pthread_mutex_unlock(&ds->lock);
}

void display_server_cursor_pos(struct display_server *ds, int32_t x, int32_t y, bool visible)
{
    pthread_mutex_lock(&ds->lock);
    ds->pos = (struct dc_cursor_pos){ x, y, visible };
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            ds->clients[i]->need_pos = true;
    flush_all(ds);
    pthread_mutex_unlock(&ds->lock);
}

void display_server_leds(struct display_server *ds, uint32_t leds)
{
    pthread_mutex_lock(&ds->lock);
    ds->leds = leds;
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ds->clients[i])
            ds->clients[i]->need_leds = true;
    flush_all(ds);
    pthread_mutex_unlock(&ds->lock);
}
