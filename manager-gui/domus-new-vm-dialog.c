#include "domus-new-vm-dialog.h"
#include "domus-app.h"
#include "domus-window.h"
#include "iso_label.h"

#include <unistd.h>

struct _DomusNewVmDialog {
    AdwWindow parent;
    GVariant *templates;             /* aa{sv} from ListTemplates */
    char *iso;
    AdwComboRow *template_row;
    AdwActionRow *iso_row, *firmware_row;
    AdwEntryRow *name_row;
    GtkAdjustment *memory_adj, *cpus_adj, *disk_adj;
    GtkLabel *problem_label;
    GtkProgressBar *progress;
    GtkWidget *create_button;
    guint pulse;
};

G_DEFINE_FINAL_TYPE(DomusNewVmDialog, domus_new_vm_dialog, ADW_TYPE_WINDOW)

static GVariant *template_at(DomusNewVmDialog *self, guint i)
{
    if (!self->templates || i >= g_variant_n_children(self->templates))
        return NULL;
    return g_variant_get_child_value(self->templates, i);
}

const char *domus_new_vm_dialog_get_template(DomusNewVmDialog *self)
{
    g_autoptr(GVariant) t = template_at(self, adw_combo_row_get_selected(self->template_row));
    const char *id = NULL;
    if (t && g_variant_lookup(t, "id", "&s", &id))
        return g_intern_string(id);
    return NULL;
}

/* The template's defaults, bounded by what this host has. */
static void on_template_selected(GObject *o, GParamSpec *ps, gpointer data)
{
    DomusNewVmDialog *self = data;
    g_autoptr(GVariant) t = template_at(self, adw_combo_row_get_selected(self->template_row));
    if (!t)
        return;
    guint64 mem = 0, disk = 0;
    guint32 cpus = 1;
    gboolean startable = TRUE;
    const char *firmware = "", *needs = NULL, *id = "vm";
    g_variant_lookup(t, "memory", "t", &mem);
    g_variant_lookup(t, "disk-size", "t", &disk);
    g_variant_lookup(t, "cpus", "u", &cpus);
    g_variant_lookup(t, "firmware", "&s", &firmware);
    g_variant_lookup(t, "startable", "b", &startable);
    g_variant_lookup(t, "needs", "&s", &needs);
    g_variant_lookup(t, "id", "&s", &id);
    gtk_adjustment_set_value(self->memory_adj, MIN((double)(mem >> 20), gtk_adjustment_get_upper(self->memory_adj)));
    gtk_adjustment_set_value(self->cpus_adj, MIN(cpus, gtk_adjustment_get_upper(self->cpus_adj)));
    gtk_adjustment_set_value(self->disk_adj, (double)(disk >> 20));
    adw_action_row_set_subtitle(self->firmware_row,
        !g_strcmp0(firmware, "direct") ? "Direct kernel boot" : !g_strcmp0(firmware, "uefi") ? "UEFI"
        : !g_strcmp0(firmware, "uefi-secure") ? "UEFI with Secure Boot" : "BIOS");
    g_autofree char *problem = startable ? NULL
        : g_strdup_printf("This VM can be created but not started yet: it needs %s.", needs ? needs : "firmware boot");
    gtk_label_set_label(self->problem_label, problem ? problem : "");
    gtk_widget_set_visible(GTK_WIDGET(self->problem_label), problem != NULL);
    const char *cur = gtk_editable_get_text(GTK_EDITABLE(self->name_row));
    if (!*cur || g_object_get_data(G_OBJECT(self), "auto-name")) {
        DomusApp *app = DOMUS_APP(g_application_get_default());
        g_autofree char *base = g_strdup(!g_strcmp0(id, "demo-linux") ? "demo" : id);
        g_autofree char *name = g_strdup(base);
        for (int n = 2; app && domus_app_lookup_vm(app, name); n++) {
            g_free(name);
            name = g_strdup_printf("%s-%d", base, n);
        }
        gtk_editable_set_text(GTK_EDITABLE(self->name_row), name);
        g_object_set_data(G_OBJECT(self), "auto-name", GINT_TO_POINTER(1));
    }
}

gboolean domus_new_vm_dialog_select_template(DomusNewVmDialog *self, const char *id)
{
    for (guint i = 0; self->templates && i < g_variant_n_children(self->templates); i++) {
        g_autoptr(GVariant) t = template_at(self, i);
        const char *tid = NULL;
        if (g_variant_lookup(t, "id", "&s", &tid) && !g_strcmp0(tid, id)) {
            adw_combo_row_set_selected(self->template_row, i);
            on_template_selected(NULL, NULL, self);
            return TRUE;
        }
    }
    return FALSE;
}

void domus_new_vm_dialog_set_iso(DomusNewVmDialog *self, const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *label = iso_volume_label(path, &err);
    g_free(self->iso);
    self->iso = g_strdup(path);
    g_autofree char *base = g_path_get_basename(path);
    const char *guess = iso_guess_template(label);
    g_autofree char *sub = label ? g_strdup_printf("%s (“%s”%s)", base, label, guess ? "" : ", OS not recognised")
                                 : g_strdup_printf("%s (%s)", base, err->message);
    adw_action_row_set_subtitle(self->iso_row, sub);
    if (guess)
        domus_new_vm_dialog_select_template(self, guess);
}

void domus_new_vm_dialog_set_name(DomusNewVmDialog *self, const char *name)
{
    gtk_editable_set_text(GTK_EDITABLE(self->name_row), name);
    g_object_set_data(G_OBJECT(self), "auto-name", NULL);
}

static void on_iso_chosen(GtkNativeDialog *chooser, int response, gpointer data)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
        g_autofree char *path = g_file_get_path(f);
        if (path)
            domus_new_vm_dialog_set_iso(data, path);
    }
    g_object_unref(chooser);
}

static void act_choose_iso(GtkWidget *w, const char *name, GVariant *p)
{
    GtkFileChooserNative *c = gtk_file_chooser_native_new("Choose an Installer ISO", GTK_WINDOW(w),
                                                          GTK_FILE_CHOOSER_ACTION_OPEN, "_Open", "_Cancel");
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, "Disc images");
    gtk_file_filter_add_pattern(f, "*.iso");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(c), f);
    g_object_unref(f);
    g_signal_connect(c, "response", G_CALLBACK(on_iso_chosen), w);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(c));
}

static gboolean on_pulse(gpointer data)
{
    gtk_progress_bar_pulse(DOMUS_NEW_VM_DIALOG(data)->progress);
    return G_SOURCE_CONTINUE;
}

static void on_created(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusNewVmDialog *self = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    g_clear_handle_id(&self->pulse, g_source_remove);
    if (!domus_manager_call_create_finish(DOMUS_MANAGER(src), &path, res, &err)) {
        g_dbus_error_strip_remote_error(err);
        gtk_label_set_label(self->problem_label, err->message);
        gtk_widget_set_visible(GTK_WIDGET(self->problem_label), TRUE);
        gtk_widget_set_visible(GTK_WIDGET(self->progress), FALSE);
        gtk_widget_set_sensitive(self->create_button, TRUE);
        GtkWindow *parent = gtk_window_get_transient_for(GTK_WINDOW(self));
        g_autofree char *msg = g_strdup_printf("Create: %s", err->message);
        if (DOMUS_IS_WINDOW(parent))
            domus_window_toast(DOMUS_WINDOW(parent), msg);
    } else {
        GtkWindow *parent = gtk_window_get_transient_for(GTK_WINDOW(self));
        if (DOMUS_IS_WINDOW(parent))
            domus_window_show_vm(DOMUS_WINDOW(parent), gtk_editable_get_text(GTK_EDITABLE(self->name_row)));
        gtk_window_destroy(GTK_WINDOW(self));
    }
    g_object_unref(self);
}

static void act_create(GtkWidget *w, const char *name, GVariant *p)
{
    DomusNewVmDialog *self = DOMUS_NEW_VM_DIALOG(w);
    DomusManager *m = domus_app_get_manager(DOMUS_APP(g_application_get_default()));
    const char *vm_name = gtk_editable_get_text(GTK_EDITABLE(self->name_row));
    const char *tmpl = domus_new_vm_dialog_get_template(self);
    if (!m || !tmpl)
        return;
    if (!*vm_name || strchr(vm_name, '/') || strlen(vm_name) > 64) {
        gtk_label_set_label(self->problem_label, "Give the VM a name (up to 64 characters, no “/”).");
        gtk_widget_set_visible(GTK_WIDGET(self->problem_label), TRUE);
        return;
    }
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{sv}", "memory", g_variant_new_uint64((guint64)gtk_adjustment_get_value(self->memory_adj) << 20));
    g_variant_builder_add(&b, "{sv}", "cpus", g_variant_new_uint32((guint32)gtk_adjustment_get_value(self->cpus_adj)));
    g_variant_builder_add(&b, "{sv}", "disk-size", g_variant_new_uint64((guint64)gtk_adjustment_get_value(self->disk_adj) << 20));
    if (self->iso)
        g_variant_builder_add(&b, "{sv}", "iso", g_variant_new_string(self->iso));
    gtk_widget_set_sensitive(self->create_button, FALSE);
    gtk_widget_set_visible(GTK_WIDGET(self->progress), TRUE);
    self->pulse = g_timeout_add(100, on_pulse, self);
    /* Creating the demo guest builds its initramfs on first use. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(m), 10 * 60 * 1000);
    domus_manager_call_create(m, vm_name, tmpl, g_variant_builder_end(&b), NULL, on_created, g_object_ref(self));
}

static void on_templates(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusNewVmDialog *self = data;
    g_autoptr(GError) err = NULL;
    if (!domus_manager_call_list_templates_finish(DOMUS_MANAGER(src), &self->templates, res, &err)) {
        g_dbus_error_strip_remote_error(err);
        gtk_label_set_label(self->problem_label, err->message);
        gtk_widget_set_visible(GTK_WIDGET(self->problem_label), TRUE);
        g_object_unref(self);
        return;
    }
    GtkStringList *names = gtk_string_list_new(NULL);
    guint demo = 0;
    for (guint i = 0; i < g_variant_n_children(self->templates); i++) {
        g_autoptr(GVariant) t = template_at(self, i);
        const char *n = "?", *id = "";
        g_variant_lookup(t, "name", "&s", &n);
        g_variant_lookup(t, "id", "&s", &id);
        gtk_string_list_append(names, n);
        if (!g_strcmp0(id, "demo-linux"))
            demo = i;
    }
    adw_combo_row_set_model(self->template_row, G_LIST_MODEL(names));
    g_object_unref(names);
    adw_combo_row_set_selected(self->template_row, demo);
    on_template_selected(NULL, NULL, self);
    g_signal_emit_by_name(self, "templates-loaded");
    g_object_unref(self);
}

static void domus_new_vm_dialog_dispose(GObject *o)
{
    DomusNewVmDialog *self = DOMUS_NEW_VM_DIALOG(o);
    g_clear_handle_id(&self->pulse, g_source_remove);
    g_clear_pointer(&self->templates, g_variant_unref);
    g_clear_pointer(&self->iso, g_free);
    gtk_widget_dispose_template(GTK_WIDGET(o), DOMUS_TYPE_NEW_VM_DIALOG);
    G_OBJECT_CLASS(domus_new_vm_dialog_parent_class)->dispose(o);
}

static void domus_new_vm_dialog_class_init(DomusNewVmDialogClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = domus_new_vm_dialog_dispose;
    gtk_widget_class_set_template_from_resource(wc, "/org/domus/Manager/domus-new-vm-dialog.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, DomusNewVmDialog, x)
    BIND(template_row); BIND(iso_row); BIND(firmware_row); BIND(name_row); BIND(memory_adj); BIND(cpus_adj);
    BIND(disk_adj); BIND(problem_label); BIND(progress); BIND(create_button);
#undef BIND
    gtk_widget_class_install_action(wc, "dialog.create", NULL, act_create);
    gtk_widget_class_install_action(wc, "dialog.choose-iso", NULL, act_choose_iso);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Escape, 0, "window.close", NULL);
    g_signal_new("templates-loaded", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void domus_new_vm_dialog_init(DomusNewVmDialog *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    /* Host limits: all but 1 GiB of RAM, every CPU. */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double host_mib = pages > 0 && psize > 0 ? (double)pages * psize / (1 << 20) : 4096;
    gtk_adjustment_set_upper(self->memory_adj, MAX(256, host_mib - 1024));
    gtk_adjustment_set_upper(self->cpus_adj, g_get_num_processors());
    gtk_widget_set_visible(GTK_WIDGET(self->problem_label), FALSE);
    g_signal_connect(self->template_row, "notify::selected", G_CALLBACK(on_template_selected), self);
}

GtkWidget *domus_new_vm_dialog_new(GtkWindow *parent)
{
    DomusNewVmDialog *self = g_object_new(DOMUS_TYPE_NEW_VM_DIALOG, "transient-for", parent, NULL);
    DomusManager *m = domus_app_get_manager(DOMUS_APP(g_application_get_default()));
    if (m)
        domus_manager_call_list_templates(m, NULL, on_templates, g_object_ref(self));
    return GTK_WIDGET(self);
}
