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

#define say(...) (printf("manager-flow: " __VA_ARGS__), putchar('\n'), fflush(stdout))

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
static GtkWidget *find_button(GtkWidget *root, const char *label)
{
    if (GTK_IS_BUTTON(root) && gtk_widget_get_mapped(root) && !g_strcmp0(gtk_button_get_label(GTK_BUTTON(root)), label))
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *hit = find_button(c, label);
        if (hit)
            return hit;
    }
    return NULL;
}

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

/* A real pointer click in the middle of @w, once no transition moves it. */
static void click(GtkWidget *w)
{
    int x, y;
    mt_wait(settled, w, 5);
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
static gboolean has_snapshot(gpointer d)
{
    g_auto(GStrv) names = domus_vm_page_get_snapshots(page());
    return names[0] != NULL || domus_window_get_last_toast(win) != NULL;
}
static gboolean console_has(gpointer text)
{
    g_autofree char *t = domus_console_view_get_text(domus_vm_page_get_console(page()));
    return t && strstr(t, text);
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
    gtk_init();
    adw_init();
    if (argc != 2) {
        fprintf(stderr, "usage: manager-flow SCREENSHOT.png\n");
        return 2;
    }
    shot_path = argv[1];
    DomusApp *app = domus_app_new();
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

    /* Focus the guest's screen, then type until tty1's shell answers on
     * the serial console (keys typed before the shell is up are lost). */
    click(GTK_WIDGET(domus_vm_page_get_display(page())));
    run((const char *const[]){ "xdotool", "windowfocus", "--sync", g_strdup_printf("%lu", xid_of(GTK_WIDGET(win))), NULL });
    gboolean answered = FALSE;
    for (int i = 0; i < 20 && !answered; i++) {
        say("typing into the window (attempt %d)", i + 1);
        type_line("echo typed-$((6*7)) >/dev/ttyS0");
        answered = mt_wait(console_has, "typed-42", 8);
    }
    if (!answered)
        die("keys typed into the window did not reach the guest's tty1 shell");
    say("a command typed into the window ran on tty1 (its output is on the serial console tab)");
    /* Under a loaded rig a late key release can become a guest autorepeat;
     * the line is typed again until the guest ran it as typed. */
    answered = FALSE;
    for (int i = 0; i < 5 && !answered; i++) {
        type_line("clear; uname -sr; echo Hello from domus-manager: $((6*7)) | tee /dev/ttyS0");
        answered = mt_wait(console_has, "Hello from domus-manager: 42", 20);
    }
    if (!answered)
        die("the guest did not run the second typed command");
    mt_sleep(2);
    check_screenshot(argv[1]);

    domus_vm_page_show(page(), "snapshots");
    mt_sleep(0.5);
    GActionGroup *actions = domus_vm_page_get_actions(page());
    if (!g_action_group_get_action_enabled(actions, "snapshot"))
        say("SKIP snapshot: domusd has no snapshots yet (the action is disabled)");
    else {
        click_button(GTK_WIDGET(win), "_Take Snapshot");
        mt_wait(has_snapshot, NULL, 60);
        g_auto(GStrv) names = domus_vm_page_get_snapshots(page());
        if (names[0])
            say("snapshot taken: %s", names[0]);
        else if (domus_window_get_last_toast(win))
            say("SKIP snapshot of a running VM: %s", domus_window_get_last_toast(win));
        else
            die("Take Snapshot neither listed a snapshot nor said why");
    }
    domus_vm_page_show(page(), "display");

    click_button(GTK_WIDGET(win), "S_hut Down");
    if (!mt_wait(state_is, "stopped", 180))
        die("after Shut Down the demo VM is %s", state());
    say("the demo VM shut down");
    click_button(GTK_WIDGET(win), "_Clone…");
    GtkWidget *dlg = GTK_WIDGET(mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG));
    if (!dlg)
        die("Clone… opened no dialog");
    mt_sleep(0.5);
    domus_clone_dialog_set(DOMUS_CLONE_DIALOG(dlg), "demo-clone", TRUE);
    click_button(dlg, "_Clone");
    if (!mt_wait(has_card, "demo-clone", 120))
        die("the clone did not appear");
    say("the linked clone demo-clone is in the grid");
    gtk_window_destroy(GTK_WINDOW(win));
    return 0;
}
