/* manager-flow: what a newcomer does, with a real guest (run by the rig case
 * tests/rig/cases/manager-flow.sh under Xvfb, against a private domusd).
 * Clicks are real X events (xdotool) on the manager's real buttons; keys
 * typed into the window reach the guest's tty1 through the display widget.
 * The window's screenshot (ImageMagick's import) must show the same pixels
 * as the framebuffer read through a display channel client of our own.
 *
 *   manager-flow SCREENSHOT.png
 */
#include "display_client.h"
#include "domus-app.h"
#include "domus-clone-dialog.h"
#include "domus-console-view.h"
#include "domus-display.h"
#include "domus-vm-card.h"
#include "domus-window.h"
#include "manager-test.h"

#include <gdk/x11/gdkx.h>

static DomusWindow *win;
static const char *shot_path;
static DomusVmPage *page(void);

static gint64 t0;
#define say(...) (printf("manager-flow: [%5.1fs] ", (g_get_monotonic_time() - t0) / 1e6), printf(__VA_ARGS__), \
                  putchar('\n'), fflush(stdout))

static G_NORETURN void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("FAIL: %s\n", msg);
    const char *toast = win ? domus_window_get_last_toast(win) : NULL;
    if (toast)
        printf("  (last toast: %s)\n", toast);
    /* What the screen looked like, and the end of the serial console. */
    g_autofree char *fail_png = g_strconcat(shot_path, ".fail.png", NULL);
    const char *argv[] = { "import", "-window", "root", fail_png, NULL };
    if (g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL))
        printf("  (screen: %s)\n", fail_png);
    g_autofree char *text = page() ? domus_console_view_get_text(domus_vm_page_get_console(page())) : NULL;
    if (text)
        printf("--- serial console (end):\n%s\n---\n", text + (strlen(text) > 800 ? strlen(text) - 800 : 0));
    exit(1);
}

static void run(const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    int status = 0;
    g_autofree char *out = NULL, *errout = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout, &status, &err) ||
        !g_spawn_check_wait_status(status, &err))
        die("%s: %s %s", argv[0], err->message, errout ? errout : "");
}

/* The first mapped button of @root's tree whose label is @label. */
static gboolean is_button(GtkWidget *w, gconstpointer label)
{
    return GTK_IS_BUTTON(w) && gtk_widget_get_mapped(w) && !g_strcmp0(gtk_button_get_label(GTK_BUTTON(w)), label);
}
static GtkWidget *find_button(GtkWidget *root, const char *label) { return mt_find(root, is_button, label); }

static Window xid_of(GtkWidget *w)
{
    GdkSurface *s = gtk_native_get_surface(gtk_widget_get_native(w));
    if (!GDK_IS_X11_SURFACE(s))
        die("not on X11 (GDK_BACKEND=x11 is needed)");
    return gdk_x11_surface_get_xid(s);
}

/* Where (@x, @y) of @w is in its X window. */
static void to_window(GtkWidget *w, double x, double y, int *wx, int *wy)
{
    GtkNative *n = gtk_widget_get_native(w);
    graphene_point_t p;
    double sx, sy;
    if (!gtk_widget_compute_point(w, GTK_WIDGET(n), &GRAPHENE_POINT_INIT(x, y), &p))
        die("cannot place a widget in its window");
    gtk_native_get_surface_transform(n, &sx, &sy);
    *wx = (int)(p.x + sx);
    *wy = (int)(p.y + sy);
}

static gboolean settled(gpointer w)
{
    for (GtkWidget *a = w; a; a = gtk_widget_get_parent(a))
        if (GTK_IS_STACK(a) && gtk_stack_get_transition_running(GTK_STACK(a)))
            return FALSE;
    return TRUE;
}

struct frames { GdkFrameClock *clock; gint64 until; };
static gboolean frames_drawn(gpointer d)
{
    struct frames *f = d;
    return gdk_frame_clock_get_frame_counter(f->clock) >= f->until;
}

/* Waits until @w's window drew @n more frames: a view just switched to
 * is laid out (its buttons have their place) only then. */
static void wait_frames(GtkWidget *w, int n)
{
    GdkFrameClock *clock = gdk_surface_get_frame_clock(gtk_native_get_surface(gtk_widget_get_native(w)));
    struct frames f = { clock, gdk_frame_clock_get_frame_counter(clock) + n };
    gtk_widget_queue_draw(GTK_WIDGET(gtk_widget_get_native(w)));
    mt_wait(frames_drawn, &f, 5);
}

/* A real pointer click in the middle of @w, once no transition moves it. */
static void click(GtkWidget *w)
{
    int x, y;
    mt_wait(settled, w, 5);
    wait_frames(w, 2);
    to_window(w, gtk_widget_get_width(w) / 2.0, gtk_widget_get_height(w) / 2.0, &x, &y);
    g_autofree char *id = g_strdup_printf("%lu", xid_of(w)), *sx = g_strdup_printf("%d", x), *sy = g_strdup_printf("%d", y);
    run((const char *const[]){ "xdotool", "mousemove", "--sync", "--window", id, sx, sy, "click", "1", NULL });
    mt_sleep(0.3);
}

static void click_button(GtkWidget *root, const char *label)
{
    GtkWidget *b = NULL;
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(b = find_button(root, label)) && g_get_monotonic_time() < end)
        mt_sleep(0.2);
    if (!b)
        die("no button \"%s\" on screen", label);
    if (!gtk_widget_is_sensitive(b))
        die("button \"%s\" is insensitive", label);
    say("click \"%s\"", label);
    click(b);
}

/* Keys as a user types them, into whatever has the X focus. */
static void type_line(const char *text)
{
    run((const char *const[]){ "xdotool", "type", "--delay", "60", text, NULL });
    run((const char *const[]){ "xdotool", "key", "Return", NULL });
    mt_sleep(0.3);
}

static DomusVmPage *page(void) { return win ? domus_window_get_vm_page(win) : NULL; }
static const char *state(void) { return domus_vm_get_state(domus_vm_page_get_vm(page())); }
static gboolean view_is_vm(gpointer d) { return !g_strcmp0(domus_window_get_view(win), "vm"); }
static gboolean state_is(gpointer want) { return !g_strcmp0(state(), want); }
static gboolean has_card(gpointer name) { return domus_window_get_card(win, name) != NULL; }
static gboolean display_shows(gpointer d) { return domus_display_get_mode(domus_vm_page_get_display(page()), NULL, NULL); }
static gboolean console_has(gpointer text)
{
    g_autofree char *t = domus_console_view_get_text(domus_vm_page_get_console(page()));
    return t && strstr(t, text);
}

/* ---- VMs as domusd reports them (D-Bus properties) ---- */

static DomusApp *app;

static DomusVM *vm_named(const char *name)
{
    DomusVM *vm = domus_app_lookup_vm(app, name);
    if (!vm)
        die("domusd has no VM named %s", name);
    return vm;
}
static const char *vm_state(const char *name) { return domus_vm_get_state(vm_named(name)); }
static guint vm_pid(const char *name) { return domus_vm_get_pid(vm_named(name)); }

struct want { const char *name, *state; };
static gboolean vm_in_state(gpointer d)
{
    struct want *w = d;
    return !g_strcmp0(vm_state(w->name), w->state);
}

static void wait_state(const char *name, const char *state, double timeout_s, const char *what)
{
    struct want w = { name, state };
    if (!mt_wait(vm_in_state, &w, timeout_s)) {
        const char *err = domus_vm_get_last_error(vm_named(name));
        die("%s %s is %s, not %s%s%s", what, name, vm_state(name), state, err && *err ? ": " : "", err ? err : "");
    }
}

static gboolean vm_gone(gpointer name) { return !domus_app_lookup_vm(app, name) && !has_card(name); }

/* ---- the window's parts, as a user finds them ---- */

/* Only what is on screen counts. */
struct match_mapped { gboolean (*match)(GtkWidget *, gconstpointer); gconstpointer data; };
static gboolean mapped_and(GtkWidget *w, gconstpointer d)
{
    const struct match_mapped *m = d;
    return gtk_widget_get_mapped(w) && m->match(w, m->data);
}
static GtkWidget *find_widget(GtkWidget *root, gboolean (*match)(GtkWidget *, gconstpointer), gconstpointer data)
{
    struct match_mapped m = { match, data };
    return mt_find(root, mapped_and, &m);
}

static gboolean is_label(GtkWidget *w, gconstpointer text)
{
    return GTK_IS_LABEL(w) && !g_strcmp0(gtk_label_get_label(GTK_LABEL(w)), text);
}
static gboolean is_tab(GtkWidget *w, gconstpointer title)
{
    return !strcmp(G_OBJECT_TYPE_NAME(w), "AdwViewSwitcherButton") && find_widget(w, is_label, title);
}
static gboolean has_action(GtkWidget *w, gconstpointer action)
{
    return GTK_IS_ACTIONABLE(w) && !g_strcmp0(gtk_actionable_get_action_name(GTK_ACTIONABLE(w)), action);
}

static GtkWidget *wait_widget(GtkWidget *root, gboolean (*match)(GtkWidget *, gconstpointer), gconstpointer data,
                              const char *what)
{
    GtkWidget *w = NULL;
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(w = find_widget(root, match, data)) && g_get_monotonic_time() < end)
        mt_sleep(0.2);
    if (!w)
        die("no %s on screen", what);
    return w;
}

static void click_tab(const char *title)
{
    say("click the \"%s\" tab", title);
    click(wait_widget(GTK_WIDGET(win), is_tab, title, title));
}

static void click_action(GtkWidget *root, const char *action)
{
    GtkWidget *b = wait_widget(root, has_action, action, action);
    if (!gtk_widget_is_sensitive(b))
        die("the %s button is insensitive", action);
    say("click the %s button", action);
    click(b);
}

static gboolean page_shows(gpointer name)
{
    return view_is_vm(NULL) && !g_strcmp0(domus_vm_get_name(domus_vm_page_get_vm(page())), name);
}
static gboolean view_is_grid(gpointer d) { return !g_strcmp0(domus_window_get_view(win), "grid"); }

/* Back to the grid, then a click on the VM's card opens its page. */
static void open_card(const char *name)
{
    if (page_shows((gpointer)name))
        return;
    if (view_is_vm(NULL))
        click_action(GTK_WIDGET(win), "win.back");
    if (!mt_wait(view_is_grid, NULL, 10))
        die("the VM grid did not come back");
    GtkWidget *card = domus_window_get_card(win, name);
    if (!card)
        die("no card for %s in the grid", name);
    say("click the card of %s", name);
    click(card);
    if (!mt_wait(page_shows, (gpointer)name, 10))
        die("clicking the card of %s did not open its page", name);
}

static gboolean mapped(gpointer w) { return gtk_widget_get_mapped(w); }
/* A window just opened takes clicks once X mapped it and it drew itself. */
static void wait_window(GtkWindow *w)
{
    if (!mt_wait(mapped, w, 10))
        die("the window \"%s\" did not appear", gtk_window_get_title(w));
    wait_frames(GTK_WIDGET(w), 2);
    mt_sleep(0.3);
}

static gboolean clone_dialog_open(gpointer out)
{
    return (*(GtkWindow **)out = mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG)) != NULL;
}
static gboolean no_clone_dialog(gpointer d) { return !mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG); }
static gboolean no_message_dialog(gpointer d) { return !mt_find_toplevel(ADW_TYPE_MESSAGE_DIALOG); }
static gboolean message_dialog_open(gpointer out)
{
    return (*(GtkWindow **)out = mt_find_toplevel(ADW_TYPE_MESSAGE_DIALOG)) != NULL;
}

struct snap_wait { guint toasts, before; };
static gboolean snapshot_or_toast(gpointer d)
{
    struct snap_wait *sw = d;
    g_auto(GStrv) now = domus_vm_page_get_snapshots(page());
    return g_strv_length(now) > sw->before || domus_window_get_n_toasts(win) != sw->toasts;
}

/* Takes a snapshot with the button. When @may_refuse, domusd may say it
 * cannot snapshot a running VM (no live snapshots): FALSE then. */
static gboolean take_snapshot(gboolean may_refuse)
{
    guint toasts = domus_window_get_n_toasts(win);
    g_auto(GStrv) before = domus_vm_page_get_snapshots(page());
    GActionGroup *actions = domus_vm_page_get_actions(page());
    if (!g_action_group_get_action_enabled(actions, "snapshot"))
        die("Take Snapshot is disabled (%s)", domus_window_get_last_toast(win) ? domus_window_get_last_toast(win) : "");
    click_button(GTK_WIDGET(win), "_Take Snapshot");
    struct snap_wait w = { toasts, g_strv_length(before) };
    if (!mt_wait(snapshot_or_toast, &w, 120))
        die("Take Snapshot neither listed a snapshot nor said why");
    g_auto(GStrv) names = domus_vm_page_get_snapshots(page());
    if (g_strv_length(names) > w.before) {
        say("snapshot %s taken (%s VM)", names[g_strv_length(names) - 1], state());
        return TRUE;
    }
    if (may_refuse && strstr(domus_window_get_last_toast(win), "running VM")) {
        say("domusd has no live snapshots (\"%s\"); the snapshot is taken once the VM is down",
            domus_window_get_last_toast(win));
        return FALSE;
    }
    die("Take Snapshot failed");
}

/* The window as it is now, next to the main screenshot (for the docs). */
static void save_window(const char *file)
{
    g_autofree char *dir = g_path_get_dirname(shot_path);
    g_autofree char *out = g_build_filename(dir, file, NULL);
    g_autofree char *id = g_strdup_printf("%lu", xid_of(GTK_WIDGET(win)));
    mt_sleep(0.5);
    run((const char *const[]){ "import", "-window", id, out, NULL });
    say("window saved as %s", out);
}

/* The serial console tab: a line typed into it runs in the guest's shell. */
static void console_answers(const char *name, const char *tag)
{
    click_tab("Serial Console");
    click(domus_console_view_get_input(domus_vm_page_get_console(page())));
    g_autofree char *cmd = g_strdup_printf("echo %s-$((6*7))", tag);
    g_autofree char *want = g_strdup_printf("%s-42", tag);
    gboolean answered = FALSE;
    for (int i = 0; i < 30 && !answered; i++) {
        say("typing into the serial console of %s (attempt %d)", name, i + 1);
        type_line(cmd);
        answered = mt_wait(console_has, want, 8);
    }
    if (!answered)
        die("the serial console of %s did not answer a typed line", name);
    say("the serial console of %s answered: %s", name, want);
    if (!strcmp(name, "demo-clone"))
        save_window("manager-console.png");
    click_tab("Display");
}

/* The trash button, then "Delete" in the confirmation; the VM and its folder go. */
static void delete_vm(const char *name)
{
    g_autoptr(GVariant) info = NULL;
    const char *dir = NULL;
    if (!domus_vm_call_get_info_sync(vm_named(name), &info, NULL, NULL) || !g_variant_lookup(info, "dir", "&s", &dir))
        die("GetInfo %s failed", name);
    open_card(name);
    click_action(GTK_WIDGET(win), "vm.delete");
    GtkWindow *dlg = NULL;
    if (!mt_wait(message_dialog_open, &dlg, 10))
        die("deleting %s asked nothing", name);
    wait_window(dlg);
    click_button(GTK_WIDGET(dlg), "_Delete");
    if (!mt_wait(no_message_dialog, NULL, 10))
        die("the question to delete %s did not go away", name);
    if (!mt_wait(vm_gone, (gpointer)name, 60))
        die("%s is still there after Delete", name);
    if (g_file_test(dir, G_FILE_TEST_EXISTS))
        die("%s's folder %s is still there", name, dir);
    say("%s deleted (and its folder)", name);
}

/* ---- the framebuffer, through a display channel client of our own ---- */

struct fb { gboolean have; };
static void on_fb_mode(void *opaque, const struct dc_mode *m, const uint8_t *px) { ((struct fb *)opaque)->have = px != NULL; }

static void on_socket(const char *path, gpointer data) { *(char **)data = g_strdup(path ? path : ""); }
static gboolean got_string(gpointer data) { return *(char **)data != NULL; }

/* Compares the guest's framebuffer with the screenshot's display region;
 * returns the fraction of pixels that differ, and counts lit guest pixels. */
static double compare_with_framebuffer(GdkTexture *shot, int ox, int oy, int *lit)
{
    g_autofree char *path = NULL;
    domus_vm_get_display_socket(domus_vm_page_get_vm(page()), NULL, on_socket, &path);
    if (!mt_wait(got_string, &path, 10) || !*path)
        die("domusd does not tell the display socket");
    char *msg = NULL;
    int fd = dc_client_connect(path, &msg);
    if (fd < 0)
        die("cannot open the display channel: %s", msg ? msg : g_strerror(-fd));
    struct fb fb = { 0 };
    static const struct dc_client_ops ops = { .mode = on_fb_mode };
    struct dc_client *c = dc_client_new(fd, &ops, &fb);
    for (int i = 0; i < 50 && !fb.have; i++)
        if (dc_client_wait(c, 100) > 0 && dc_client_dispatch(c) < 0)
            break;
    if (!fb.have)
        die("the display channel shows no framebuffer");
    const struct dc_mode *m = dc_client_mode(c);
    const guint8 *px = dc_client_pixels(c);
    unsigned ro, go, bo;
    if (!dc_format_info(m->format, &ro, &go, &bo))
        die("unknown framebuffer format %u", m->format);
    int sw = gdk_texture_get_width(shot), sh = gdk_texture_get_height(shot);
    if (ox < 0 || oy < 0 || ox + (int)m->width > sw || oy + (int)m->height > sh)
        die("the %ux%u framebuffer does not fit the %dx%d screenshot at %d,%d", m->width, m->height, sw, sh, ox, oy);
    g_autofree guint8 *s = g_malloc((size_t)sw * sh * 4);
    gdk_texture_download(shot, s, (size_t)sw * 4);     /* B8G8R8A8 premultiplied, opaque here */
    long differ = 0;
    *lit = 0;
    for (unsigned y = 0; y < m->height; y++)
        for (unsigned x = 0; x < m->width; x++) {
            const guint8 *g = px + (size_t)y * m->stride + (size_t)x * 4;
            const guint8 *w = s + ((size_t)(oy + y) * sw + ox + x) * 4;
            int dr = abs(g[ro] - w[2]), dg = abs(g[go] - w[1]), db = abs(g[bo] - w[0]);
            if (MAX(dr, MAX(dg, db)) > 16)
                differ++;
            if (g[ro] + g[go] + g[bo] > 192)
                (*lit)++;
        }
    double all = (double)m->width * m->height;
    dc_client_free(c);
    return differ / all;
}

static void check_screenshot(const char *out)
{
    DomusDisplay *d = domus_vm_page_get_display(page());
    int gw, gh, ox, oy;
    graphene_rect_t frame;
    domus_display_get_mode(d, &gw, &gh);
    domus_display_get_frame_rect(d, &frame);
    if ((int)frame.size.width != gw || (int)frame.size.height != gh)
        die("the %dx%d guest screen is drawn at %.0fx%.0f, not 1:1", gw, gh, frame.size.width, frame.size.height);
    to_window(GTK_WIDGET(d), frame.origin.x, frame.origin.y, &ox, &oy);
    mt_sleep(1);
    g_autofree char *id = g_strdup_printf("%lu", xid_of(GTK_WIDGET(win)));
    run((const char *const[]){ "import", "-window", id, out, NULL });
    g_autoptr(GError) err = NULL;
    g_autoptr(GdkTexture) shot = gdk_texture_new_from_filename(out, &err);
    if (!shot)
        die("screenshot %s: %s", out, err->message);
    int lit;
    double differ = compare_with_framebuffer(shot, ox, oy, &lit);
    say("screenshot %s: the %dx%d guest screen at %d,%d; %.3f%% of its pixels differ from the framebuffer, "
        "%d guest pixels lit", out, gw, gh, ox, oy, differ * 100, lit);
    /* A blinking cursor may differ; text must be there and match. */
    if (lit < 500)
        die("the guest's screen is (nearly) blank: %d lit pixels", lit);
    if (differ > 0.005)
        die("the window does not show the guest's framebuffer (%.2f%% differ)", differ * 100);
}

int main(int argc, char **argv)
{
    t0 = g_get_monotonic_time();
    gtk_init();
    adw_init();
    if (argc != 2) {
        fprintf(stderr, "usage: manager-flow SCREENSHOT.png\n");
        return 2;
    }
    shot_path = argv[1];
    app = domus_app_new();
    if (!g_application_register(G_APPLICATION(app), NULL, NULL) || !domus_app_get_manager(app))
        die("domusd is not reachable");
    win = domus_window_new(app);
    /* Large enough that the 1024x768 guest screen is drawn 1:1. */
    gtk_window_set_default_size(GTK_WINDOW(win), 1400, 1100);
    gtk_window_present(GTK_WINDOW(win));
    mt_sleep(1);

    click_button(GTK_WIDGET(win), "_Try the Demo VM");
    if (!mt_wait(view_is_vm, NULL, 600))
        die("the demo VM's page did not open");
    say("the demo VM's page is open (state %s)", state());
    click_button(GTK_WIDGET(win), "_Start");
    if (!mt_wait(state_is, "running", 60))
        die("the demo VM is %s, not running", state());
    if (!mt_wait(display_shows, NULL, 240))   /* a loaded rig boots slowly */
        die("the embedded display shows nothing");
    say("the demo VM runs and its screen is in the window");

    /* Focus the guest's screen, then type into it. */
    click(GTK_WIDGET(domus_vm_page_get_display(page())));
    run((const char *const[]){ "xdotool", "windowfocus", "--sync", g_strdup_printf("%lu", xid_of(GTK_WIDGET(win))), NULL });
    /* Keys typed before the shell is up are lost, and under a loaded rig a
     * late key release can become a guest autorepeat: the line is typed
     * again until the guest ran it as typed (its output goes to the serial
     * console, which the manager reads too). */
    gboolean answered = FALSE;
    for (int i = 0; i < 25 && !answered; i++) {
        say("typing into the window (attempt %d)", i + 1);
        type_line("clear; uname -sr; echo Hello from domus-manager: $((6*7)) | tee /dev/ttyS0");
        answered = mt_wait(console_has, "Hello from domus-manager: 42", 8);
    }
    if (!answered)
        die("keys typed into the window did not reach the guest's tty1 shell");
    say("a command typed into the window ran on tty1 (its output is on the serial console tab)");
    mt_sleep(2);
    check_screenshot(argv[1]);

    /* Snapshot: live where domusd can, otherwise once the guest is down. */
    click_tab("Snapshots");
    gboolean live = take_snapshot(TRUE);
    click_tab("Display");

    click_button(GTK_WIDGET(win), "S_hut Down");
    wait_state("demo", "stopped", 180, "after Shut Down (ACPI power button)");
    say("the demo VM shut down on the ACPI power button");
    if (!live) {
        click_tab("Snapshots");
        take_snapshot(FALSE);
        click_tab("Display");
    }

    click_button(GTK_WIDGET(win), "_Clone…");
    GtkWidget *dlg = NULL;
    if (!mt_wait(clone_dialog_open, &dlg, 10))
        die("Clone… opened no dialog");
    wait_window(GTK_WINDOW(dlg));
    domus_clone_dialog_set(DOMUS_CLONE_DIALOG(dlg), "demo-clone", TRUE);
    click_button(dlg, "_Clone");
    /* The card comes with domusd's ObjectAdded, the modal dialog goes with
     * Clone's reply; clicks reach the window only once it is gone. */
    if (!mt_wait(has_card, "demo-clone", 120) || !mt_wait(no_clone_dialog, NULL, 120))
        die("the clone did not appear");
    say("the linked clone demo-clone is in the grid");

    /* The clone starts beside its origin: both share the frozen base disk. */
    open_card("demo-clone");
    click_button(GTK_WIDGET(win), "_Start");
    wait_state("demo-clone", "running", 60, "after Start");
    open_card("demo");
    click_button(GTK_WIDGET(win), "_Start");
    wait_state("demo", "running", 60, "after Start");
    if (strcmp(vm_state("demo-clone"), "running"))
        die("demo-clone is %s once demo started again", vm_state("demo-clone"));
    say("demo (pid %u) and demo-clone (pid %u) run side by side", vm_pid("demo"), vm_pid("demo-clone"));
    console_answers("demo", "origin");
    open_card("demo-clone");
    console_answers("demo-clone", "clone");

    click_button(GTK_WIDGET(win), "S_hut Down");
    wait_state("demo-clone", "stopped", 180, "after Shut Down (ACPI power button)");
    say("demo-clone shut down on the ACPI power button");
    open_card("demo");
    click_button(GTK_WIDGET(win), "_Force Off");
    wait_state("demo", "stopped", 30, "after Force Off");
    say("demo was forced off");

    delete_vm("demo-clone");
    delete_vm("demo");
    say("both VMs are deleted");
    gtk_window_destroy(GTK_WINDOW(win));
    return 0;
}
