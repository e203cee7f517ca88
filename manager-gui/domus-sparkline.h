/* DomusSparkline: a small line graph of the last samples of one value
 * (CPU, memory, disk, network), with its current value as text. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS
#define DOMUS_TYPE_SPARKLINE (domus_sparkline_get_type())
G_DECLARE_FINAL_TYPE(DomusSparkline, domus_sparkline, DOMUS, SPARKLINE, GtkWidget)

GtkWidget *domus_sparkline_new(void);
/* Values above @max stretch the scale; 0: scale to the largest sample. */
void domus_sparkline_set_max(DomusSparkline *self, double max);
void domus_sparkline_push(DomusSparkline *self, double value, const char *label);
guint domus_sparkline_get_n_samples(DomusSparkline *self);
G_END_DECLS
