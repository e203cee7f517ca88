/* DomusConsoleView: a VM's serial console (domusd's OpenConsole socket) in
 * a terminal (VTE) whose keys go to the guest; built without VTE, a log of
 * what the guest prints and a line entry that types into it. */
#pragma once
#include <gtk/gtk.h>
#include "domus-dbus.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_CONSOLE_VIEW (domus_console_view_get_type())
G_DECLARE_FINAL_TYPE(DomusConsoleView, domus_console_view, DOMUS, CONSOLE_VIEW, GtkBox)

GtkWidget *domus_console_view_new(void);
/* Opens @vm's console; errors come back through the callback's GError. */
void domus_console_view_attach(DomusConsoleView *self, DomusVM *vm,
                               void (*on_error)(GError *error, gpointer data), gpointer data);
void domus_console_view_detach(DomusConsoleView *self);
/* The view is @vm's from now on: another VM's lines go (a VM that is down
 * keeps its own last lines, e.g. a panic, until it starts again). */
void domus_console_view_show_vm(DomusConsoleView *self, DomusVM *vm);
/* Shows and types into an already open console stream (a test's socketpair). */
void domus_console_view_attach_stream(DomusConsoleView *self, GSocketConnection *conn);
/* The widget keys go to: the terminal, or the line entry without VTE. */
GtkWidget *domus_console_view_get_input(DomusConsoleView *self);
/* Everything shown so far (for tests and copy). */
char *domus_console_view_get_text(DomusConsoleView *self);
void domus_console_view_send(DomusConsoleView *self, const char *line);
G_END_DECLS
