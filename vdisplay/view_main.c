/* domus-view: a VM's display in an SDL window.
 *
 *   domus-view (--fd N | --channel PATH) [--name NAME]
 *
 * The window is titled with NAME, else with the name the VM announces.
 * The window scales the guest's screen keeping its aspect; resizing the
 * window asks the guest for that many (physical, HiDPI) pixels. Clicking
 * into the window grabs the keyboard (so Alt+Tab etc. reach the guest);
 * Ctrl+Alt+G releases it. The pointer is an absolute tablet, never grabbed.
 * Closing the window leaves the VM running. */
#include "display_client.h"
#include "sdl_keymap.h"

#include <SDL.h>
#include <errno.h>
#include <getopt.h>
#include <linux/input-event-codes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct viewer {
    char name[64];                   /* --name, else the VM's own from HELLO */
    bool named;
    struct dc_client *dc;
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    SDL_Cursor *cursor;
    struct dc_mode mode;
    const uint8_t *pixels;
    bool sized;                      /* the window was sized to the first mode */
    bool grabbed;
    uint32_t buttons;
    uint8_t keys_down[KEY_CNT / 8 + 1];
    Uint32 channel_event;
    SDL_sem *channel_sem;
};

static void set_title(struct viewer *v)
{
    char t[200];
    snprintf(t, sizeof(t), "%s — Domus%s", v->name, v->grabbed ? " (Ctrl+Alt+G releases the keyboard)" : "");
    SDL_SetWindowTitle(v->win, t);
}

/* Where the guest's screen sits in the window (in output pixels). */
static SDL_Rect fit(struct viewer *v)
{
    int ow, oh;
    SDL_GetRendererOutputSize(v->ren, &ow, &oh);
    SDL_Rect r = { 0, 0, ow, oh };
    if (!v->mode.width || !ow || !oh)
        return r;
    double s = (double)ow / v->mode.width < (double)oh / v->mode.height ?
               (double)ow / v->mode.width : (double)oh / v->mode.height;
    r.w = (int)(v->mode.width * s + 0.5);
    r.h = (int)(v->mode.height * s + 0.5);
    r.x = (ow - r.w) / 2;
    r.y = (oh - r.h) / 2;
    return r;
}

static void render(struct viewer *v)
{
    SDL_SetRenderDrawColor(v->ren, 0, 0, 0, 255);
    SDL_RenderClear(v->ren);
    if (v->tex) {
        SDL_Rect dst = fit(v);
        SDL_RenderCopy(v->ren, v->tex, NULL, &dst);
    }
    SDL_RenderPresent(v->ren);
}

static Uint32 sdl_format(uint32_t f)
{
    switch (f) {
    case DC_FORMAT_XRGB8888: return SDL_PIXELFORMAT_RGB888;
    case DC_FORMAT_ARGB8888: return SDL_PIXELFORMAT_ARGB8888;
    case DC_FORMAT_XBGR8888: return SDL_PIXELFORMAT_BGR888;
    case DC_FORMAT_ABGR8888: return SDL_PIXELFORMAT_ABGR8888;
    case DC_FORMAT_BGRX8888: return SDL_PIXELFORMAT_BGRX8888;
    case DC_FORMAT_BGRA8888: return SDL_PIXELFORMAT_BGRA8888;
    case DC_FORMAT_RGBX8888: return SDL_PIXELFORMAT_RGBX8888;
    case DC_FORMAT_RGBA8888: return SDL_PIXELFORMAT_RGBA8888;
    }
    return SDL_PIXELFORMAT_RGB888;
}

/* ---- channel callbacks (main thread) ---- */

static void on_hello(void *opaque, const char *vm_name)
{
    struct viewer *v = opaque;
    if (v->named || !*vm_name)
        return;
    snprintf(v->name, sizeof(v->name), "%s", vm_name);
    set_title(v);
}

static void on_mode(void *opaque, const struct dc_mode *m, const uint8_t *pixels)
{
    struct viewer *v = opaque;
    if (v->tex)
        SDL_DestroyTexture(v->tex);
    v->tex = NULL;
    v->mode = *m;
    v->pixels = pixels;
    if (!pixels)
        return;
    v->tex = SDL_CreateTexture(v->ren, sdl_format(m->format), SDL_TEXTUREACCESS_STREAMING,
                               (int)m->width, (int)m->height);
    if (v->tex)
        SDL_UpdateTexture(v->tex, NULL, pixels, (int)m->stride);
    if (!v->sized) {
        /* The first mode sizes the window; later the window's size drives the guest. */
        v->sized = true;
        SDL_SetWindowSize(v->win, (int)m->width, (int)m->height);
    }
}

static void on_damage(void *opaque, const struct dc_rect *r, unsigned n)
{
    struct viewer *v = opaque;
    for (unsigned i = 0; v->tex && i < n; i++) {
        SDL_Rect rect = { r[i].x, r[i].y, (int)r[i].w, (int)r[i].h };
        SDL_UpdateTexture(v->tex, &rect, v->pixels + (size_t)r[i].y * v->mode.stride + (size_t)r[i].x * 4,
                          (int)v->mode.stride);
    }
}

static void on_cursor(void *opaque, const struct dc_cursor *c, const uint32_t *argb)
{
    struct viewer *v = opaque;
    SDL_Cursor *old = v->cursor;
    v->cursor = NULL;
    if (c->width && c->height) {
        SDL_Surface *s = SDL_CreateRGBSurfaceWithFormatFrom((void *)argb, (int)c->width, (int)c->height, 32,
                                                            (int)c->width * 4, SDL_PIXELFORMAT_ARGB8888);
        if (s) {
            v->cursor = SDL_CreateColorCursor(s, (int)c->hot_x, (int)c->hot_y);
            SDL_FreeSurface(s);
        }
    }
    SDL_SetCursor(v->cursor ? v->cursor : SDL_GetDefaultCursor());
    if (old)
        SDL_FreeCursor(old);
}

static const struct dc_client_ops viewer_ops = { .hello = on_hello, .mode = on_mode, .damage = on_damage, .cursor = on_cursor };

/* The channel is watched by a thread that only wakes the SDL loop, and
 * waits until the loop has read what was there. */
static int channel_watch(void *opaque)
{
    struct viewer *v = opaque;
    for (;;) {
        struct pollfd p = { .fd = dc_client_fd(v->dc), .events = POLLIN };
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            break;
        SDL_Event e = { .type = v->channel_event };
        SDL_PushEvent(&e);
        SDL_SemWait(v->channel_sem);
        if (p.revents & (POLLHUP | POLLERR))
            break;
    }
    return 0;
}

/* ---- input ---- */

static void send_key(struct viewer *v, uint16_t code, bool down)
{
    bool was = v->keys_down[code / 8] & (1u << (code % 8));
    if (down == was && !down)
        return;
    if (down)
        v->keys_down[code / 8] |= (uint8_t)(1u << (code % 8));
    else
        v->keys_down[code / 8] &= (uint8_t)~(1u << (code % 8));
    dc_client_send_key(v->dc, code, down);
}

static void release_all_keys(struct viewer *v)
{
    for (unsigned k = 0; k < KEY_CNT; k++)
        if (v->keys_down[k / 8] & (1u << (k % 8)))
            send_key(v, (uint16_t)k, false);
}

static void set_grab(struct viewer *v, bool on)
{
    v->grabbed = on;
    SDL_SetWindowKeyboardGrab(v->win, on ? SDL_TRUE : SDL_FALSE);
    set_title(v);
}

static void on_key(struct viewer *v, const SDL_KeyboardEvent *k)
{
    SDL_Keymod mod = SDL_GetModState();
    if (k->state == SDL_PRESSED && k->keysym.scancode == SDL_SCANCODE_G &&
        (mod & KMOD_CTRL) && (mod & KMOD_ALT)) {
        release_all_keys(v);         /* Ctrl and Alt must not stay down in the guest */
        set_grab(v, false);
        return;
    }
    /* Repeats go on as more presses, as a PC keyboard's typematic sends
     * them: a guest on the PS/2 keyboard has no other repeat, and a
     * virtio-input guest ignores presses of a key already down. */
    uint16_t code = sdl_scancode_to_evdev(k->keysym.scancode);
    if (code)
        send_key(v, code, k->state == SDL_PRESSED);
}

/* Window points -> guest pixels through the letterbox. */
static bool to_guest(struct viewer *v, int wx, int wy, int32_t *gx, int32_t *gy)
{
    int ww, wh, ow, oh;
    SDL_GetWindowSize(v->win, &ww, &wh);
    SDL_GetRendererOutputSize(v->ren, &ow, &oh);
    if (!v->mode.width || !ww || !wh)
        return false;
    SDL_Rect r = fit(v);
    double px = (double)wx * ow / ww, py = (double)wy * oh / wh;
    *gx = (int32_t)((px - r.x) * v->mode.width / r.w);
    *gy = (int32_t)((py - r.y) * v->mode.height / r.h);
    if (*gx < 0) *gx = 0;
    if (*gy < 0) *gy = 0;
    if (*gx >= (int32_t)v->mode.width) *gx = (int32_t)v->mode.width - 1;
    if (*gy >= (int32_t)v->mode.height) *gy = (int32_t)v->mode.height - 1;
    return true;
}

static uint32_t dc_button(Uint8 b)
{
    return b == SDL_BUTTON_LEFT ? DC_BUTTON_LEFT : b == SDL_BUTTON_MIDDLE ? DC_BUTTON_MIDDLE :
           b == SDL_BUTTON_RIGHT ? DC_BUTTON_RIGHT : 0;
}

static void on_pointer(struct viewer *v, int wx, int wy, int32_t wheel, int32_t hwheel)
{
    int32_t gx, gy;
    if (to_guest(v, wx, wy, &gx, &gy))
        dc_client_send_pointer(v->dc, gx, gy, v->buttons, wheel, hwheel);
}

static void on_window_size(struct viewer *v)
{
    int ow, oh;
    SDL_GetRendererOutputSize(v->ren, &ow, &oh);
    if (v->sized && ow > 0 && oh > 0 && ((uint32_t)ow != v->mode.width || (uint32_t)oh != v->mode.height))
        dc_client_send_resize(v->dc, (uint32_t)ow, (uint32_t)oh);
}

static int usage(const char *msg)
{
    fprintf(stderr, "domus-view: %s (usage: domus-view --fd N | --channel PATH [--name NAME])\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "fd", required_argument, NULL, 'f' }, { "channel", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { 0 },
    };
    struct viewer v = { .name = "guest" };
    int fd = -1, opt;
    const char *channel = NULL;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'f':
            fd = (int)strtol(optarg, &end, 10);
            if (*end || fd < 0)
                return usage("--fd needs a file descriptor number");
            break;
        case 'c': channel = optarg; break;
        case 'n':
            snprintf(v.name, sizeof(v.name), "%s", optarg);
            v.named = true;
            break;
        case 'h':
            puts("Usage: domus-view --fd N | --channel PATH [--name NAME]\n"
                 "Shows a Domus VM's display in a window. Ctrl+Alt+G releases the keyboard.");
            return 0;
        default: return usage("unknown option");
        }
    }
    if ((fd < 0) == !channel)
        return usage("give exactly one of --fd N and --channel PATH");
    if (channel) {
        char *err = NULL;
        if ((fd = dc_client_connect(channel, &err)) < 0) {
            fprintf(stderr, "domus-view: %s\n", err ? err : strerror(-fd));
            return 1;
        }
    }
    v.dc = dc_client_new(fd, &viewer_ops, &v);
    SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
    if (SDL_Init(SDL_INIT_VIDEO) < 0) {
        fprintf(stderr, "domus-view: cannot open a window: %s\n", SDL_GetError());
        return 1;
    }
    v.win = SDL_CreateWindow("Domus", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, 640, 480,
                             SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    v.ren = v.win ? SDL_CreateRenderer(v.win, -1, 0) : NULL;
    if (!v.ren) {
        fprintf(stderr, "domus-view: cannot open a window: %s\n", SDL_GetError());
        return 1;
    }
    set_title(&v);
    v.channel_event = SDL_RegisterEvents(1);
    v.channel_sem = SDL_CreateSemaphore(0);
    SDL_DetachThread(SDL_CreateThread(channel_watch, "channel", &v));
    render(&v);

    bool running = true;
    SDL_Event e;
    while (running && SDL_WaitEvent(&e)) {
        bool redraw = false;
        do {
            if (e.type == v.channel_event) {
                int r = dc_client_dispatch(v.dc);
                SDL_SemPost(v.channel_sem);
                if (r < 0) {
                    /* The VM is gone, or its channel broke: say which, then go. */
                    if (r != -EPIPE)
                        fprintf(stderr, "domus-view: display channel: %s\n", strerror(-r));
                    running = false;
                    break;
                }
                redraw = true;
            } else if (e.type == SDL_QUIT) {
                running = false;         /* the VM keeps running without us */
            } else if (e.type == SDL_KEYDOWN || e.type == SDL_KEYUP) {
                on_key(&v, &e.key);
            } else if (e.type == SDL_MOUSEMOTION) {
                on_pointer(&v, e.motion.x, e.motion.y, 0, 0);
            } else if (e.type == SDL_MOUSEBUTTONDOWN || e.type == SDL_MOUSEBUTTONUP) {
                if (e.type == SDL_MOUSEBUTTONDOWN) {
                    v.buttons |= dc_button(e.button.button);
                    if (!v.grabbed)
                        set_grab(&v, true);
                } else {
                    v.buttons &= ~dc_button(e.button.button);
                }
                on_pointer(&v, e.button.x, e.button.y, 0, 0);
            } else if (e.type == SDL_MOUSEWHEEL) {
                int mx, my;
                SDL_GetMouseState(&mx, &my);
                on_pointer(&v, mx, my, e.wheel.y, e.wheel.x);
            } else if (e.type == SDL_WINDOWEVENT) {
                if (e.window.event == SDL_WINDOWEVENT_SIZE_CHANGED)
                    on_window_size(&v);
                else if (e.window.event == SDL_WINDOWEVENT_FOCUS_LOST)
                    release_all_keys(&v);
                redraw = true;
            }
        } while (running && SDL_PollEvent(&e));
        if (redraw && running)
            render(&v);
    }
    /* The watcher thread may be blocked in poll; exiting the process ends it. */
    SDL_Quit();
    return 0;
}
