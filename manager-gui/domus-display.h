/* DomusDisplay: draws a VM's shared framebuffer from its display channel
 * (vdisplay's client library) and, when interactive, sends keyboard and
 * pointer back through the channel. Thumbnails redraw at most a few times a
 * second and only after damage. A pure drawing widget: no template. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS
#define DOMUS_TYPE_DISPLAY (domus_display_get_type())
G_DECLARE_FINAL_TYPE(DomusDisplay, domus_display, DOMUS, DISPLAY, GtkWidget)

GtkWidget *domus_display_new(gboolean interactive);
/* Attaches to the channel socket at @path (replacing any earlier one). */
gboolean domus_display_connect(DomusDisplay *self, const char *path, GError **error);
void domus_display_disconnect(DomusDisplay *self);
gboolean domus_display_is_connected(DomusDisplay *self);
/* Size of the guest's current mode; FALSE while it shows nothing. */
gboolean domus_display_get_mode(DomusDisplay *self, int *width, int *height);
/* The guest pixel at (x, y) as 0xRRGGBB of what the widget last drew. */
guint32 domus_display_get_pixel(DomusDisplay *self, int x, int y);
/* Where the framebuffer is drawn, in widget coordinates. */
void domus_display_get_frame_rect(DomusDisplay *self, graphene_rect_t *rect);
/* Sends one key (Linux evdev code) to the guest. */
void domus_display_send_key(DomusDisplay *self, guint evdev_code, gboolean down);
G_END_DECLS
