#include "domus-sparkline.h"

#define SAMPLES 60

struct _DomusSparkline {
    GtkWidget parent;
    double values[SAMPLES];
    guint n, head;                   /* ring buffer: head is the next slot */
    double max;
    char *label;
};

G_DEFINE_FINAL_TYPE(DomusSparkline, domus_sparkline, GTK_TYPE_WIDGET)

void domus_sparkline_set_max(DomusSparkline *self, double max)
{
    self->max = max;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void domus_sparkline_push(DomusSparkline *self, double value, const char *label)
{
    self->values[self->head] = value;
    self->head = (self->head + 1) % SAMPLES;
    if (self->n < SAMPLES)
        self->n++;
    g_free(self->label);
    self->label = g_strdup(label);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                   label ? label : "", -1);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

guint domus_sparkline_get_n_samples(DomusSparkline *self) { return self->n; }

static void domus_sparkline_snapshot(GtkWidget *w, GtkSnapshot *snap)
{
    DomusSparkline *self = DOMUS_SPARKLINE(w);
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    GdkRGBA fg;
    gtk_style_context_get_color(gtk_widget_get_style_context(w), &fg);
    cairo_t *cr = gtk_snapshot_append_cairo(snap, &GRAPHENE_RECT_INIT(0, 0, width, height));
    double max = self->max;
    for (guint i = 0; i < self->n; i++)
        max = MAX(max, self->values[(self->head + SAMPLES - 1 - i) % SAMPLES]);
    if (max <= 0)
        max = 1;
    /* The label gets a band of its own above the plot, so the line never
     * runs through its text. */
    double top = self->label ? 14 : 2;
    cairo_set_source_rgba(cr, 0.21, 0.52, 0.89, 1);
    cairo_set_line_width(cr, 1.5);
    for (guint i = 0; i < self->n; i++) {
        double v = self->values[(self->head + SAMPLES - self->n + i) % SAMPLES];
        double x = width - (double)(self->n - 1 - i) * width / (SAMPLES - 1);
        double y = height - 2 - v / max * MAX(height - 2 - top, 1);
        if (i == 0)
            cairo_move_to(cr, x, y);
        else
            cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
    if (self->label) {
        cairo_set_source_rgba(cr, fg.red, fg.green, fg.blue, 0.8);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 10);
        cairo_move_to(cr, 2, 11);
        cairo_show_text(cr, self->label);
    }
    cairo_destroy(cr);
}

static void domus_sparkline_measure(GtkWidget *w, GtkOrientation o, int for_size, int *min, int *nat,
                                    int *min_base, int *nat_base)
{
    *min = o == GTK_ORIENTATION_HORIZONTAL ? 60 : 24;
    *nat = o == GTK_ORIENTATION_HORIZONTAL ? 160 : 40;
    *min_base = *nat_base = -1;
}

static void domus_sparkline_finalize(GObject *o)
{
    g_free(DOMUS_SPARKLINE(o)->label);
    G_OBJECT_CLASS(domus_sparkline_parent_class)->finalize(o);
}

static void domus_sparkline_class_init(DomusSparklineClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = domus_sparkline_finalize;
    GTK_WIDGET_CLASS(klass)->snapshot = domus_sparkline_snapshot;
    GTK_WIDGET_CLASS(klass)->measure = domus_sparkline_measure;
    gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "domus-sparkline");
    gtk_widget_class_set_accessible_role(GTK_WIDGET_CLASS(klass), GTK_ACCESSIBLE_ROLE_IMG);
}

static void domus_sparkline_init(DomusSparkline *self) {}

GtkWidget *domus_sparkline_new(void)
{
    return g_object_new(DOMUS_TYPE_SPARKLINE, NULL);
}
