#include "flow.h"
#include "display_client.h"
#include "domus-clone-dialog.h"
#include "domus-vm-card.h"

#include <gdk/x11/gdkx.h>
#include <X11/Xutil.h>

DomusWindow *flow_win;
DomusApp *flow_app;
static const char *out_dir;
static gint64 t0;

void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("%s: [%5.1fs] %s\n", g_get_prgname(), (g_get_monotonic_time() - t0) / 1e6, msg);
    fflush(stdout);
}

static Display *xdisplay(void) { return gdk_x11_display_get_xdisplay(gdk_display_get_default()); }

/* The pixels of X window @xid as the server has them, as an opaque texture. */
static GdkTexture *capture(Window xid)
{
    Display *dpy = xdisplay();
    XWindowAttributes a;
    gdk_x11_display_error_trap_push(gdk_display_get_default());
    XImage *im = XGetWindowAttributes(dpy, xid, &a) ?
                 XGetImage(dpy, xid, 0, 0, a.width, a.height, AllPlanes, ZPixmap) : NULL;
    gdk_x11_display_error_trap_pop_ignored(gdk_display_get_default());
    if (!im)
        return NULL;
    if (im->bits_per_pixel != 32 || im->byte_order != LSBFirst || im->red_mask != 0xff0000 || im->blue_mask != 0xff) {
        XDestroyImage(im);
        return NULL;
    }
    size_t stride = (size_t)a.width * 4;
    guint8 *px = g_malloc(stride * a.height);
    for (int y = 0; y < a.height; y++) {
        const guint8 *src = (const guint8 *)im->data + (size_t)y * im->bytes_per_line;
        guint8 *dst = px + y * stride;
        for (int x = 0; x < a.width; x++, src += 4, dst += 4) {
            memcpy(dst, src, 3);     /* B, G, R */
            dst[3] = 0xff;
        }
    }
    XDestroyImage(im);
    g_autoptr(GBytes) bytes = g_bytes_new_take(px, stride * a.height);
    return gdk_memory_texture_new(a.width, a.height, GDK_MEMORY_B8G8R8A8_PREMULTIPLIED, bytes, stride);
}

static char *out_path(const char *file) { return g_build_filename(out_dir, file, NULL); }

DomusVmPage *page(void) { return flow_win ? domus_window_get_vm_page(flow_win) : NULL; }
const char *state(void) { return domus_vm_get_state(domus_vm_page_get_vm(page())); }

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    say("FAIL: %s", msg);
    printf("FAIL: %s\n", msg);
    const char *toast = flow_win ? domus_window_get_last_toast(flow_win) : NULL;
    if (toast)
        printf("  (last toast: %s)\n", toast);
    g_autoptr(GdkTexture) screen = capture(DefaultRootWindow(xdisplay()));
    g_autofree char *png = g_strdup_printf("%s/%s.fail.png", out_dir, g_get_prgname());
    if (screen && gdk_texture_save_to_png(screen, png))
        printf("  (screen: %s)\n", png);
    /* A VM that went down on its own says why (domusd's last error holds the end of its log). */
    GDBusObjectManager *om = flow_app ? domus_app_get_objects(flow_app) : NULL;
    g_autolist(GDBusObject) objs = om ? g_dbus_object_manager_get_objects(om) : NULL;
    for (GList *l = objs; l; l = l->next) {
        DomusVM *vm = domus_object_peek_vm(DOMUS_OBJECT(l->data));
        const char *err = vm ? domus_vm_get_last_error(vm) : NULL;
        if (vm)
            printf("  (%s is %s%s%s)\n", domus_vm_get_name(vm), domus_vm_get_state(vm), err && *err ? ": " : "",
                   err ? err : "");
    }
    DomusVmPage *p = page();
    g_autofree char *text = p && domus_vm_page_get_vm(p) ? domus_console_view_get_text(domus_vm_page_get_console(p)) : NULL;
    if (text)
        printf("--- serial console (end):\n%s\n---\n", text + (strlen(text) > 800 ? strlen(text) - 800 : 0));
    fflush(stdout);
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

static gboolean count_frame(GtkWidget *w, GdkFrameClock *clock, gpointer left)
{
    return --*(int *)left > 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}
static gboolean none_left(gpointer left) { return *(int *)left <= 0; }

/* Waits until @w's window went through @n more frame cycles: a view just
 * switched to is laid out (its buttons have their place), and damage is on
 * screen, only then. A tick callback keeps the frame clock running; nothing
 * is redrawn that did not change (a full redraw is slow under a loaded rig). */
static void wait_frames(GtkWidget *w, int n)
{
    GtkWidget *top = GTK_WIDGET(gtk_widget_get_native(w));
    int left = n;
    guint id = gtk_widget_add_tick_callback(top, count_frame, &left, NULL);
    if (!mt_wait(none_left, &left, 30)) {
        gtk_widget_remove_tick_callback(top, id);
        die("the window drew no frame in 30 s");
    }
}

/* Events the X server has for us (a click just made) are handled. */
static void drain_events(void)
{
    gdk_display_sync(gdk_display_get_default());
    while (g_main_context_pending(NULL))
        g_main_context_iteration(NULL, FALSE);
}

void click(GtkWidget *w)
{
    int x, y;
    if (!mt_wait(settled, w, 10))
        die("a view transition did not end");
    wait_frames(w, 2);
    to_window(w, gtk_widget_get_width(w) / 2.0, gtk_widget_get_height(w) / 2.0, &x, &y);
    g_autofree char *id = g_strdup_printf("%lu", xid_of(w)), *sx = g_strdup_printf("%d", x), *sy = g_strdup_printf("%d", y);
    run((const char *const[]){ "xdotool", "mousemove", "--sync", "--window", id, sx, sy, "click", "1", NULL });
    drain_events();
}

/* ---- finding what a user sees: only mapped widgets count ---- */

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

struct finding { GtkWidget *root, *found; gboolean (*match)(GtkWidget *, gconstpointer); gconstpointer data; };
static gboolean found(gpointer d)
{
    struct finding *f = d;
    return (f->found = find_widget(f->root, f->match, f->data)) != NULL;
}
static GtkWidget *wait_widget(GtkWidget *root, gboolean (*match)(GtkWidget *, gconstpointer), gconstpointer data,
                              const char *what)
{
    struct finding f = { root, NULL, match, data };
    if (!mt_wait(found, &f, 20))
        die("no %s on screen", what);
    return f.found;
}

static gboolean is_button(GtkWidget *w, gconstpointer label)
{
    return GTK_IS_BUTTON(w) && !g_strcmp0(gtk_button_get_label(GTK_BUTTON(w)), label);
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
static gboolean is_type(GtkWidget *w, gconstpointer type) { return G_TYPE_CHECK_INSTANCE_TYPE(w, (GType)type); }

/* Waits for the widget @match finds under @root (@what names it for a user)
 * and clicks it, unless it is insensitive: a user could not click it either. */
static void click_widget(GtkWidget *root, gboolean (*match)(GtkWidget *, gconstpointer), gconstpointer data,
                         const char *what)
{
    GtkWidget *w = wait_widget(root, match, data, what);
    if (!gtk_widget_is_sensitive(w))
        die("%s is insensitive", what);
    say("click %s", what);
    click(w);
}

void click_button(GtkWidget *root, const char *label)
{
    g_autofree char *what = g_strdup_printf("the \"%s\" button", label);
    click_widget(root, is_button, label, what);
}

void click_action(GtkWidget *root, const char *action)
{
    g_autofree char *what = g_strdup_printf("the %s button", action);
    click_widget(root, has_action, action, what);
}

static gboolean tab_shown(gpointer title)
{
    AdwViewStack *views = ADW_VIEW_STACK(mt_find(GTK_WIDGET(page()), is_type, (gconstpointer)ADW_TYPE_VIEW_STACK));
    GtkWidget *child = adw_view_stack_get_visible_child(views);
    return child && !g_strcmp0(adw_view_stack_page_get_title(adw_view_stack_get_page(views, child)), title);
}

void click_tab(const char *title)
{
    g_autofree char *what = g_strdup_printf("the \"%s\" tab", title);
    click_widget(GTK_WIDGET(flow_win), is_tab, title, what);
    if (!mt_wait(tab_shown, (gpointer)title, 10))
        die("clicking the \"%s\" tab did not show it", title);
}

/* ---- the VMs, as domusd reports them over D-Bus ---- */

DomusVM *vm_named(const char *name)
{
    DomusVM *vm = domus_app_lookup_vm(flow_app, name);
    if (!vm)
        die("domusd has no VM named %s", name);
    return vm;
}
const char *vm_state(const char *name) { return domus_vm_get_state(vm_named(name)); }

struct want { const char *name, *state; };
static gboolean vm_in_state(gpointer d)
{
    struct want *w = d;
    return !g_strcmp0(vm_state(w->name), w->state);
}

void wait_state(const char *name, const char *state, double timeout_s, const char *what)
{
    struct want w = { name, state };
    if (!mt_wait(vm_in_state, &w, timeout_s)) {
        const char *err = domus_vm_get_last_error(vm_named(name));
        die("%s %s is %s, not %s%s%s", what, name, vm_state(name), state, err && *err ? ": " : "", err ? err : "");
    }
}

static gboolean has_card(gpointer name) { return domus_window_get_card(flow_win, name) != NULL; }
static gboolean vm_gone(gpointer name) { return !domus_app_lookup_vm(flow_app, name) && !has_card(name); }
static gboolean view_is(gpointer view) { return !g_strcmp0(domus_window_get_view(flow_win), view); }
static gboolean page_shows(gpointer name)
{
    return view_is("vm") && !g_strcmp0(domus_vm_get_name(domus_vm_page_get_vm(page())), name);
}

void back_to_grid(void)
{
    if (view_is("vm"))
        click_action(GTK_WIDGET(flow_win), "win.back");
    if (!mt_wait(view_is, "grid", 10))
        die("the VM grid did not come back");
}

void open_card(const char *name)
{
    if (page_shows((gpointer)name))
        return;
    back_to_grid();
    GtkWidget *card = domus_window_get_card(flow_win, name);
    if (!card)
        die("no card for %s in the grid", name);
    say("click the card of %s", name);
    click(card);
    if (!mt_wait(page_shows, (gpointer)name, 10))
        die("clicking the card of %s did not open its page", name);
}

static gboolean mapped(gpointer w) { return gtk_widget_get_mapped(w); }
/* A window just opened takes clicks once X mapped it and it drew itself. */
void wait_window(GtkWindow *w)
{
    if (!mt_wait(mapped, w, 20))
        die("the window \"%s\" did not appear", gtk_window_get_title(w));
    wait_frames(GTK_WIDGET(w), 2);
}

void flow_open(const char *dir)
{
    t0 = g_get_monotonic_time();
    out_dir = dir;
    flow_app = domus_app_new();
    if (!g_application_register(G_APPLICATION(flow_app), NULL, NULL) || !domus_app_get_manager(flow_app))
        die("domusd is not reachable");
    flow_win = domus_window_new(flow_app);
    gtk_window_set_default_size(GTK_WINDOW(flow_win), 1400, 1100);
    gtk_window_present(GTK_WINDOW(flow_win));
    wait_window(GTK_WINDOW(flow_win));
    say("the main window is up");
}

/* ---- typing and the serial console ---- */

void focus_window(void)
{
    g_autofree char *id = g_strdup_printf("%lu", xid_of(GTK_WIDGET(flow_win)));
    run((const char *const[]){ "xdotool", "windowfocus", "--sync", id, NULL });
}

void type_line(const char *text)
{
    /* Each key's press and release go out back to back: on a loaded host a
     * release that comes late makes the guest repeat the key. */
    run((const char *const[]){ "xdotool", "type", "--delay", "0", text, NULL });
    run((const char *const[]){ "xdotool", "key", "Return", NULL });
}

gboolean console_has(gpointer text)
{
    g_autofree char *t = domus_console_view_get_text(domus_vm_page_get_console(page()));
    return t && strstr(t, text);
}

/* mkguest's init says "userspace ready", starts the tty1 shell, then the
 * serial one, whose prompt ends in "# ". */
static gboolean shell_up(gpointer d)
{
    g_autofree char *t = domus_console_view_get_text(domus_vm_page_get_console(page()));
    const char *ready = t ? strstr(t, "mkguest: userspace ready") : NULL;
    return ready && strstr(ready, "# ");
}

void wait_shell(const char *name, double timeout_s)
{
    if (!mt_wait(shell_up, NULL, timeout_s))
        die("no shell prompt on the serial console of %s after %.0f s", name, timeout_s);
    say("%s booted: its shell prompt is on the serial console", name);
}

void console_answers(const char *name, const char *tag, const char *save_as)
{
    click_tab("Serial Console");
    click(domus_console_view_get_input(domus_vm_page_get_console(page())));
    focus_window();
    g_autofree char *cmd = g_strdup_printf("echo %s-$((6*7))", tag);
    g_autofree char *want = g_strdup_printf("%s-42", tag);
    gboolean answered = FALSE;
    /* A console connected after the guest's prompt went by shows none: the
     * line is typed again until the shell has run it. */
    for (int i = 0; i < 12 && !answered; i++) {
        say("typing into the serial console of %s (attempt %d)", name, i + 1);
        type_line(cmd);
        answered = mt_wait(console_has, want, 10);
        if (!answered && g_strcmp0(vm_state(name), "running"))
            die("%s went %s while its serial console was typed into", name, vm_state(name));
    }
    if (!answered)
        die("the serial console of %s did not answer a typed line", name);
    say("the serial console of %s answered: %s", name, want);
    if (save_as)
        g_object_unref(save_window(save_as));
}

/* ---- snapshots, clones, deleting ---- */

struct snap_wait { guint toasts, before; };
static gboolean snapshot_or_toast(gpointer d)
{
    struct snap_wait *sw = d;
    g_auto(GStrv) now = domus_vm_page_get_snapshots(page());
    return g_strv_length(now) > sw->before || domus_window_get_n_toasts(flow_win) != sw->toasts;
}

gboolean take_snapshot(gboolean may_refuse)
{
    guint toasts = domus_window_get_n_toasts(flow_win);
    g_auto(GStrv) before = domus_vm_page_get_snapshots(page());
    GActionGroup *actions = domus_vm_page_get_actions(page());
    if (!g_action_group_get_action_enabled(actions, "snapshot"))
        die("Take Snapshot is disabled");
    click_button(GTK_WIDGET(flow_win), "_Take Snapshot");
    struct snap_wait w = { toasts, g_strv_length(before) };
    if (!mt_wait(snapshot_or_toast, &w, 120))
        die("Take Snapshot neither listed a snapshot nor said why");
    g_auto(GStrv) names = domus_vm_page_get_snapshots(page());
    if (g_strv_length(names) > w.before) {
        say("snapshot %s taken (%s VM)", names[g_strv_length(names) - 1], state());
        return TRUE;
    }
    const char *toast = domus_window_get_last_toast(flow_win);
    if (may_refuse && strstr(toast, "running VM")) {
        say("no live snapshot of this VM (\"%s\"); it is taken once the VM is down", toast);
        return FALSE;
    }
    die("Take Snapshot failed");
}

static gboolean clone_dialog_open(gpointer out)
{
    return (*(GtkWindow **)out = mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG)) != NULL;
}
static gboolean no_clone_dialog(gpointer d) { return !mt_find_toplevel(DOMUS_TYPE_CLONE_DIALOG); }

void clone_vm(const char *name)
{
    click_button(GTK_WIDGET(flow_win), "_Clone…");
    GtkWindow *dlg = NULL;
    if (!mt_wait(clone_dialog_open, &dlg, 10))
        die("Clone… opened no dialog");
    wait_window(dlg);
    domus_clone_dialog_set(DOMUS_CLONE_DIALOG(dlg), name, TRUE);
    click_button(GTK_WIDGET(dlg), "_Clone");
    /* The card comes with domusd's ObjectAdded, the modal dialog goes with
     * Clone's reply; clicks reach the window only once it is gone. */
    if (!mt_wait(has_card, (gpointer)name, 120) || !mt_wait(no_clone_dialog, NULL, 120))
        die("the clone %s did not appear", name);
    say("the linked clone %s is in the grid", name);
}

static gboolean no_message_dialog(gpointer d) { return !mt_find_toplevel(ADW_TYPE_MESSAGE_DIALOG); }
static gboolean message_dialog_open(gpointer out)
{
    return (*(GtkWindow **)out = mt_find_toplevel(ADW_TYPE_MESSAGE_DIALOG)) != NULL;
}

void delete_vm(const char *name)
{
    g_autoptr(GVariant) info = NULL;
    const char *dir = NULL;
    if (!domus_vm_call_get_info_sync(vm_named(name), &info, NULL, NULL) || !g_variant_lookup(info, "dir", "&s", &dir))
        die("GetInfo %s failed", name);
    open_card(name);
    click_action(GTK_WIDGET(flow_win), "vm.delete");
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

/* ---- screenshots ---- */

GdkTexture *save_window(const char *file)
{
    wait_frames(GTK_WIDGET(flow_win), 2);
    GdkTexture *shot = capture(xid_of(GTK_WIDGET(flow_win)));
    if (!shot)
        die("cannot read the window's pixels from the X server");
    if (file) {
        g_autofree char *path = out_path(file);
        if (!gdk_texture_save_to_png(shot, path))
            die("cannot write %s", path);
        say("window saved as %s", path);
    }
    return shot;
}

struct fb { gboolean have; };
static void on_fb_mode(void *opaque, const struct dc_mode *m, const uint8_t *px) { ((struct fb *)opaque)->have = px != NULL; }
static void on_socket(const char *path, gpointer data) { *(char **)data = g_strdup(path ? path : ""); }
static gboolean got_string(gpointer data) { return *(char **)data != NULL; }

/* The fraction of the guest screen's pixels that differ between the
 * framebuffer (read now through a display channel of our own) and @shot at
 * (@ox, @oy); *@lit counts the guest's lit pixels. */
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
    for (int i = 0; i < 100 && !fb.have; i++)
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

void check_guest_screenshot(const char *file)
{
    DomusDisplay *d = domus_vm_page_get_display(page());
    int gw = 0, gh = 0, ox, oy, lit = 0;
    double differ = 1;
    graphene_rect_t frame;
    domus_display_get_mode(d, &gw, &gh);
    domus_display_get_frame_rect(d, &frame);
    if ((int)frame.size.width != gw || (int)frame.size.height != gh)
        die("the %dx%d guest screen is drawn at %.0fx%.0f, not 1:1", gw, gh, frame.size.width, frame.size.height);
    to_window(GTK_WIDGET(d), frame.origin.x, frame.origin.y, &ox, &oy);
    /* The guest may still be drawing (a blinking cursor, a late line): the
     * window and the framebuffer are read again until they agree. */
    gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    g_autoptr(GdkTexture) shot = NULL;
    do {
        g_clear_object(&shot);
        shot = save_window(NULL);
        differ = compare_with_framebuffer(shot, ox, oy, &lit);
    } while ((lit < 500 || differ > 0.005) && g_get_monotonic_time() < end);
    say("the %dx%d guest screen at %d,%d: %.3f%% of its pixels differ from the framebuffer, %d guest pixels lit",
        gw, gh, ox, oy, differ * 100, lit);
    /* A blinking cursor may differ; text must be there and match. */
    if (lit < 500)
        die("the guest's screen is (nearly) blank: %d lit pixels", lit);
    if (differ > 0.005)
        die("the window does not show the guest's framebuffer (%.2f%% differ)", differ * 100);
    g_autofree char *path = out_path(file);
    if (!gdk_texture_save_to_png(shot, path))
        die("cannot write %s", path);
    say("screenshot saved as %s", path);
}
