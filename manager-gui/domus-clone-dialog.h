/* DomusCloneDialog: clone a stopped VM, linked (shared base disks) or full
 * (every disk copied, with a progress bar while domusd copies). */
#pragma once
#include <adwaita.h>
#include "domus-dbus.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_CLONE_DIALOG (domus_clone_dialog_get_type())
G_DECLARE_FINAL_TYPE(DomusCloneDialog, domus_clone_dialog, DOMUS, CLONE_DIALOG, AdwWindow)

GtkWidget *domus_clone_dialog_new(GtkWindow *parent, DomusVM *source);
/* Sets the form (for tests and keyboard users alike) before "dialog.clone". */
void domus_clone_dialog_set(DomusCloneDialog *self, const char *name, gboolean linked);
G_END_DECLS
