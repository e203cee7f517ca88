#include "domus-display.h"
#include "display_client.h"

#include <glib-unix.h>
#include <math.h>
#include <string.h>

struct _DomusDisplay {
    GtkWidget parent;
    gboolean interactive;
    struct dc_client *client;
    guint fd_watch;
    /* What we draw: a copy of the guest's framebuffer as B8G8R8A8. */
    guint8 *buf;
    int width, height;
    GdkTexture *texture;             /* of buf, rebuilt after damage */
    gboolean dirty;
    gint64 last_draw_us;
    guint throttle;                  /* thumbnails: pending redraw timer */
    guint32 buttons;
    double pointer_x, pointer_y;     /* last position, for wheel events */
    graphene_rect_t frame;
};

enum { SIG_FRAME, SIG_CLOSED, N_SIGNALS };
enum { PROP_0, PROP_INTERACTIVE };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(DomusDisplay, domus_display, GTK_TYPE_WIDGET)

#define THUMBNAIL_INTERVAL_US (250 * 1000)   /* 4 frames per second at most */

/* Copies a rect of the guest's pixels into buf, as opaque B8G8R8A8. */
static void copy_rect(DomusDisplay *self, int x, int y, int w, int h)
{
    const struct dc_mode *m = dc_client_mode(self->client);
    const guint8 *src = dc_client_pixels(self->client);
    unsigned ro, go, bo;
    if (!m || !src || !dc_format_info(m->format, &ro, &go, &bo))
        return;
    for (int row = y; row < y + h; row++) {
        const guint8 *s = src + (size_t)row * m->stride + (size_t)x * 4;
        guint8 *d = self->buf + ((size_t)row * self->width + x) * 4;
        if (m->format == DC_FORMAT_XRGB8888 || m->format == DC_FORMAT_ARGB8888) {
            const guint32 *s32 = (const guint32 *)s;
            guint32 *d32 = (guint32 *)d;
            for (int i = 0; i < w; i++)
                d32[i] = s32[i] | 0xff000000u;
        } else {
            for (int i = 0; i < w; i++, s += 4, d += 4) {
                d[0] = s[bo]; d[1] = s[go]; d[2] = s[ro]; d[3] = 0xff;
            }
        }
    }
}

static void refresh_texture(DomusDisplay *self)
{
    g_clear_object(&self->texture);
    if (!self->buf)
        return;
    g_autoptr(GBytes) bytes = g_bytes_new(self->buf, (size_t)self->width * self->height * 4);
    self->texture = gdk_memory_texture_new(self->width, self->height, GDK_MEMORY_B8G8R8A8, bytes,
                                           (size_t)self->width * 4);
    self->dirty = FALSE;
    self->last_draw_us = g_get_monotonic_time();
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_signal_emit(self, signals[SIG_FRAME], 0);
}

static gboolean on_throttle(gpointer data)
{
    DomusDisplay *self = data;
    self->throttle = 0;
    if (self->dirty)
        refresh_texture(self);
    return G_SOURCE_REMOVE;
}

static void schedule_redraw(DomusDisplay *self)
{
    self->dirty = TRUE;
    if (self->interactive) {
        refresh_texture(self);
        return;
    }
    if (self->throttle)
        return;
    gint64 wait = self->last_draw_us + THUMBNAIL_INTERVAL_US - g_get_monotonic_time();
    if (wait <= 0)
        refresh_texture(self);
    else
        self->throttle = g_timeout_add((guint)(wait / 1000) + 1, on_throttle, self);
}

static void on_mode(void *opaque, const struct dc_mode *mode, const uint8_t *pixels)
{
    DomusDisplay *self = opaque;
    g_clear_pointer(&self->buf, g_free);
    self->width = self->height = 0;
    if (mode->width && pixels) {
        self->width = (int)mode->width;
        self->height = (int)mode->height;
        self->buf = g_malloc((size_t)self->width * self->height * 4);
        copy_rect(self, 0, 0, self->width, self->height);
    }
    gtk_widget_queue_resize(GTK_WIDGET(self));
    schedule_redraw(self);
}

static void on_damage(void *opaque, const struct dc_rect *rects, unsigned n)
{
    DomusDisplay *self = opaque;
    if (!self->buf)
        return;
    for (unsigned i = 0; i < n; i++)
        copy_rect(self, rects[i].x, rects[i].y, (int)rects[i].w, (int)rects[i].h);
    schedule_redraw(self);
}

static const struct dc_client_ops client_ops = {
    .mode = on_mode,
    .damage = on_damage,
};

static gboolean on_channel(int fd, GIOCondition cond, gpointer data)
{
    DomusDisplay *self = data;
    if (dc_client_dispatch(self->client) < 0) {
        self->fd_watch = 0;
        domus_display_disconnect(self);
        g_signal_emit(self, signals[SIG_CLOSED], 0);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

gboolean domus_display_connect(DomusDisplay *self, const char *path, GError **error)
{
    domus_display_disconnect(self);
    char *msg = NULL;
    int fd = dc_client_connect(path, &msg);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-fd), "Cannot open the display: %s",
                    msg ? msg : g_strerror(-fd));
        free(msg);
        return FALSE;
    }
    self->client = dc_client_new(fd, &client_ops, self);
    self->fd_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_channel, self);
    return TRUE;
}

void domus_display_disconnect(DomusDisplay *self)
{
    g_clear_handle_id(&self->fd_watch, g_source_remove);
    g_clear_handle_id(&self->throttle, g_source_remove);
    g_clear_pointer(&self->client, dc_client_free);
    g_clear_pointer(&self->buf, g_free);
    g_clear_object(&self->texture);
    self->width = self->height = 0;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

gboolean domus_display_is_connected(DomusDisplay *self) { return self->client != NULL; }

gboolean domus_display_get_mode(DomusDisplay *self, int *width, int *height)
{
    if (width) *width = self->width;
    if (height) *height = self->height;
    return self->buf != NULL;
}

guint32 domus_display_get_pixel(DomusDisplay *self, int x, int y)
{
    if (!self->buf || x < 0 || y < 0 || x >= self->width || y >= self->height)
        return 0;
    const guint8 *p = self->buf + ((size_t)y * self->width + x) * 4;
    return (guint32)p[2] << 16 | (guint32)p[1] << 8 | p[0];
}

void domus_display_get_frame_rect(DomusDisplay *self, graphene_rect_t *rect)
{
    *rect = self->frame;
}

/* Fit the frame into the widget, centred; interactive displays never
 * upscale, so guest pixels stay sharp and map 1:1 when they fit. */
static void compute_frame(DomusDisplay *self, int w, int h)
{
    graphene_rect_init(&self->frame, 0, 0, 0, 0);
    if (!self->width || !self->height || w <= 0 || h <= 0)
        return;
    double scale = MIN((double)w / self->width, (double)h / self->height);
    if (self->interactive && scale > 1)
        scale = 1;
    double fw = self->width * scale, fh = self->height * scale;
    graphene_rect_init(&self->frame, floor((w - fw) / 2), floor((h - fh) / 2), fw, fh);
}

static void domus_display_snapshot(GtkWidget *w, GtkSnapshot *snap)
{
    DomusDisplay *self = DOMUS_DISPLAY(w);
    int ww = gtk_widget_get_width(w), wh = gtk_widget_get_height(w);
    compute_frame(self, ww, wh);
    GdkRGBA black = { 0, 0, 0, 1 };
    gtk_snapshot_append_color(snap, &black, &GRAPHENE_RECT_INIT(0, 0, ww, wh));
    if (self->texture)
        gtk_snapshot_append_texture(snap, self->texture, &self->frame);
}

static void domus_display_measure(GtkWidget *w, GtkOrientation o, int for_size, int *min, int *nat,
                                  int *min_base, int *nat_base)
{
    DomusDisplay *self = DOMUS_DISPLAY(w);
    *min = self->interactive ? 160 : 32;
    *nat = self->interactive ? (o == GTK_ORIENTATION_HORIZONTAL ? MAX(self->width, 640) : MAX(self->height, 400))
                             : (o == GTK_ORIENTATION_HORIZONTAL ? 192 : 120);
    *min_base = *nat_base = -1;
}

void domus_display_send_key(DomusDisplay *self, guint evdev_code, gboolean down)
{
    if (self->client)
        dc_client_send_key(self->client, evdev_code, down);
}

/* X11 and evdev keycodes differ by 8 (the X server's historical offset);
 * GDK's Wayland backend reports the same hardware keycodes. */
static gboolean on_key_pressed(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType st, gpointer data)
{
    if (keycode < 8)
        return FALSE;
    domus_display_send_key(DOMUS_DISPLAY(data), keycode - 8, TRUE);
    return TRUE;
}

static void on_key_released(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType st, gpointer data)
{
    if (keycode >= 8)
        domus_display_send_key(DOMUS_DISPLAY(data), keycode - 8, FALSE);
}

static void send_pointer(DomusDisplay *self, double x, double y, int wheel)
{
    if (!self->client || !self->buf || self->frame.size.width <= 0)
        return;
    double gx = (x - self->frame.origin.x) * self->width / self->frame.size.width;
    double gy = (y - self->frame.origin.y) * self->height / self->frame.size.height;
    gx = CLAMP(gx, 0, self->width - 1);
    gy = CLAMP(gy, 0, self->height - 1);
    dc_client_send_pointer(self->client, (int32_t)gx, (int32_t)gy, self->buttons, wheel, 0);
}

static guint32 button_bit(guint button)
{
    switch (button) {
    case GDK_BUTTON_PRIMARY: return DC_BUTTON_LEFT;
    case GDK_BUTTON_MIDDLE: return DC_BUTTON_MIDDLE;
    case GDK_BUTTON_SECONDARY: return DC_BUTTON_RIGHT;
    }
    return 0;
}

static void on_motion(GtkEventControllerMotion *c, double x, double y, gpointer data)
{
    DomusDisplay *self = data;
    self->pointer_x = x;
    self->pointer_y = y;
    send_pointer(self, x, y, 0);
}

static void on_pressed(GtkGestureClick *g, int n, double x, double y, gpointer data)
{
    DomusDisplay *self = data;
    gtk_widget_grab_focus(GTK_WIDGET(self));
    self->buttons |= button_bit(gtk_gesture_single_get_current_button(GTK_GESTURE_SINGLE(g)));
    send_pointer(self, x, y, 0);
}

static void on_released(GtkGestureClick *g, int n, double x, double y, gpointer data)
{
    DomusDisplay *self = data;
    self->buttons &= ~button_bit(gtk_gesture_single_get_current_button(GTK_GESTURE_SINGLE(g)));
    send_pointer(self, x, y, 0);
}

static gboolean on_scroll(GtkEventControllerScroll *c, double dx, double dy, gpointer data)
{
    DomusDisplay *self = data;
    send_pointer(self, self->pointer_x, self->pointer_y, dy < 0 ? 1 : dy > 0 ? -1 : 0);
    return TRUE;
}

static void add_input(DomusDisplay *self)
{
    GtkWidget *w = GTK_WIDGET(self);
    gtk_widget_set_focusable(w, TRUE);
    gtk_widget_set_focus_on_click(w, TRUE);
    GtkEventController *key = gtk_event_controller_key_new();
    g_signal_connect(key, "key-pressed", G_CALLBACK(on_key_pressed), self);
    g_signal_connect(key, "key-released", G_CALLBACK(on_key_released), self);
    gtk_widget_add_controller(w, key);
    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    gtk_widget_add_controller(w, motion);
    GtkGesture *click = gtk_gesture_click_new();
    gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), 0);
    g_signal_connect(click, "pressed", G_CALLBACK(on_pressed), self);
    g_signal_connect(click, "released", G_CALLBACK(on_released), self);
    gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(click));
    GtkEventController *scroll = gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL |
                                                                 GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
    g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(w, scroll);
}

static void domus_display_dispose(GObject *o)
{
    domus_display_disconnect(DOMUS_DISPLAY(o));
    G_OBJECT_CLASS(domus_display_parent_class)->dispose(o);
}

static void domus_display_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps)
{
    DomusDisplay *self = DOMUS_DISPLAY(o);
    self->interactive = g_value_get_boolean(v);
    if (self->interactive)
        add_input(self);
}

static void domus_display_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    g_value_set_boolean(v, DOMUS_DISPLAY(o)->interactive);
}

static void domus_display_class_init(DomusDisplayClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->set_property = domus_display_set_property;
    G_OBJECT_CLASS(klass)->get_property = domus_display_get_property;
    g_object_class_install_property(G_OBJECT_CLASS(klass), PROP_INTERACTIVE,
        g_param_spec_boolean("interactive", NULL, NULL, FALSE,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
    G_OBJECT_CLASS(klass)->dispose = domus_display_dispose;
    wc->snapshot = domus_display_snapshot;
    wc->measure = domus_display_measure;
    gtk_widget_class_set_css_name(wc, "domus-display");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_IMG);
    signals[SIG_FRAME] = g_signal_new("frame", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                      NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void domus_display_init(DomusDisplay *self) {}

GtkWidget *domus_display_new(gboolean interactive)
{
    return g_object_new(DOMUS_TYPE_DISPLAY, "interactive", interactive, NULL);
}
