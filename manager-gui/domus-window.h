/* DomusWindow: the VMs as a grid of live cards (or an empty state offering
 * the demo guest), one VM's page, and toasts for every daemon error. */
#pragma once
#include <adwaita.h>
#include "domus-app.h"
#include "domus-vm-page.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_WINDOW (domus_window_get_type())
G_DECLARE_FINAL_TYPE(DomusWindow, domus_window, DOMUS, WINDOW, AdwApplicationWindow)

DomusWindow *domus_window_new(DomusApp *app);
void domus_window_toast(DomusWindow *self, const char *message);
/* The last toast's text (what the user was last told), or NULL. */
const char *domus_window_get_last_toast(DomusWindow *self);
/* How many toasts were shown so far (a test sees a new one even when it repeats). */
guint domus_window_get_n_toasts(DomusWindow *self);
gboolean domus_window_show_vm(DomusWindow *self, const char *name);
void domus_window_delete_vm(DomusWindow *self, const char *name);
DomusVmPage *domus_window_get_vm_page(DomusWindow *self);
/* "empty", "grid" or "vm". */
const char *domus_window_get_view(DomusWindow *self);
guint domus_window_get_n_cards(DomusWindow *self);
GtkWidget *domus_window_get_card(DomusWindow *self, const char *name);
G_END_DECLS
