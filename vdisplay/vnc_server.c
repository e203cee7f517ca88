/* libvncserver glue. The RFB surface is our own XRGB copy of the guest
 * framebuffer, refreshed only inside damage rects: libvncserver may draw a
 * cursor into its framebuffer for clients without cursor-shape support,
 * which it must never do to the (read-only) shared mapping, and the copy
 * also gives every encoder a stable frame while the guest keeps drawing. */
#include "vnc_server.h"

#include <linux/input-event-codes.h>
#include <rfb/rfb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLANK_W 640
#define BLANK_H 480

struct vnc_server {
    rfbScreenInfoPtr screen;
    struct dc_client *dc;
    enum keymap_layout layout;
    char *passwords[2];
    uint32_t *surface;               /* width*height XRGB pixels */
    unsigned width, height;
    const uint8_t *src;              /* the shared framebuffer, NULL when off */
    struct dc_mode mode;
    uint8_t keys_down[KEY_CNT / 8 + 1];
};

static struct vnc_server *server_of(rfbClientPtr cl)
{
    return cl->screen->screenData;
}

/* ---- surface ---- */

/* Widens @box (w == 0: empty) to take in columns x0..x1-1 of row y. */
static void box_add(struct dc_rect *box, int32_t x0, int32_t x1, int32_t y)
{
    if (!box->w) {
        *box = (struct dc_rect){ x0, y, (uint32_t)(x1 - x0), 1 };
        return;
    }
    int32_t bx1 = box->x + (int32_t)box->w, by1 = box->y + (int32_t)box->h;
    box->x = x0 < box->x ? x0 : box->x;
    box->w = (uint32_t)((x1 > bx1 ? x1 : bx1) - box->x);
    box->h = (uint32_t)((y + 1 > by1 ? y + 1 : by1) - box->y);
}

/* Copies a damaged rect into our surface; with @changed, also finds the
 * box of pixels that really changed. Guests often damage more than they
 * drew (Linux's fbdev tracks whole pages: a blinking text cursor damages
 * full-width rows), and encoding only the real change keeps such updates
 * next to free for every client. */
static void copy_rect(struct vnc_server *vs, const struct dc_rect *r, struct dc_rect *changed)
{
    unsigned rb, gb, bb;
    const struct dc_mode *m = &vs->mode;
    bool xrgb = m->format == DC_FORMAT_XRGB8888 || m->format == DC_FORMAT_ARGB8888;
    if (!dc_format_info(m->format, &rb, &gb, &bb))
        return;
    uint32_t row[DC_MAX_DIM];
    for (uint32_t y = 0; y < r->h; y++) {
        const uint8_t *s = vs->src + (uint64_t)(r->y + y) * m->stride + (uint64_t)r->x * 4;
        uint32_t *d = vs->surface + (size_t)(r->y + y) * vs->width + r->x;
        if (xrgb) {
            memcpy(row, s, (size_t)r->w * 4);
            for (uint32_t x = 0; x < r->w; x++)
                row[x] &= 0xFFFFFF;      /* the surface never carries alpha */
        } else {
            for (uint32_t x = 0; x < r->w; x++, s += 4)
                row[x] = (uint32_t)s[rb] << 16 | (uint32_t)s[gb] << 8 | s[bb];
        }
        if (changed && memcmp(d, row, (size_t)r->w * 4)) {
            uint32_t x0 = 0, x1 = r->w;
            while (d[x0] == row[x0])
                x0++;
            while (d[x1 - 1] == row[x1 - 1])
                x1--;
            box_add(changed, r->x + (int32_t)x0, r->x + (int32_t)x1, r->y + (int32_t)y);
        }
        memcpy(d, row, (size_t)r->w * 4);
    }
}

/* Our surface is XRGB (0x00RRGGBB words); libvncserver's default puts red
 * in the low byte, and rfbNewFramebuffer restores that default. */
static void use_xrgb_format(rfbScreenInfoPtr s)
{
    s->serverFormat.redShift = 16;
    s->serverFormat.greenShift = 8;
    s->serverFormat.blueShift = 0;
    rfbClientIteratorPtr it = rfbGetClientIterator(s);
    rfbClientPtr cl;
    while ((cl = rfbClientIteratorNext(it)))
        s->setTranslateFunction(cl);
    rfbReleaseClientIterator(it);
}

static void set_surface(struct vnc_server *vs, unsigned w, unsigned h)
{
    uint32_t *old = vs->surface;
    vs->surface = calloc((size_t)w * h, 4);
    if (!vs->surface) {
        fprintf(stderr, "domus-vnc: out of memory for a %ux%u screen\n", w, h);
        exit(1);
    }
    vs->width = w;
    vs->height = h;
    if (vs->src)
        copy_rect(vs, &(struct dc_rect){ 0, 0, w, h }, NULL);
    if (vs->screen) {
        /* Tells every client (DesktopSize / ExtendedDesktopSize) and marks all modified. */
        rfbNewFramebuffer(vs->screen, (char *)vs->surface, (int)w, (int)h, 8, 3, 4);
        use_xrgb_format(vs->screen);
    }
    free(old);
}

static void on_mode(void *opaque, const struct dc_mode *mode, const uint8_t *pixels)
{
    struct vnc_server *vs = opaque;
    vs->mode = *mode;
    vs->src = pixels;
    if (pixels)
        set_surface(vs, mode->width, mode->height);
    else
        set_surface(vs, vs->width ? vs->width : BLANK_W, vs->height ? vs->height : BLANK_H);
}

static void on_damage(void *opaque, const struct dc_rect *rects, unsigned n)
{
    struct vnc_server *vs = opaque;
    for (unsigned i = 0; i < n; i++) {
        struct dc_rect box = { 0 };
        copy_rect(vs, &rects[i], &box);
        if (box.w)
            rfbMarkRectAsModified(vs->screen, box.x, box.y, box.x + (int)box.w, box.y + (int)box.h);
    }
}

static void on_cursor(void *opaque, const struct dc_cursor *c, const uint32_t *argb)
{
    struct vnc_server *vs = opaque;
    if (!c->width || !c->height) {
        rfbSetCursor(vs->screen, NULL);
        return;
    }
    rfbCursorPtr cur = calloc(1, sizeof(*cur));
    unsigned bpr = (c->width + 7) / 8, n = c->width * c->height;
    cur->width = (unsigned short)c->width;
    cur->height = (unsigned short)c->height;
    cur->xhot = (unsigned short)c->hot_x;
    cur->yhot = (unsigned short)c->hot_y;
    cur->source = calloc(bpr * c->height, 1);
    cur->mask = calloc(bpr * c->height, 1);
    cur->richSource = malloc(n * 4);
    cur->alphaSource = malloc(n);
    cur->cleanup = cur->cleanupSource = cur->cleanupMask = cur->cleanupRichSource = TRUE;
    for (unsigned y = 0; y < c->height; y++)
        for (unsigned x = 0; x < c->width; x++) {
            uint32_t p = argb[y * c->width + x];
            uint8_t a = p >> 24;
            unsigned luma = ((p >> 16 & 0xFF) + (p >> 8 & 0xFF) + (p & 0xFF)) / 3;
            if (a > 127)
                cur->mask[y * bpr + x / 8] |= (unsigned char)(0x80 >> (x % 8));
            if (luma > 127)
                cur->source[y * bpr + x / 8] |= (unsigned char)(0x80 >> (x % 8));
            ((uint32_t *)cur->richSource)[y * c->width + x] = p & 0xFFFFFF;
            cur->alphaSource[y * c->width + x] = a;
        }
    rfbSetCursor(vs->screen, cur);
}

const struct dc_client_ops vnc_server_channel_ops = {
    .mode = on_mode, .damage = on_damage, .cursor = on_cursor,
};

/* ---- input from VNC clients ---- */

static void send_key(struct vnc_server *vs, uint16_t code, bool down)
{
    bool was = vs->keys_down[code / 8] & (1u << (code % 8));
    if (!down && !was)
        return;
    vs->keys_down[code / 8] = (uint8_t)(down ? vs->keys_down[code / 8] | (1u << (code % 8))
                                             : vs->keys_down[code / 8] & ~(1u << (code % 8)));
    if (vs->dc)
        dc_client_send_key(vs->dc, code, down);
}

static void on_key(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
    struct vnc_server *vs = server_of(cl);
    uint16_t code = keysym_to_evdev(sym, vs->layout);
    if (code)
        send_key(vs, code, down);
}

static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
    struct vnc_server *vs = server_of(cl);
    /* Buttons 4-7 are wheel clicks: one press is one step. */
    int32_t wheel = (mask & 8 ? 1 : 0) - (mask & 16 ? 1 : 0);
    int32_t hwheel = (mask & 64 ? 1 : 0) - (mask & 32 ? 1 : 0);
    uint32_t buttons = (mask & 1 ? DC_BUTTON_LEFT : 0) | (mask & 2 ? DC_BUTTON_MIDDLE : 0) |
                       (mask & 4 ? DC_BUTTON_RIGHT : 0);
    if (vs->dc)
        dc_client_send_pointer(vs->dc, x, y, buttons, wheel, hwheel);
    rfbDefaultPtrAddEvent(mask, x, y, cl);
}

static int on_set_desktop_size(int w, int h, int nscreens, struct rfbExtDesktopScreen *screens, rfbClientPtr cl)
{
    struct vnc_server *vs = server_of(cl);
    if (w <= 0 || h <= 0 || w > DC_MAX_DIM || h > DC_MAX_DIM || !vs->dc)
        return rfbExtDesktopSize_InvalidScreenLayout;
    dc_client_send_resize(vs->dc, (uint32_t)w, (uint32_t)h);
    return rfbExtDesktopSize_Success;   /* answered when the guest's new mode arrives */
}

static void on_client_gone(rfbClientPtr cl)
{
    struct vnc_server *vs = server_of(cl);
    /* Keys this client held would otherwise stay down in the guest. */
    for (unsigned k = 0; k < KEY_CNT; k++)
        if (vs->keys_down[k / 8] & (1u << (k % 8)))
            send_key(vs, (uint16_t)k, false);
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
    cl->clientGoneHook = on_client_gone;
    return RFB_CLIENT_ACCEPT;
}

/* ---- the screen ---- */

static void log_quiet(const char *fmt, ...)
{
}

struct vnc_server *vnc_server_new(const struct vnc_server_options *opt)
{
    struct vnc_server *vs = calloc(1, sizeof(*vs));
    if (!vs)
        return NULL;
    vs->layout = opt->layout;
    set_surface(vs, BLANK_W, BLANK_H);
    rfbLog = log_quiet;              /* errors (rfbErr) still go to stderr */
    int argc = 0;
    vs->screen = rfbGetScreen(&argc, NULL, BLANK_W, BLANK_H, 8, 3, 4);
    if (!vs->screen) {
        free(vs->surface);
        free(vs);
        return NULL;
    }
    rfbScreenInfoPtr s = vs->screen;
    s->screenData = vs;
    use_xrgb_format(s);
    s->frameBuffer = (char *)vs->surface;
    s->desktopName = opt->name;
    s->alwaysShared = TRUE;          /* several viewers at once */
    s->deferUpdateTime = 0;          /* we are woken by damage, never by a timer */
    s->deferPtrUpdateTime = 0;
    s->cursor = NULL;                /* no cursor until the guest sets one */
    s->kbdAddEvent = on_key;
    s->ptrAddEvent = on_pointer;
    s->setDesktopSizeHook = on_set_desktop_size;
    s->newClientHook = on_new_client;
    if (opt->password) {
        vs->passwords[0] = strdup(opt->password);
        s->authPasswdData = vs->passwords;
        s->passwordCheck = rfbCheckPasswordByList;
    }
    /* Our own listening socket: libvncserver's socket setup is skipped. */
    s->autoPort = FALSE;
    s->port = s->ipv6port = 0;
    s->listenSock = opt->listen_fd;
    s->listen6Sock = RFB_INVALID_SOCKET;
    FD_ZERO(&s->allFds);
    FD_SET(opt->listen_fd, &s->allFds);
    s->maxFd = opt->listen_fd;
    s->socketState = RFB_SOCKET_READY;
    s->httpPort = 0;
    s->http6Port = 0;
    rfbInitServer(s);
    return vs;
}

void vnc_server_free(struct vnc_server *vs)
{
    if (!vs)
        return;
    rfbShutdownServer(vs->screen, TRUE);
    rfbScreenCleanup(vs->screen);
    free(vs->passwords[0]);
    free(vs->surface);
    free(vs);
}

void vnc_server_attach(struct vnc_server *vs, struct dc_client *dc)
{
    vs->dc = dc;
}

unsigned vnc_server_pollfds(struct vnc_server *vs, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    for (int fd = 0; fd <= vs->screen->maxFd && n < max; fd++)
        if (FD_ISSET(fd, &vs->screen->allFds))
            fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    return n;
}

void vnc_server_run(struct vnc_server *vs)
{
    rfbProcessEvents(vs->screen, 0);
}

unsigned vnc_server_client_count(struct vnc_server *vs)
{
    unsigned n = 0;
    rfbClientIteratorPtr it = rfbGetClientIterator(vs->screen);
    while (rfbClientIteratorNext(it))
        n++;
    rfbReleaseClientIterator(it);
    return n;
}
