/* DomusVmPage: one VM: power actions, its display embedded (or in a
 * domus-view window), serial console, snapshots, monitor graphs, settings
 * and remote access. Its actions live in the "vm" group. */
#pragma once
#include <adwaita.h>
#include "domus-dbus.h"
#include "domus-display.h"
#include "domus-console-view.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_VM_PAGE (domus_vm_page_get_type())
G_DECLARE_FINAL_TYPE(DomusVmPage, domus_vm_page, DOMUS, VM_PAGE, AdwBin)

void domus_vm_page_set_vm(DomusVmPage *self, DomusVM *vm);
DomusVM *domus_vm_page_get_vm(DomusVmPage *self);
void domus_vm_page_push_stats(DomusVmPage *self, GVariant *stats);
DomusDisplay *domus_vm_page_get_display(DomusVmPage *self);
DomusConsoleView *domus_vm_page_get_console(DomusVmPage *self);
/* Names in the snapshot list, in order (NULL-terminated, free with g_strfreev). */
char **domus_vm_page_get_snapshots(DomusVmPage *self);
void domus_vm_page_select_snapshot(DomusVmPage *self, const char *name);
void domus_vm_page_show(DomusVmPage *self, const char *view);
/* The "vm" action group (start, stop, snapshot, …). */
GActionGroup *domus_vm_page_get_actions(DomusVmPage *self);
G_END_DECLS
