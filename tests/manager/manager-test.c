#include "manager-test.h"

gboolean mt_wait(gboolean (*cond)(gpointer), gpointer data, double timeout_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);
    while (!cond(data)) {
        if (g_get_monotonic_time() > end)
            return FALSE;
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(5000);
    }
    return TRUE;
}

static gboolean never(gpointer d) { return FALSE; }

void mt_sleep(double seconds)
{
    mt_wait(never, NULL, seconds);
}

GdkTexture *mt_render(GtkWidget *w, const char *png_path)
{
    GdkPaintable *p = gtk_widget_paintable_new(w);
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    GtkSnapshot *snap = gtk_snapshot_new();
    gdk_paintable_snapshot(p, GDK_SNAPSHOT(snap), width, height);
    GskRenderNode *node = gtk_snapshot_free_to_node(snap);
    GdkTexture *tex = NULL;
    if (node) {
        GskRenderer *r = gtk_native_get_renderer(gtk_widget_get_native(w));
        tex = gsk_renderer_render_texture(r, node, &GRAPHENE_RECT_INIT(0, 0, width, height));
        gsk_render_node_unref(node);
        if (png_path)
            gdk_texture_save_to_png(tex, png_path);
    }
    g_object_unref(p);
    return tex;
}

GtkWidget *mt_find(GtkWidget *root, gboolean (*match)(GtkWidget *, gconstpointer), gconstpointer data)
{
    if (match(root, data))
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *hit = mt_find(c, match, data);
        if (hit)
            return hit;
    }
    return NULL;
}

GtkWindow *mt_find_toplevel(GType type)
{
    GtkWindow *found = NULL;
    GListModel *tops = gtk_window_get_toplevels();
    for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
        g_autoptr(GObject) o = g_list_model_get_item(tops, i);
        if (G_TYPE_CHECK_INSTANCE_TYPE(o, type))
            found = GTK_WINDOW(o);
    }
    return found;
}
