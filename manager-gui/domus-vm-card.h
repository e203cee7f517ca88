/* DomusVmCard: one VM in the main window's grid: live thumbnail of its
 * screen, OS icon, name, state and a CPU sparkline. */
#pragma once
#include <gtk/gtk.h>
#include "domus-dbus.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_VM_CARD (domus_vm_card_get_type())
G_DECLARE_FINAL_TYPE(DomusVmCard, domus_vm_card, DOMUS, VM_CARD, GtkBox)

GtkWidget *domus_vm_card_new(DomusVM *vm);
DomusVM *domus_vm_card_get_vm(DomusVmCard *self);
/* One GetStats entry for this VM. */
void domus_vm_card_push_stats(DomusVmCard *self, GVariant *stats);
/* The icon name for an OS family (linux, bsd, windows). */
const char *domus_os_icon_name(const char *os_family);
/* Reads "display-socket" from GetInfo and hands it (or NULL) to @cb. */
void domus_vm_get_display_socket(DomusVM *vm, GCancellable *cancel,
                                 void (*cb)(const char *path, gpointer data), gpointer data);
G_END_DECLS
