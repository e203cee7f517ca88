#include "domus-clone-dialog.h"
#include "domus-app.h"
#include "domus-window.h"

struct _DomusCloneDialog {
    AdwWindow parent;
    DomusVM *source;
    AdwEntryRow *name_row;
    GtkCheckButton *linked_check;
    GtkProgressBar *progress;
    GtkWidget *clone_button;
    guint pulse;
};

G_DEFINE_FINAL_TYPE(DomusCloneDialog, domus_clone_dialog, ADW_TYPE_WINDOW)

static gboolean on_pulse(gpointer data)
{
    gtk_progress_bar_pulse(DOMUS_CLONE_DIALOG(data)->progress);
    return G_SOURCE_CONTINUE;
}

static void on_cloned(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusCloneDialog *self = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    g_clear_handle_id(&self->pulse, g_source_remove);
    GtkWindow *parent = gtk_window_get_transient_for(GTK_WINDOW(self));
    if (!domus_manager_call_clone_finish(DOMUS_MANAGER(src), &path, res, &err)) {
        g_dbus_error_strip_remote_error(err);
        g_autofree char *msg = g_strdup_printf("Clone: %s", err->message);
        if (DOMUS_IS_WINDOW(parent))
            domus_window_toast(DOMUS_WINDOW(parent), msg);
        gtk_widget_set_visible(GTK_WIDGET(self->progress), FALSE);
        gtk_widget_set_sensitive(self->clone_button, TRUE);
    } else {
        gtk_window_destroy(GTK_WINDOW(self));
    }
    g_object_unref(self);
}

static void act_clone(GtkWidget *w, const char *name, GVariant *p)
{
    DomusCloneDialog *self = DOMUS_CLONE_DIALOG(w);
    DomusApp *app = DOMUS_APP(g_application_get_default());
    DomusManager *m = app ? domus_app_get_manager(app) : NULL;
    const char *target = gtk_editable_get_text(GTK_EDITABLE(self->name_row));
    if (!m || !*target)
        return;
    gboolean linked = gtk_check_button_get_active(self->linked_check);
    gtk_widget_set_sensitive(self->clone_button, FALSE);
    gtk_widget_set_visible(GTK_WIDGET(self->progress), TRUE);
    gtk_progress_bar_set_text(self->progress, linked ? "Linking disks…" : "Copying disks…");
    self->pulse = g_timeout_add(100, on_pulse, self);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(m), 30 * 60 * 1000);
    domus_manager_call_clone(m, domus_vm_get_name(self->source), target, linked, NULL, on_cloned,
                             g_object_ref(self));
}

void domus_clone_dialog_set(DomusCloneDialog *self, const char *name, gboolean linked)
{
    gtk_editable_set_text(GTK_EDITABLE(self->name_row), name);
    gtk_check_button_set_active(self->linked_check, linked);
}

static void domus_clone_dialog_dispose(GObject *o)
{
    DomusCloneDialog *self = DOMUS_CLONE_DIALOG(o);
    g_clear_handle_id(&self->pulse, g_source_remove);
    g_clear_object(&self->source);
    gtk_widget_dispose_template(GTK_WIDGET(o), DOMUS_TYPE_CLONE_DIALOG);
    G_OBJECT_CLASS(domus_clone_dialog_parent_class)->dispose(o);
}

static void domus_clone_dialog_class_init(DomusCloneDialogClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = domus_clone_dialog_dispose;
    gtk_widget_class_set_template_from_resource(wc, "/org/domus/Manager/domus-clone-dialog.ui");
    gtk_widget_class_bind_template_child(wc, DomusCloneDialog, name_row);
    gtk_widget_class_bind_template_child(wc, DomusCloneDialog, linked_check);
    gtk_widget_class_bind_template_child(wc, DomusCloneDialog, progress);
    gtk_widget_class_bind_template_child(wc, DomusCloneDialog, clone_button);
    gtk_widget_class_install_action(wc, "dialog.clone", NULL, act_clone);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void domus_clone_dialog_init(DomusCloneDialog *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *domus_clone_dialog_new(GtkWindow *parent, DomusVM *source)
{
    DomusCloneDialog *self = g_object_new(DOMUS_TYPE_CLONE_DIALOG, "transient-for", parent, NULL);
    self->source = g_object_ref(source);
    g_autofree char *name = g_strdup_printf("%s-clone", domus_vm_get_name(source));
    gtk_editable_set_text(GTK_EDITABLE(self->name_row), name);
    return GTK_WIDGET(self);
}
