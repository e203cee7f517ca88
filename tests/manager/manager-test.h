/* Helpers shared by the manager's GTK tests: waiting on the main loop and
 * rendering a widget to a PNG. */
#pragma once
#include <gtk/gtk.h>

/* Iterates the main loop until @cond(@data) or @timeout_s; returns cond. */
gboolean mt_wait(gboolean (*cond)(gpointer data), gpointer data, double timeout_s);
void mt_sleep(double seconds);
/* Renders @w (as drawn now) to a PNG file; the texture is returned too. */
GdkTexture *mt_render(GtkWidget *w, const char *png_path);
/* The first widget of @root's tree (depth first, @root included) that
 * @match accepts, or NULL. */
GtkWidget *mt_find(GtkWidget *root, gboolean (*match)(GtkWidget *w, gconstpointer data), gconstpointer data);
/* The last toplevel window of @type (e.g. a dialog just opened), or NULL. */
GtkWindow *mt_find_toplevel(GType type);
