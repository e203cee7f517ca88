#include "domus-window.h"
#include "domus-new-vm-dialog.h"
#include "domus-vm-card.h"

struct _DomusWindow {
    AdwApplicationWindow parent;
    DomusApp *app;
    AdwToastOverlay *toasts;
    AdwWindowTitle *title;
    GtkWidget *back_button;
    GtkStack *stack;
    AdwStatusPage *empty_page;
    GtkFlowBox *grid;
    DomusVmPage *vm_page;
    char *last_toast;
    guint n_toasts;
    guint stats_timer;
    gboolean stats_pending;
};

G_DEFINE_FINAL_TYPE(DomusWindow, domus_window, ADW_TYPE_APPLICATION_WINDOW)

void domus_window_toast(DomusWindow *self, const char *message)
{
    g_free(self->last_toast);
    self->last_toast = g_strdup(message);
    self->n_toasts++;
    AdwToast *t = adw_toast_new(message);
    adw_toast_set_timeout(t, 8);
    adw_toast_overlay_add_toast(self->toasts, t);
}

const char *domus_window_get_last_toast(DomusWindow *self) { return self->last_toast; }
guint domus_window_get_n_toasts(DomusWindow *self) { return self->n_toasts; }
DomusVmPage *domus_window_get_vm_page(DomusWindow *self) { return self->vm_page; }
const char *domus_window_get_view(DomusWindow *self) { return gtk_stack_get_visible_child_name(self->stack); }

static void show_list(DomusWindow *self)
{
    gboolean any = gtk_flow_box_get_child_at_index(self->grid, 0) != NULL;
    gtk_stack_set_visible_child_name(self->stack, any ? "grid" : "empty");
    gtk_widget_set_visible(self->back_button, FALSE);
    adw_window_title_set_subtitle(self->title, "");
    domus_vm_page_set_vm(self->vm_page, NULL);
}

GtkWidget *domus_window_get_card(DomusWindow *self, const char *name)
{
    for (int i = 0;; i++) {
        GtkFlowBoxChild *c = gtk_flow_box_get_child_at_index(self->grid, i);
        if (!c)
            return NULL;
        DomusVmCard *card = DOMUS_VM_CARD(gtk_flow_box_child_get_child(c));
        if (!g_strcmp0(domus_vm_get_name(domus_vm_card_get_vm(card)), name))
            return GTK_WIDGET(card);
    }
}

guint domus_window_get_n_cards(DomusWindow *self)
{
    guint n = 0;
    while (gtk_flow_box_get_child_at_index(self->grid, (int)n))
        n++;
    return n;
}

static int compare_cards(GtkFlowBoxChild *a, GtkFlowBoxChild *b, gpointer data)
{
    DomusVM *va = domus_vm_card_get_vm(DOMUS_VM_CARD(gtk_flow_box_child_get_child(a)));
    DomusVM *vb = domus_vm_card_get_vm(DOMUS_VM_CARD(gtk_flow_box_child_get_child(b)));
    return g_strcmp0(domus_vm_get_name(va), domus_vm_get_name(vb));
}

/* A VM that goes down on its own is said, whichever VM the window shows:
 * domusd's last error starts with why (the rest is the end of its log,
 * which the page's state label shows as its tooltip). */
static void on_vm_state(DomusVM *vm, GParamSpec *pspec, gpointer data)
{
    if (g_strcmp0(domus_vm_get_state(vm), "crashed"))
        return;
    const char *err = domus_vm_get_last_error(vm);
    g_autofree char *why = g_strndup(err ? err : "", err ? strcspn(err, ";\n") : 0);
    g_autofree char *msg = g_strdup_printf("%s crashed%s%s", domus_vm_get_name(vm), *why ? ": " : "", why);
    domus_window_toast(data, msg);
}

static void add_object(DomusWindow *self, GDBusObject *obj)
{
    DomusVM *vm = domus_object_peek_vm(DOMUS_OBJECT(obj));
    if (vm && !domus_window_get_card(self, domus_vm_get_name(vm))) {
        gtk_flow_box_append(self->grid, domus_vm_card_new(vm));
        g_signal_connect_object(vm, "notify::state", G_CALLBACK(on_vm_state), self, 0);
    }
}

static void on_object_added(GDBusObjectManager *om, GDBusObject *obj, gpointer data)
{
    DomusWindow *self = data;
    add_object(self, obj);
    if (!g_strcmp0(domus_window_get_view(self), "empty"))
        show_list(self);
}

static void on_object_removed(GDBusObjectManager *om, GDBusObject *obj, gpointer data)
{
    DomusWindow *self = data;
    DomusVM *vm = domus_object_peek_vm(DOMUS_OBJECT(obj));
    if (!vm)
        return;
    GtkWidget *card = domus_window_get_card(self, domus_vm_get_name(vm));
    if (card)
        gtk_flow_box_remove(self->grid, gtk_widget_get_parent(card));
    if (domus_vm_page_get_vm(self->vm_page) == vm || g_strcmp0(domus_window_get_view(self), "vm"))
        show_list(self);
}

gboolean domus_window_show_vm(DomusWindow *self, const char *name)
{
    DomusVM *vm = domus_app_lookup_vm(self->app, name);
    if (!vm)
        return FALSE;
    domus_vm_page_set_vm(self->vm_page, vm);
    adw_window_title_set_subtitle(self->title, name);
    gtk_widget_set_visible(self->back_button, TRUE);
    gtk_stack_set_visible_child_name(self->stack, "vm");
    domus_vm_page_show(self->vm_page, "display");
    return TRUE;
}

static void on_card_activated(GtkFlowBox *box, GtkFlowBoxChild *child, gpointer data)
{
    DomusVmCard *card = DOMUS_VM_CARD(gtk_flow_box_child_get_child(child));
    domus_window_show_vm(data, domus_vm_get_name(domus_vm_card_get_vm(card)));
}

/* ---- stats: one GetStats a second while something runs ---- */

static void on_stats(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusWindow *self = data;
    g_autoptr(GVariant) stats = NULL;
    self->stats_pending = FALSE;
    if (!domus_manager_call_get_stats_finish(DOMUS_MANAGER(src), &stats, res, NULL)) {
        g_object_unref(self);
        return;
    }
    DomusVM *shown = domus_vm_page_get_vm(self->vm_page);
    for (gsize i = 0; i < g_variant_n_children(stats); i++) {
        g_autoptr(GVariant) st = g_variant_get_child_value(stats, i);
        const char *name = NULL;
        if (!g_variant_lookup(st, "name", "&s", &name))
            continue;
        GtkWidget *card = domus_window_get_card(self, name);
        if (card)
            domus_vm_card_push_stats(DOMUS_VM_CARD(card), st);
        if (shown && !g_strcmp0(domus_vm_get_name(shown), name))
            domus_vm_page_push_stats(self->vm_page, st);
    }
    g_object_unref(self);
}

static gboolean on_stats_timer(gpointer data)
{
    DomusWindow *self = data;
    DomusManager *m = domus_app_get_manager(self->app);
    if (m && !self->stats_pending && gtk_widget_get_mapped(GTK_WIDGET(self))) {
        self->stats_pending = TRUE;
        domus_manager_call_get_stats(m, NULL, on_stats, g_object_ref(self));
    }
    return G_SOURCE_CONTINUE;
}

/* ---- actions ---- */

static void act_new_vm(GtkWidget *w, const char *name, GVariant *p)
{
    if (!domus_app_get_manager(DOMUS_WINDOW(w)->app)) {
        domus_window_toast(DOMUS_WINDOW(w), domus_app_get_connect_error(DOMUS_WINDOW(w)->app));
        return;
    }
    gtk_window_present(GTK_WINDOW(domus_new_vm_dialog_new(GTK_WINDOW(w))));
}

static void on_demo_created(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusWindow *self = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    gtk_widget_set_sensitive(GTK_WIDGET(self->empty_page), TRUE);
    if (!domus_manager_call_create_finish(DOMUS_MANAGER(src), &path, res, &err)) {
        g_dbus_error_strip_remote_error(err);
        g_autofree char *msg = g_strdup_printf("Create the demo VM: %s", err->message);
        domus_window_toast(self, msg);
    } else {
        domus_window_show_vm(self, "demo");
    }
    g_object_unref(self);
}

/* One click: the demo guest exists (created if needed) and its page opens. */
static void act_new_demo(GtkWidget *w, const char *name, GVariant *p)
{
    DomusWindow *self = DOMUS_WINDOW(w);
    DomusManager *m = domus_app_get_manager(self->app);
    if (!m) {
        domus_window_toast(self, domus_app_get_connect_error(self->app));
        return;
    }
    if (domus_window_show_vm(self, "demo"))
        return;
    gtk_widget_set_sensitive(GTK_WIDGET(self->empty_page), FALSE);
    adw_status_page_set_description(self->empty_page, "Preparing the demo guest…");
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(m), 10 * 60 * 1000);
    domus_manager_call_create(m, "demo", "demo-linux", g_variant_builder_end(&b), NULL, on_demo_created,
                              g_object_ref(self));
}

static void act_back(GtkWidget *w, const char *name, GVariant *p)
{
    show_list(DOMUS_WINDOW(w));
}

static void on_deleted(GObject *src, GAsyncResult *res, gpointer data)
{
    DomusWindow *self = data;
    g_autoptr(GError) err = NULL;
    if (!domus_manager_call_delete_finish(DOMUS_MANAGER(src), res, &err)) {
        g_dbus_error_strip_remote_error(err);
        g_autofree char *msg = g_strdup_printf("Delete: %s", err->message);
        domus_window_toast(self, msg);
    }
    g_object_unref(self);
}

static void on_delete_response(AdwMessageDialog *dlg, const char *response, gpointer data)
{
    DomusWindow *self = data;
    DomusManager *m = domus_app_get_manager(self->app);
    if (!g_strcmp0(response, "delete") && m)
        domus_manager_call_delete(m, g_object_get_data(G_OBJECT(dlg), "vm"), NULL, on_deleted, g_object_ref(self));
}

void domus_window_delete_vm(DomusWindow *self, const char *name)
{
    GtkWidget *dlg = adw_message_dialog_new(GTK_WINDOW(self), "Delete Virtual Machine?", NULL);
    adw_message_dialog_format_body(ADW_MESSAGE_DIALOG(dlg), "“%s” and its disks are removed for good.", name);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dlg), "cancel", "_Cancel", "delete", "_Delete", NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dlg), "delete", ADW_RESPONSE_DESTRUCTIVE);
    g_object_set_data_full(G_OBJECT(dlg), "vm", g_strdup(name), g_free);
    g_signal_connect(dlg, "response", G_CALLBACK(on_delete_response), self);
    gtk_window_present(GTK_WINDOW(dlg));
}

static void domus_window_dispose(GObject *o)
{
    DomusWindow *self = DOMUS_WINDOW(o);
    g_clear_handle_id(&self->stats_timer, g_source_remove);
    if (self->app && domus_app_get_objects(self->app))
        g_signal_handlers_disconnect_by_data(domus_app_get_objects(self->app), self);
    gtk_widget_dispose_template(GTK_WIDGET(o), DOMUS_TYPE_WINDOW);
    G_OBJECT_CLASS(domus_window_parent_class)->dispose(o);
}

static void domus_window_finalize(GObject *o)
{
    g_free(DOMUS_WINDOW(o)->last_toast);
    G_OBJECT_CLASS(domus_window_parent_class)->finalize(o);
}

static void domus_window_class_init(DomusWindowClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = domus_window_dispose;
    G_OBJECT_CLASS(klass)->finalize = domus_window_finalize;
    g_type_ensure(DOMUS_TYPE_VM_PAGE);
    gtk_widget_class_set_template_from_resource(wc, "/org/domus/Manager/domus-window.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, DomusWindow, x)
    BIND(toasts); BIND(title); BIND(back_button); BIND(stack); BIND(empty_page); BIND(grid); BIND(vm_page);
#undef BIND
    gtk_widget_class_install_action(wc, "win.new-vm", NULL, act_new_vm);
    gtk_widget_class_install_action(wc, "win.new-demo", NULL, act_new_demo);
    gtk_widget_class_install_action(wc, "win.back", NULL, act_back);
}

static void domus_window_init(DomusWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    gtk_flow_box_set_sort_func(self->grid, compare_cards, NULL, NULL);
    g_signal_connect(self->grid, "child-activated", G_CALLBACK(on_card_activated), self);
}

DomusWindow *domus_window_new(DomusApp *app)
{
    DomusWindow *self = g_object_new(DOMUS_TYPE_WINDOW, "application", app, NULL);
    self->app = app;
    GDBusObjectManager *om = domus_app_get_objects(app);
    if (!om) {
        adw_status_page_set_title(self->empty_page, "Domus Is Not Running");
        adw_status_page_set_description(self->empty_page, domus_app_get_connect_error(app));
        domus_window_toast(self, domus_app_get_connect_error(app));
    } else {
        g_autolist(GDBusObject) objs = g_dbus_object_manager_get_objects(om);
        for (GList *l = objs; l; l = l->next)
            add_object(self, l->data);
        g_signal_connect(om, "object-added", G_CALLBACK(on_object_added), self);
        g_signal_connect(om, "object-removed", G_CALLBACK(on_object_removed), self);
    }
    show_list(self);
    self->stats_timer = g_timeout_add_seconds(1, on_stats_timer, self);
    return self;
}
