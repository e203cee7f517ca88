/* The manager's widgets against a real domusd on a private bus (run by
 * gtk-session under Xvfb): the empty state offers the demo, one action
 * creates it and opens its page, the clone dialog makes a full clone, a
 * daemon refusal is a toast, snapshot actions follow what domusd offers,
 * deleting removes the card, a VMM killed under a VM is said in a toast. No
 * guest gets far here (see the rig cases). */
#include "domus-app.h"
#include "domus-clone-dialog.h"
#include "domus-new-vm-dialog.h"
#include "domus-window.h"
#include "manager-test.h"

#include <gdk/x11/gdkx.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/socket.h>
#ifdef HAVE_VTE
#include <vte/vte.h>
#endif

static DomusApp *app;
static DomusWindow *win;

static gboolean view_is_vm(gpointer d) { return !g_strcmp0(domus_window_get_view(win), "vm"); }
static gboolean has_card(gpointer name) { return domus_window_get_card(win, name) != NULL; }
static gboolean no_card(gpointer name) { return domus_window_get_card(win, name) == NULL; }
static gboolean toast_says(gpointer text)
{
    const char *t = domus_window_get_last_toast(win);
    return t && strstr(t, text);
}

static void activate(GtkWidget *w, const char *action)
{
    g_assert_true(gtk_widget_activate_action(w, action, NULL));
}

static void test_empty_state(void)
{
    g_assert_cmpstr(domus_window_get_view(win), ==, "empty");
    g_assert_cmpuint(domus_window_get_n_cards(win), ==, 0);
    /* What a user sees: the demo button is on screen and clickable. */
    g_assert_true(gtk_widget_get_mapped(GTK_WIDGET(win)));
    mt_sleep(0.3);
    g_autoptr(GdkTexture) shot = mt_render(GTK_WIDGET(win), g_getenv("SCREENSHOT_EMPTY"));
    g_assert_nonnull(shot);
}

static void test_demo(void)
{
    activate(GTK_WIDGET(win), "win.new-demo");
    g_assert_true(mt_wait(view_is_vm, NULL, 300));
    g_assert_true(mt_wait(has_card, "demo", 10));
    DomusVmPage *page = domus_window_get_vm_page(win);
    DomusVM *vm = domus_vm_page_get_vm(page);
    g_assert_cmpstr(domus_vm_get_name(vm), ==, "demo");
    g_assert_cmpstr(domus_vm_get_state(vm), ==, "stopped");
    /* A stopped VM: start is offered, stop is not. */
    GActionGroup *g = domus_vm_page_get_actions(page);
    g_assert_true(g_action_group_get_action_enabled(g, "start"));
    g_assert_false(g_action_group_get_action_enabled(g, "stop"));
    g_assert_false(g_action_group_get_action_enabled(g, "pause"));
    /* Clicking the demo again opens the same VM, no second one. */
    activate(GTK_WIDGET(win), "win.back");
    g_assert_cmpstr(domus_window_get_view(win), ==, "grid");
    activate(GTK_WIDGET(win), "win.new-demo");
    g_assert_cmpstr(domus_window_get_view(win), ==, "vm");
    g_assert_cmpuint(domus_window_get_n_cards(win), ==, 1);
}

/* A settings row (AdwActionRow, AdwComboRow) by its title. */
static gboolean is_row(GtkWidget *w, gconstpointer title)
{
    return ADW_IS_PREFERENCES_ROW(w) && !g_strcmp0(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(w)), title);
}
static gboolean is_spin(GtkWidget *w, gconstpointer d) { return GTK_IS_SPIN_BUTTON(w); }
static GtkWidget *settings_row(GtkWidget *root, const char *title) { return mt_find(root, is_row, title); }
static GtkSpinButton *row_spin(GtkWidget *row) { return GTK_SPIN_BUTTON(mt_find(row, is_spin, NULL)); }

/* `domus info NAME --json`, as a user (or a script) would check. */
static JsonObject *cli_info(const char *name)
{
    const char *argv[] = { g_getenv("DOMUS"), "info", name, "--json", NULL };
    g_autofree char *out = NULL;
    int status;
    g_assert_nonnull(argv[0]);
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                               &status, NULL));
    g_autoptr(JsonParser) p = json_parser_new();
    if (!g_spawn_check_wait_status(status, NULL) || !json_parser_load_from_data(p, out, -1, NULL))
        return NULL;
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static gboolean cli_memory_is(gpointer mib)
{
    g_autoptr(JsonObject) i = cli_info("demo");
    return i && json_object_get_int_member(i, "memory") == (gint64)GPOINTER_TO_UINT(mib) << 20;
}

static void test_settings(void)
{
    g_assert_true(domus_window_show_vm(win, "demo"));
    DomusVmPage *page = domus_window_get_vm_page(win);
    domus_vm_page_show(page, "settings");
    mt_sleep(0.5);
    GtkWidget *mem_row = settings_row(GTK_WIDGET(page), "Memory (MiB)");
    GtkWidget *disk_row = settings_row(GTK_WIDGET(page), "Disk Size (MiB)");
    g_assert_nonnull(mem_row);
    g_assert_nonnull(disk_row);
    GtkSpinButton *mem = row_spin(mem_row), *disk = row_spin(disk_row);
    /* What domusd says is what the page shows: the demo's 256M and 64M disk. */
    g_assert_cmpint(gtk_spin_button_get_value_as_int(mem), ==, 256);
    g_assert_cmpint(gtk_spin_button_get_value_as_int(disk), ==, 64);
    g_assert_true(gtk_widget_is_sensitive(GTK_WIDGET(mem)));
    /* Disks only grow: the spin does not go below the current size. */
    gtk_spin_button_set_value(disk, 32);
    g_assert_cmpint(gtk_spin_button_get_value_as_int(disk), ==, 64);
    gtk_spin_button_set_value(mem, 320);
    gtk_spin_button_set_value(disk, 128);
    activate(GTK_WIDGET(page), "vm.apply-settings");
    g_assert_true(mt_wait(cli_memory_is, GUINT_TO_POINTER(320), 20));
    g_assert_true(mt_wait(toast_says, "Settings of “demo” saved", 10));
    g_autoptr(JsonObject) i = cli_info("demo");
    g_assert_cmpint(json_object_get_int_member(i, "disk-size"), ==, 128 << 20);
    g_assert_cmpuint(domus_vm_get_memory(domus_vm_page_get_vm(page)), ==, 320ull << 20);
    mt_sleep(0.5);
    g_autoptr(GdkTexture) shot = mt_render(GTK_WIDGET(win), g_getenv("SCREENSHOT_SETTINGS"));
    g_assert_nonnull(shot);
    /* Back as it was, for the steps after this one. */
    gtk_spin_button_set_value(mem, 256);
    activate(GTK_WIDGET(page), "vm.apply-settings");
    g_assert_true(mt_wait(cli_memory_is, GUINT_TO_POINTER(256), 20));
    domus_vm_page_show(page, "display");
}

/* ---- the serial console: a terminal whose keys reach the guest ---- */

struct peer { int fd; GString *got; };

static gboolean peer_got(gpointer d)
{
    struct peer *p = d;
    char buf[256];
    ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
        g_string_append_len(p->got, buf, n);
    const char *line = strstr(p->got->str, "echo typed-$((6*7))");
    return line && strpbrk(line, "\r\n");
}

static gboolean view_shows(gpointer d)
{
    g_autofree char *t = domus_console_view_get_text(d);
    return strstr(t, "Debian GNU/Linux 12 guest ttyS0\n# ") != NULL;
}

#ifdef HAVE_VTE
static gboolean terminal_shows(gpointer t)
{
    g_autofree char *screen = vte_terminal_get_text(VTE_TERMINAL(t), NULL, NULL, NULL);
    return screen && g_regex_match_simple("^Debian GNU/Linux 12 guest ttyS0 *\n# ", screen, G_REGEX_MULTILINE, 0);
}
#endif

static void xdo(const char *const *argv)
{
    int status;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

static void test_console(void)
{
    if (!g_find_program_in_path("xdotool")) {
        g_test_skip("xdotool is not installed (apt-get install xdotool): no real keys to type");
        return;
    }
    /* The "guest" is the other end of a socket pair, as domusd's OpenConsole hands one out. */
    int sv[2];
    g_assert_no_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    g_autoptr(GSocket) sock = g_socket_new_from_fd(sv[0], NULL);
    g_autoptr(GSocketConnection) conn = g_socket_connection_factory_create_connection(sock);
    GtkWidget *w = gtk_window_new();
    gtk_window_set_default_size(GTK_WINDOW(w), 640, 400);
    DomusConsoleView *cv = DOMUS_CONSOLE_VIEW(domus_console_view_new());
    gtk_window_set_child(GTK_WINDOW(w), GTK_WIDGET(cv));
    gtk_window_present(GTK_WINDOW(w));
    domus_console_view_attach_stream(cv, conn);
    static const char banner[] = "\x1b[1mDebian GNU/Linux 12 guest ttyS0\x1b[0m\r\n# ";
    g_assert_cmpint(write(sv[1], banner, sizeof banner - 1), ==, sizeof banner - 1);
    g_assert_true(mt_wait(view_shows, cv, 10));
    GtkWidget *input = domus_console_view_get_input(cv);
#ifdef HAVE_VTE
    g_assert_true(VTE_IS_TERMINAL(input));
    /* The terminal parses what arrives on its own schedule. */
    g_assert_true(mt_wait(terminal_shows, input, 10));
#else
    g_test_message("built without VTE: the console is a log and a line entry");
#endif
    mt_sleep(0.5);
    gtk_widget_grab_focus(input);
    g_autofree char *xid = g_strdup_printf("%lu", gdk_x11_surface_get_xid(gtk_native_get_surface(GTK_NATIVE(w))));
    xdo((const char *const[]){ "xdotool", "windowfocus", "--sync", xid, NULL });
    xdo((const char *const[]){ "xdotool", "type", "--delay", "20", "echo typed-$((6*7))", NULL });
    xdo((const char *const[]){ "xdotool", "key", "Return", NULL });
    struct peer p = { sv[1], g_string_new(NULL) };
    gboolean got = mt_wait(peer_got, &p, 10);
    g_autofree char *seen = g_strescape(p.got->str, NULL);
    g_test_message("the guest end read: %s", seen);
    g_assert_true(got);
#ifdef HAVE_VTE
    /* A terminal sends Return as CR, as a serial line expects. */
    g_assert_nonnull(strstr(p.got->str, "echo typed-$((6*7))\r"));
#endif
    g_string_free(p.got, TRUE);
    close(sv[1]);
    gtk_window_destroy(GTK_WINDOW(w));
}

static gboolean templates_loaded(gpointer d) { return domus_new_vm_dialog_get_template(d) != NULL; }

static void test_refusal_is_toast(void)
{
    /* A template domus-vmm cannot boot yet (Secure Boot + TPM): created
     * fine, start refused with the reason in a toast. */
    DomusNewVmDialog *dlg = DOMUS_NEW_VM_DIALOG(domus_new_vm_dialog_new(GTK_WINDOW(win)));
    gtk_window_present(GTK_WINDOW(dlg));
    g_assert_true(mt_wait(templates_loaded, dlg, 30));
    g_assert_cmpstr(domus_new_vm_dialog_get_template(dlg), ==, "demo-linux");
    g_assert_true(domus_new_vm_dialog_select_template(dlg, "windows-11"));
    domus_new_vm_dialog_set_name(dlg, "deb");
    activate(GTK_WIDGET(dlg), "dialog.create");
    g_assert_true(mt_wait(has_card, "deb", 60));
    g_assert_true(mt_wait(view_is_vm, NULL, 10));
    DomusVmPage *page = domus_window_get_vm_page(win);
    g_assert_cmpstr(domus_vm_get_name(domus_vm_page_get_vm(page)), ==, "deb");
    g_assert_cmpuint(domus_vm_get_memory(domus_vm_page_get_vm(page)), ==, 4ull << 30);
    activate(GTK_WIDGET(page), "vm.start");
    g_assert_true(mt_wait(toast_says, "Start: ", 30));
    g_assert_true(toast_says("cannot start yet"));
    g_assert_true(toast_says("Secure Boot"));
}

static void test_clone(void)
{
    g_assert_true(domus_window_show_vm(win, "demo"));
    DomusVmPage *page = domus_window_get_vm_page(win);
    activate(GTK_WIDGET(page), "vm.clone");
    GtkWindow *dlg = mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG);
    g_assert_nonnull(dlg);
    domus_clone_dialog_set(DOMUS_CLONE_DIALOG(dlg), "demo-copy", FALSE);
    activate(GTK_WIDGET(dlg), "dialog.clone");
    g_assert_true(mt_wait(has_card, "demo-copy", 120));
    g_assert_cmpuint(domus_window_get_n_cards(win), ==, 3);
}

/* A VM's page shows no other VM's console lines: here the page's console
 * shows demo's (a socket pair standing in), then the page turns to
 * demo-copy, which is not running and so has no console of its own. */
static void test_console_follows_page(void)
{
    g_assert_true(domus_window_show_vm(win, "demo"));
    DomusConsoleView *cv = domus_vm_page_get_console(domus_window_get_vm_page(win));
    int sv[2];
    g_assert_no_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    g_autoptr(GSocket) sock = g_socket_new_from_fd(sv[0], NULL);
    g_autoptr(GSocketConnection) conn = g_socket_connection_factory_create_connection(sock);
    domus_console_view_attach_stream(cv, conn);
    static const char banner[] = "Debian GNU/Linux 12 guest ttyS0\r\n# ";
    g_assert_cmpint(write(sv[1], banner, sizeof banner - 1), ==, sizeof banner - 1);
    g_assert_true(mt_wait(view_shows, cv, 10));
    g_assert_true(domus_window_show_vm(win, "demo-copy"));
    g_autofree char *text = domus_console_view_get_text(cv);
    g_assert_null(strstr(text, "guest ttyS0"));
    close(sv[1]);
}

static void test_snapshots(void)
{
    g_assert_true(domus_window_show_vm(win, "demo-copy"));
    DomusVmPage *page = domus_window_get_vm_page(win);
    GActionGroup *g = domus_vm_page_get_actions(page);
    mt_sleep(1);
    if (!g_action_group_get_action_enabled(g, "snapshot")) {
        g_test_skip("domusd here has no snapshots: the actions are disabled (tooltip says why)");
        return;
    }
    g_action_group_activate_action(g, "snapshot", NULL);
    g_assert_true(mt_wait(toast_says, "snapshot", 30) || domus_vm_page_get_snapshots(page)[0]);
}

static void test_delete(void)
{
    DomusManager *m = domus_app_get_manager(app);
    g_assert_true(domus_manager_call_delete_sync(m, "demo-copy", NULL, NULL));
    g_assert_true(mt_wait(no_card, "demo-copy", 10));
    g_assert_cmpstr(domus_window_get_view(win), !=, "vm");
    activate(GTK_WIDGET(win), "win.back");
    mt_sleep(1.5);                   /* the stack's crossfade */
    g_autoptr(GdkTexture) shot = mt_render(GTK_WIDGET(win), g_getenv("SCREENSHOT_GRID"));
    g_assert_nonnull(shot);
}

static gboolean started_or_toast(gpointer toasts)
{
    DomusVM *vm = domus_app_lookup_vm(app, "demo");
    return !g_strcmp0(domus_vm_get_state(vm), "running") || domus_window_get_n_toasts(win) != *(guint *)toasts;
}
static gboolean is_crashed_label(GtkWidget *w, gconstpointer d)
{
    return GTK_IS_LABEL(w) && !g_strcmp0(gtk_label_get_label(GTK_LABEL(w)), "crashed");
}

/* A VMM that dies under a VM (killed here) is said in a toast with domusd's
 * reason, and the page's state label keeps the end of its log as a tooltip. */
static void test_crash(void)
{
    g_assert_true(domus_window_show_vm(win, "demo"));
    DomusVmPage *page = domus_window_get_vm_page(win);
    guint toasts = domus_window_get_n_toasts(win);
    activate(GTK_WIDGET(page), "vm.start");
    g_assert_true(mt_wait(started_or_toast, &toasts, 60));
    DomusVM *vm = domus_app_lookup_vm(app, "demo");
    if (g_strcmp0(domus_vm_get_state(vm), "running")) {
        g_test_skip_printf("the demo VM does not start here: %s", domus_window_get_last_toast(win));
        return;
    }
    g_assert_no_errno(kill((pid_t)domus_vm_get_pid(vm), SIGKILL));
    g_assert_true(mt_wait(toast_says, "demo crashed: domus-vmm was killed by signal 9", 30));
    GtkWidget *label = mt_find(GTK_WIDGET(page), is_crashed_label, NULL);
    g_assert_nonnull(label);
    g_assert_nonnull(strstr(gtk_widget_get_tooltip_text(label), "killed by signal 9"));
}

int main(int argc, char **argv)
{
    gtk_test_init(&argc, &argv, NULL);
    adw_init();
    app = domus_app_new();
    g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));
    g_assert_nonnull(domus_app_get_manager(app));
    win = domus_window_new(app);
    gtk_window_present(GTK_WINDOW(win));
    g_test_add_func("/manager/empty-state", test_empty_state);
    g_test_add_func("/manager/demo", test_demo);
    g_test_add_func("/manager/settings", test_settings);
    g_test_add_func("/manager/console", test_console);
    g_test_add_func("/manager/refusal-is-toast", test_refusal_is_toast);
    g_test_add_func("/manager/clone", test_clone);
    g_test_add_func("/manager/console-follows-page", test_console_follows_page);
    g_test_add_func("/manager/snapshots", test_snapshots);
    g_test_add_func("/manager/delete", test_delete);
    g_test_add_func("/manager/crash", test_crash);
    int r = g_test_run();
    gtk_window_destroy(GTK_WINDOW(win));
    return r;
}
