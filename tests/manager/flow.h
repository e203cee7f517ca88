/* Helpers for the manager's click-flow tests with real guests (run by the
 * rig cases manager-flow and manager-clones under Xvfb, against a private
 * domusd). Clicks and keys are real X events (xdotool) on the manager's real
 * widgets; every wait is on something the user would see (a state, a view,
 * a frame drawn, a line on a console), never a fixed sleep. */
#pragma once
#include "domus-app.h"
#include "domus-console-view.h"
#include "domus-display.h"
#include "domus-vm-page.h"
#include "domus-window.h"
#include "manager-test.h"

extern DomusWindow *flow_win;
extern DomusApp *flow_app;

/* Registers with domusd and opens the main window (large enough that a
 * 1024x768 guest screen is drawn 1:1); failure screenshots go to @out_dir. */
void flow_open(const char *out_dir);
void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Ends the test: the message, the last toast, a screenshot of the screen and
 * the end of the serial console. */
G_NORETURN void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

DomusVmPage *page(void);
const char *state(void);
DomusVM *vm_named(const char *name);
const char *vm_state(const char *name);
void wait_state(const char *name, const char *state, double timeout_s, const char *what);

/* Real pointer clicks, once the widget is laid out and no transition moves it. */
void click(GtkWidget *w);
void click_button(GtkWidget *root, const char *label);
void click_action(GtkWidget *root, const char *action);
void click_tab(const char *title);
/* Back to the grid, then a click on the VM's card opens its page. */
void open_card(const char *name);
void back_to_grid(void);
void wait_window(GtkWindow *w);

/* The main window gets the X keyboard focus (no window manager gives it). */
void focus_window(void);
/* Keys as a user types them, into whatever has the X focus. */
void type_line(const char *text);
gboolean console_has(gpointer text);
/* Waits until the page's serial console shows the guest's shell prompt. */
void wait_shell(const char *name, double timeout_s);
/* The serial console tab: a line typed into it runs in the guest's shell. */
void console_answers(const char *name, const char *tag, const char *save_as);

/* Take Snapshot; when @may_refuse, a running VM may be refused with a
 * toast (no live snapshots of its devices): FALSE then. */
gboolean take_snapshot(gboolean may_refuse);
/* Clone… → name, linked → Clone; waits for the card and the dialog to go. */
void clone_vm(const char *name);
/* The trash button, then "Delete" in the confirmation; the VM and its folder go. */
void delete_vm(const char *name);

/* The X window's pixels as the X server has them (XGetImage), saved as
 * @file in the output directory when @file is set. */
GdkTexture *save_window(const char *file);
/* The window's screenshot shows the guest's framebuffer (read through a
 * display channel client of our own) 1:1, with text on it; saved as @file. */
void check_guest_screenshot(const char *file);
