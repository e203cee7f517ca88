#include "domus-vm-page.h"
#include "domus-clone-dialog.h"
#include "domus-sparkline.h"
#include "domus-vm-card.h"
#include "domus-window.h"

#include <glib/gstdio.h>

struct _DomusVmPage {
    AdwBin parent;
    DomusVM *vm;
    GCancellable *cancel;
    GSimpleActionGroup *actions;
    GSubprocess *vnc;
    DomusDisplay *display;
    AdwStatusPage *display_status;
    DomusConsoleView *console;
    GtkLabel *state_label;
    AdwViewStack *views;
    GtkListBox *snapshots;
    DomusSparkline *cpu_graph, *mem_graph, *disk_graph, *net_graph;
    GtkSpinButton *memory_spin, *cpus_spin, *disk_spin;
    AdwComboRow *net_row, *sound_row;
    guint64 disk_mib;                /* the first disk's size as last read */
    int net_loaded, sound_loaded;    /* combo positions as read; -1: a value the combo lacks */
    AdwActionRow *disks_row, *devices_row;
    GtkSwitch *vnc_switch;
    AdwEntryRow *vnc_address;
    AdwPasswordEntryRow *vnc_password;
    gboolean snapshots_supported;
};

G_DEFINE_FINAL_TYPE(DomusVmPage, domus_vm_page, ADW_TYPE_BIN)

static void toast_error(DomusVmPage *self, const char *what, GError *err)
{
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
    if (err)
        g_dbus_error_strip_remote_error(err);
    g_autofree char *msg = g_strdup_printf("%s: %s", what, err ? err->message : "failed");
    if (DOMUS_IS_WINDOW(root))
        domus_window_toast(DOMUS_WINDOW(root), msg);
    else
        g_warning("%s", msg);
}

static void console_error(GError *err, gpointer data)
{
    toast_error(data, "Serial console", err);
}

static void on_socket(const char *path, gpointer data)
{
    DomusVmPage *self = data;
    g_autoptr(GError) err = NULL;
    if (!path) {
        adw_status_page_set_title(self->display_status, "No Display");
        adw_status_page_set_description(self->display_status,
            "This VM was started without a display channel. Stop it and start it here to see its screen.");
    }
    else if (!domus_display_connect(self->display, path, &err))
        toast_error(self, "Display", err);
}

static void sync_actions(DomusVmPage *self)
{
    const char *st = self->vm ? domus_vm_get_state(self->vm) : "";
    gboolean running = !g_strcmp0(st, "running"), paused = !g_strcmp0(st, "paused");
    gboolean off = !g_strcmp0(st, "stopped") || !g_strcmp0(st, "crashed");
    static const struct { const char *name; int when; } rules[] = {   /* 1 off, 2 running, 4 paused */
        { "start", 1 }, { "stop", 2 | 4 }, { "force-off", 2 | 4 }, { "pause", 2 }, { "resume", 4 },
        { "reset", 2 }, { "open-window", 2 | 4 }, { "clone", 1 }, { "delete", 1 }, { "apply-settings", 1 },
    };
    int now = (off ? 1 : 0) | (running ? 2 : 0) | (paused ? 4 : 0);
    for (unsigned i = 0; i < G_N_ELEMENTS(rules); i++)
        g_simple_action_set_enabled(G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(self->actions),
                                    rules[i].name)), (rules[i].when & now) != 0);
    const char *snap_actions[] = { "snapshot", "snapshot-revert", "snapshot-delete" };
    for (unsigned i = 0; i < G_N_ELEMENTS(snap_actions); i++)
        g_simple_action_set_enabled(G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(self->actions),
                                    snap_actions[i])), self->vm && self->snapshots_supported);
    gtk_label_set_label(self->state_label, st);
    const char *err = self->vm ? domus_vm_get_last_error(self->vm) : NULL;
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->state_label), !g_strcmp0(st, "crashed") && err && *err ? err : NULL);
    GtkWidget *editors[] = { GTK_WIDGET(self->memory_spin), GTK_WIDGET(self->cpus_spin), GTK_WIDGET(self->disk_spin),
                             GTK_WIDGET(self->net_row), GTK_WIDGET(self->sound_row) };
    for (unsigned i = 0; i < G_N_ELEMENTS(editors); i++) {
        gtk_widget_set_sensitive(editors[i], off);
        gtk_widget_set_tooltip_text(editors[i], off || !self->vm ? NULL : "Shut the VM down to change its hardware");
    }
    /* Until the guest draws, the black screen says why it is black. */
    gboolean drawn = domus_display_get_mode(self->display, NULL, NULL);
    gtk_widget_set_visible(GTK_WIDGET(self->display_status), !(running || paused) || !drawn);
    if ((running || paused) && !domus_display_is_connected(self->display)) {
        adw_status_page_set_title(self->display_status, "Starting");
        adw_status_page_set_description(self->display_status, "The guest has not drawn its screen yet.");
        domus_vm_get_display_socket(self->vm, self->cancel, on_socket, self);
    }
    if (!running && !paused) {
        domus_display_disconnect(self->display);
        adw_status_page_set_title(self->display_status, "Not Running");
        adw_status_page_set_description(self->display_status, "Start the VM to see its screen here.");
    }
    if ((running || paused) && self->vm)
        domus_console_view_attach(self->console, self->vm, console_error, self);
    else {
        domus_console_view_detach(self->console);
        domus_console_view_show_vm(self->console, self->vm);
    }
}

/* ---- snapshots ---- */

static void on_snapshot_list(GObject *src, GAsyncResult *res, gpointer data)
{
    g_auto(GStrv) names = NULL;
    g_autoptr(GError) err = NULL;
    if (!domus_vm_call_snapshot_list_finish(DOMUS_VM(src), &names, res, &err) &&
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    DomusVmPage *self = data;
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->snapshots))))
        gtk_list_box_remove(self->snapshots, child);
    self->snapshots_supported = !err || !g_dbus_error_is_remote_error(err) ||
        g_strcmp0(g_dbus_error_get_remote_error(err), "org.domus.Toolstack1.Error.NotSupported");
    const char *why = "Snapshots need the toolstack's snapshot support, which this domusd does not have yet";
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->snapshots), self->snapshots_supported ? NULL : why);
    for (unsigned i = 0; names && names[i]; i++) {
        GtkWidget *row = adw_action_row_new();
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), names[i]);
        gtk_widget_set_name(row, names[i]);
        gtk_list_box_append(self->snapshots, row);
    }
    if (!names || !names[0]) {
        GtkWidget *row = adw_action_row_new();
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), self->snapshots_supported ? "No snapshots yet" : why);
        gtk_list_box_row_set_selectable(GTK_LIST_BOX_ROW(row), FALSE);
        gtk_list_box_append(self->snapshots, row);
    }
    sync_actions(self);
}

static void refresh_snapshots(DomusVmPage *self)
{
    if (self->vm)
        domus_vm_call_snapshot_list(self->vm, self->cancel, on_snapshot_list, self);
}

static const char *selected_snapshot(DomusVmPage *self)
{
    GtkListBoxRow *row = gtk_list_box_get_selected_row(self->snapshots);
    return row && gtk_list_box_row_get_selectable(row) ? gtk_widget_get_name(GTK_WIDGET(row)) : NULL;
}

char **domus_vm_page_get_snapshots(DomusVmPage *self)
{
    GPtrArray *a = g_ptr_array_new();
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->snapshots)); c; c = gtk_widget_get_next_sibling(c))
        if (GTK_IS_LIST_BOX_ROW(c) && gtk_list_box_row_get_selectable(GTK_LIST_BOX_ROW(c)))
            g_ptr_array_add(a, g_strdup(gtk_widget_get_name(c)));
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

void domus_vm_page_select_snapshot(DomusVmPage *self, const char *name)
{
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->snapshots)); c; c = gtk_widget_get_next_sibling(c))
        if (GTK_IS_LIST_BOX_ROW(c) && !g_strcmp0(gtk_widget_get_name(c), name))
            gtk_list_box_select_row(self->snapshots, GTK_LIST_BOX_ROW(c));
}

/* ---- actions ---- */

struct call { DomusVmPage *self; char *what; };

static struct call *call_new(DomusVmPage *self, const char *what)
{
    struct call *c = g_new(struct call, 1);
    c->self = g_object_ref(self);
    c->what = g_strdup(what);
    return c;
}

/* Every method's reply: failures become toasts, never silence. */
static void on_done(GObject *src, GAsyncResult *res, gpointer data)
{
    struct call *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) v = g_dbus_proxy_call_finish(G_DBUS_PROXY(src), res, &err);
    if (!v)
        toast_error(c->self, c->what, err);
    refresh_snapshots(c->self);
    g_object_unref(c->self);
    g_free(c->what);
    g_free(c);
}

static void call(DomusVmPage *self, const char *method, GVariant *args, const char *what)
{
    if (!self->vm)
        return;
    g_dbus_proxy_call(G_DBUS_PROXY(self->vm), method, args, G_DBUS_CALL_FLAGS_NONE, 300000, NULL,
                      on_done, call_new(self, what));
}

static void act_start(GSimpleAction *a, GVariant *p, gpointer d)
{
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{sv}", "display", g_variant_new_string("channel"));
    call(d, "Start", g_variant_new("(a{sv})", &b), "Start");
}
static void act_stop(GSimpleAction *a, GVariant *p, gpointer d) { call(d, "Stop", g_variant_new("(bu)", FALSE, 0), "Shut down"); }
static void act_force(GSimpleAction *a, GVariant *p, gpointer d) { call(d, "Stop", g_variant_new("(bu)", TRUE, 0), "Force off"); }
static void act_pause(GSimpleAction *a, GVariant *p, gpointer d) { call(d, "Pause", NULL, "Pause"); }
static void act_resume(GSimpleAction *a, GVariant *p, gpointer d) { call(d, "Resume", NULL, "Resume"); }
static void act_reset(GSimpleAction *a, GVariant *p, gpointer d) { call(d, "Reset", NULL, "Reset"); }

static void act_snapshot(GSimpleAction *a, GVariant *p, gpointer d)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *name = g_date_time_format(now, "snapshot-%Y%m%d-%H%M%S");
    call(d, "SnapshotCreate", g_variant_new("(s)", name), "Take snapshot");
}

static void on_revert_response(AdwMessageDialog *dlg, const char *response, gpointer data)
{
    DomusVmPage *self = data;
    const char *snap = g_object_get_data(G_OBJECT(dlg), "snapshot");
    if (!g_strcmp0(response, "revert"))
        call(self, "SnapshotRevert", g_variant_new("(s)", snap), "Revert");
}

static void act_snapshot_revert(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    const char *snap = p ? g_variant_get_string(p, NULL) : selected_snapshot(self);
    if (!snap) {
        toast_error(self, "Revert", NULL);
        return;
    }
    GtkWidget *dlg = adw_message_dialog_new(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(self))),
                                            "Revert to Snapshot?", NULL);
    adw_message_dialog_format_body(ADW_MESSAGE_DIALOG(dlg),
        "The disks of “%s” go back to “%s”; changes since then are lost.", domus_vm_get_name(self->vm), snap);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dlg), "cancel", "_Cancel", "revert", "_Revert", NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dlg), "revert", ADW_RESPONSE_DESTRUCTIVE);
    g_object_set_data_full(G_OBJECT(dlg), "snapshot", g_strdup(snap), g_free);
    g_signal_connect(dlg, "response", G_CALLBACK(on_revert_response), self);
    gtk_window_present(GTK_WINDOW(dlg));
}

static void act_snapshot_delete(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    const char *snap = p ? g_variant_get_string(p, NULL) : selected_snapshot(self);
    if (snap)
        call(self, "SnapshotDelete", g_variant_new("(s)", snap), "Delete snapshot");
}

static void act_clone(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    GtkWidget *dlg = domus_clone_dialog_new(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(self))), self->vm);
    gtk_window_present(GTK_WINDOW(dlg));
}

static void act_delete(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
    if (self->vm && DOMUS_IS_WINDOW(root))
        domus_window_delete_vm(DOMUS_WINDOW(root), domus_vm_get_name(self->vm));
}

static void open_window_socket(const char *path, gpointer data)
{
    DomusVmPage *self = data;
    g_autoptr(GError) err = NULL;
    if (!path) {
        toast_error(self, "Open in a window", NULL);
        return;
    }
    g_autofree char *view = g_find_program_in_path("domus-view");
    if (!view) {
        const char *env = g_getenv("DOMUS_VIEW");
        view = g_strdup(env);
    }
    if (!view) {
        g_set_error_literal(&err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "domus-view is not installed");
    } else {
        g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &err, view, "--channel", path, NULL);
    }
    if (err)
        toast_error(self, "Open in a window", err);
}

static void act_open_window(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    domus_vm_get_display_socket(self->vm, self->cancel, open_window_socket, self);
}

/* ---- remote access: domus-vnc is a display channel client of its own ---- */

static void stop_vnc(DomusVmPage *self)
{
    if (self->vnc)
        g_subprocess_send_signal(self->vnc, SIGTERM);
    g_clear_object(&self->vnc);
}

static void vnc_socket(const char *path, gpointer data)
{
    DomusVmPage *self = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *vnc = g_find_program_in_path("domus-vnc");
    if (!vnc && g_getenv("DOMUS_VNC"))
        vnc = g_strdup(g_getenv("DOMUS_VNC"));
    if (!path || !vnc) {
        g_set_error_literal(&err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            !path ? "the VM is not running with a display" : "domus-vnc is not installed");
        toast_error(self, "VNC", err);
        gtk_switch_set_active(self->vnc_switch, FALSE);
        return;
    }
    const char *addr = gtk_editable_get_text(GTK_EDITABLE(self->vnc_address));
    const char *pw = gtk_editable_get_text(GTK_EDITABLE(self->vnc_password));
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup(vnc));
    g_ptr_array_add(argv, g_strdup("--channel"));
    g_ptr_array_add(argv, g_strdup(path));
    g_ptr_array_add(argv, g_strdup("--listen"));
    g_ptr_array_add(argv, g_strdup(addr));
    if (pw && *pw) {
        g_autofree char *dir = g_path_get_dirname(path);
        char *file = g_build_filename(dir, "vnc-password", NULL);
        g_file_set_contents_full(file, pw, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
        g_ptr_array_add(argv, g_strdup("--password-file"));
        g_ptr_array_add(argv, file);
    }
    g_ptr_array_add(argv, NULL);
    self->vnc = g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_NONE, &err);
    g_ptr_array_unref(argv);
    if (!self->vnc) {
        toast_error(self, "VNC", err);
        gtk_switch_set_active(self->vnc_switch, FALSE);
    }
}

static void on_vnc_switch(GObject *o, GParamSpec *ps, gpointer data)
{
    DomusVmPage *self = data;
    if (gtk_switch_get_active(self->vnc_switch) && !self->vnc && self->vm)
        domus_vm_get_display_socket(self->vm, self->cancel, vnc_socket, self);
    else if (!gtk_switch_get_active(self->vnc_switch))
        stop_vnc(self);
}

/* ---- stats and settings ---- */

void domus_vm_page_push_stats(DomusVmPage *self, GVariant *st)
{
    double cpu = 0, rd = 0, wr = 0, rx = 0, tx = 0;
    guint64 rss = 0;
    g_variant_lookup(st, "cpu-percent", "d", &cpu);
    g_variant_lookup(st, "rss", "t", &rss);
    g_variant_lookup(st, "disk-read", "d", &rd);
    g_variant_lookup(st, "disk-write", "d", &wr);
    gboolean has_net = g_variant_lookup(st, "net-rx", "d", &rx);
    g_variant_lookup(st, "net-tx", "d", &tx);
    g_autofree char *l1 = g_strdup_printf("%.0f%%", cpu);
    g_autofree char *l2 = g_format_size(rss);
    g_autofree char *l3 = g_strdup_printf("%.0f KiB/s read, %.0f KiB/s written", rd / 1024, wr / 1024);
    g_autofree char *l4 = has_net ? g_strdup_printf("%.0f KiB/s in, %.0f KiB/s out", rx / 1024, tx / 1024)
                                  : g_strdup("no network device");
    domus_sparkline_push(self->cpu_graph, cpu, l1);
    domus_sparkline_push(self->mem_graph, (double)rss, l2);
    domus_sparkline_push(self->disk_graph, rd + wr, l3);
    domus_sparkline_push(self->net_graph, rx + tx, l4);
}

/* What the Network and Sound rows' entries mean to domusd, in order. */
static const char *const net_values[] = { "none", "user", "user,model=e1000" };
static const char *const sound_values[] = { "none", "hda", "virtio" };

static int combo_index(const char *const *values, unsigned n, const char *v)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(values[i], v))
            return (int)i;
    return -1;
}

static void on_settings_info(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GVariant) info = NULL;
    g_autoptr(GError) err = NULL;
    if (!domus_vm_call_get_info_finish(DOMUS_VM(src), &info, res, &err)) {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            toast_error(data, "Settings", err);
        return;
    }
    DomusVmPage *self = data;
    g_autofree const char **disks = NULL;
    const char *devices = "";
    g_variant_lookup(info, "disks", "^a&s", &disks);
    g_variant_lookup(info, "devices", "&s", &devices);
    g_autofree char *d = disks ? g_strjoinv(", ", (char **)disks) : g_strdup("none");
    adw_action_row_set_subtitle(self->disks_row, d);
    adw_action_row_set_subtitle(self->devices_row, devices);
    guint64 mem = 0, disk = 0;
    guint32 cpus = 0;
    const char *net = "none", *sound = "none";
    g_variant_lookup(info, "memory", "t", &mem);
    g_variant_lookup(info, "cpus", "u", &cpus);
    g_variant_lookup(info, "disk-size", "t", &disk);
    g_variant_lookup(info, "net", "&s", &net);
    g_variant_lookup(info, "sound", "&s", &sound);
    gtk_spin_button_set_value(self->memory_spin, (double)(mem >> 20));
    gtk_spin_button_set_value(self->cpus_spin, cpus);
    self->disk_mib = disk >> 20;
    /* Disks only grow: the spin starts at the current size. */
    gtk_adjustment_set_lower(gtk_spin_button_get_adjustment(self->disk_spin), self->disk_mib ? (double)self->disk_mib : 1);
    gtk_spin_button_set_value(self->disk_spin, (double)self->disk_mib);
    gtk_widget_set_visible(GTK_WIDGET(self->disk_spin), disk != 0);
    self->net_loaded = combo_index(net_values, G_N_ELEMENTS(net_values), net);
    self->sound_loaded = combo_index(sound_values, G_N_ELEMENTS(sound_values), sound);
    adw_combo_row_set_selected(self->net_row, self->net_loaded < 0 ? GTK_INVALID_LIST_POSITION : (guint)self->net_loaded);
    adw_combo_row_set_selected(self->sound_row, self->sound_loaded < 0 ? GTK_INVALID_LIST_POSITION : (guint)self->sound_loaded);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->net_row), self->net_loaded < 0 ? net : "");
}

static void refresh_settings(DomusVmPage *self)
{
    if (self->vm)
        domus_vm_call_get_info(self->vm, self->cancel, on_settings_info, self);
}

static void on_settings_applied(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusVmPage *self = data;
    g_autoptr(GError) err = NULL;
    if (!domus_vm_call_set_config_finish(DOMUS_VM(src), res, &err)) {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            toast_error(self, "Settings", err);
    }
    else if (DOMUS_IS_WINDOW(gtk_widget_get_root(GTK_WIDGET(self)))) {
        g_autofree char *msg = g_strdup_printf("Settings of “%s” saved", domus_vm_get_name(DOMUS_VM(src)));
        domus_window_toast(DOMUS_WINDOW(gtk_widget_get_root(GTK_WIDGET(self))), msg);
    }
    refresh_settings(self);
    g_object_unref(self);
}

/* One SetConfig with what the page shows; net and sound only when the
 * user picked another entry (a value the combo lacks stays as it is). */
static void act_apply_settings(GSimpleAction *a, GVariant *p, gpointer d)
{
    DomusVmPage *self = d;
    if (!self->vm)
        return;
    gtk_spin_button_update(self->memory_spin);
    gtk_spin_button_update(self->cpus_spin);
    gtk_spin_button_update(self->disk_spin);
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{sv}", "memory",
                          g_variant_new_uint64((guint64)gtk_spin_button_get_value_as_int(self->memory_spin) << 20));
    g_variant_builder_add(&b, "{sv}", "cpus", g_variant_new_uint32((guint32)gtk_spin_button_get_value_as_int(self->cpus_spin)));
    guint64 disk = (guint64)gtk_spin_button_get_value(self->disk_spin);
    if (self->disk_mib && disk != self->disk_mib)
        g_variant_builder_add(&b, "{sv}", "disk-size", g_variant_new_uint64(disk << 20));
    guint net = adw_combo_row_get_selected(self->net_row), sound = adw_combo_row_get_selected(self->sound_row);
    if (net < G_N_ELEMENTS(net_values) && (int)net != self->net_loaded)
        g_variant_builder_add(&b, "{sv}", "net", g_variant_new_string(net_values[net]));
    if (sound < G_N_ELEMENTS(sound_values) && (int)sound != self->sound_loaded)
        g_variant_builder_add(&b, "{sv}", "sound", g_variant_new_string(sound_values[sound]));
    domus_vm_call_set_config(self->vm, g_variant_builder_end(&b), self->cancel, on_settings_applied, g_object_ref(self));
}

static void on_vm_changed(GObject *o, GParamSpec *ps, gpointer data)
{
    sync_actions(data);
}

void domus_vm_page_set_vm(DomusVmPage *self, DomusVM *vm)
{
    if (self->vm == vm)
        return;
    if (self->cancel)
        g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    self->cancel = g_cancellable_new();
    stop_vnc(self);
    gtk_switch_set_active(self->vnc_switch, FALSE);
    domus_display_disconnect(self->display);
    if (self->vm)
        g_signal_handlers_disconnect_by_data(self->vm, self);
    g_set_object(&self->vm, vm);
    if (!vm)
        return;
    g_signal_connect(vm, "notify::state", G_CALLBACK(on_vm_changed), self);
    gtk_spin_button_set_value(self->memory_spin, (double)(domus_vm_get_memory(vm) >> 20));
    gtk_spin_button_set_value(self->cpus_spin, domus_vm_get_cpus(vm));
    refresh_settings(self);
    self->snapshots_supported = TRUE;
    sync_actions(self);
    refresh_snapshots(self);
}

DomusVM *domus_vm_page_get_vm(DomusVmPage *self) { return self->vm; }
GActionGroup *domus_vm_page_get_actions(DomusVmPage *self) { return G_ACTION_GROUP(self->actions); }
DomusDisplay *domus_vm_page_get_display(DomusVmPage *self) { return self->display; }
DomusConsoleView *domus_vm_page_get_console(DomusVmPage *self) { return self->console; }
void domus_vm_page_show(DomusVmPage *self, const char *view) { adw_view_stack_set_visible_child_name(self->views, view); }

static void on_display_closed(DomusDisplay *d, gpointer data)
{
    sync_actions(data);
}

static void on_display_frame(DomusDisplay *d, gpointer data)
{
    DomusVmPage *self = data;
    if (gtk_widget_get_visible(GTK_WIDGET(self->display_status)) && domus_display_get_mode(d, NULL, NULL))
        gtk_widget_set_visible(GTK_WIDGET(self->display_status), FALSE);
}

static void domus_vm_page_dispose(GObject *o)
{
    DomusVmPage *self = DOMUS_VM_PAGE(o);
    domus_vm_page_set_vm(self, NULL);
    if (self->cancel)
        g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    g_clear_object(&self->actions);
    gtk_widget_dispose_template(GTK_WIDGET(o), DOMUS_TYPE_VM_PAGE);
    G_OBJECT_CLASS(domus_vm_page_parent_class)->dispose(o);
}

static void domus_vm_page_class_init(DomusVmPageClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = domus_vm_page_dispose;
    g_type_ensure(DOMUS_TYPE_DISPLAY);
    g_type_ensure(DOMUS_TYPE_SPARKLINE);
    g_type_ensure(DOMUS_TYPE_CONSOLE_VIEW);
    gtk_widget_class_set_template_from_resource(wc, "/org/domus/Manager/domus-vm-page.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, DomusVmPage, x)
    BIND(display); BIND(display_status); BIND(console); BIND(state_label); BIND(views); BIND(snapshots);
    BIND(cpu_graph); BIND(mem_graph); BIND(disk_graph); BIND(net_graph); BIND(memory_spin); BIND(cpus_spin);
    BIND(disk_spin); BIND(net_row); BIND(sound_row);
    BIND(disks_row); BIND(devices_row); BIND(vnc_switch); BIND(vnc_address); BIND(vnc_password);
#undef BIND
}

static void domus_vm_page_init(DomusVmPage *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    static const GActionEntry entries[] = {
        { .name = "start", .activate = act_start }, { .name = "stop", .activate = act_stop },
        { .name = "force-off", .activate = act_force }, { .name = "pause", .activate = act_pause },
        { .name = "resume", .activate = act_resume }, { .name = "reset", .activate = act_reset },
        { .name = "open-window", .activate = act_open_window }, { .name = "clone", .activate = act_clone },
        { .name = "delete", .activate = act_delete }, { .name = "snapshot", .activate = act_snapshot },
        { .name = "snapshot-revert", .activate = act_snapshot_revert, .parameter_type = NULL },
        { .name = "snapshot-delete", .activate = act_snapshot_delete },
        { .name = "apply-settings", .activate = act_apply_settings },
    };
    self->actions = g_simple_action_group_new();
    g_action_map_add_action_entries(G_ACTION_MAP(self->actions), entries, G_N_ELEMENTS(entries), self);
    gtk_widget_insert_action_group(GTK_WIDGET(self), "vm", G_ACTION_GROUP(self->actions));
    domus_sparkline_set_max(self->cpu_graph, 100);
    g_signal_connect(self->display, "closed", G_CALLBACK(on_display_closed), self);
    g_signal_connect(self->display, "frame", G_CALLBACK(on_display_frame), self);
    g_signal_connect(self->vnc_switch, "notify::active", G_CALLBACK(on_vnc_switch), self);
    sync_actions(self);
}
