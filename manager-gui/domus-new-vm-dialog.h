/* DomusNewVmDialog: a VM from a template (or an installer ISO, whose volume
 * label suggests the template), with its name, memory, CPUs and disk
 * (template defaults, limited by the host) and firmware shown. */
#pragma once
#include <adwaita.h>

G_BEGIN_DECLS
#define DOMUS_TYPE_NEW_VM_DIALOG (domus_new_vm_dialog_get_type())
G_DECLARE_FINAL_TYPE(DomusNewVmDialog, domus_new_vm_dialog, DOMUS, NEW_VM_DIALOG, AdwWindow)

GtkWidget *domus_new_vm_dialog_new(GtkWindow *parent);
/* Selects a template by id; FALSE if there is none. */
gboolean domus_new_vm_dialog_select_template(DomusNewVmDialog *self, const char *id);
/* Uses an ISO: remembers it and selects the template its label suggests. */
void domus_new_vm_dialog_set_iso(DomusNewVmDialog *self, const char *path);
const char *domus_new_vm_dialog_get_template(DomusNewVmDialog *self);
void domus_new_vm_dialog_set_name(DomusNewVmDialog *self, const char *name);
G_END_DECLS
