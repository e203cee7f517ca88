#include "domus-vm-card.h"
#include "domus-display.h"
#include "domus-sparkline.h"

struct _DomusVmCard {
    GtkBox parent;
    DomusVM *vm;
    GCancellable *cancel;
    DomusDisplay *thumbnail;
    GtkImage *os_icon;
    GtkLabel *name_label, *state_label;
    DomusSparkline *cpu_graph;
};

G_DEFINE_FINAL_TYPE(DomusVmCard, domus_vm_card, GTK_TYPE_BOX)

const char *domus_os_icon_name(const char *os_family)
{
    if (!g_strcmp0(os_family, "windows"))
        return "computer-symbolic";
    if (!g_strcmp0(os_family, "bsd"))
        return "application-x-executable-symbolic";
    return "utilities-terminal-symbolic";
}

struct socket_lookup {
    void (*cb)(const char *, gpointer);
    gpointer data;
};

static void on_info(GObject *src, GAsyncResult *res, gpointer data)
{
    struct socket_lookup *l = data;
    g_autoptr(GVariant) info = NULL;
    g_autoptr(GError) err = NULL;
    if (!domus_vm_call_get_info_finish(DOMUS_VM(src), &info, res, &err) &&
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_free(l);
        return;
    }
    const char *path = NULL;
    if (info)
        g_variant_lookup(info, "display-socket", "&s", &path);
    l->cb(path, l->data);
    g_free(l);
}

void domus_vm_get_display_socket(DomusVM *vm, GCancellable *cancel,
                                 void (*cb)(const char *, gpointer), gpointer data)
{
    struct socket_lookup *l = g_new(struct socket_lookup, 1);
    *l = (struct socket_lookup){ cb, data };
    domus_vm_call_get_info(vm, cancel, on_info, l);
}

static void on_socket(const char *path, gpointer data)
{
    DomusVmCard *self = data;
    if (path && !domus_display_is_connected(self->thumbnail))
        domus_display_connect(self->thumbnail, path, NULL);   /* a thumbnail is best effort */
}

static void update(DomusVmCard *self)
{
    const char *state = domus_vm_get_state(self->vm);
    gtk_label_set_label(self->name_label, domus_vm_get_name(self->vm));
    gtk_label_set_label(self->state_label, state);
    gboolean active = !g_strcmp0(state, "running") || !g_strcmp0(state, "paused");
    if (active && !domus_display_is_connected(self->thumbnail))
        domus_vm_get_display_socket(self->vm, self->cancel, on_socket, self);
    else if (!active)
        domus_display_disconnect(self->thumbnail);
}

static void on_frame(DomusDisplay *d, gpointer data)
{
    DomusVmCard *self = data;
    gtk_widget_set_visible(GTK_WIDGET(self->os_icon), !domus_display_get_mode(d, NULL, NULL));
}

static void on_state(GObject *o, GParamSpec *ps, gpointer data)
{
    update(DOMUS_VM_CARD(data));
}

void domus_vm_card_push_stats(DomusVmCard *self, GVariant *stats)
{
    double cpu = 0;
    g_variant_lookup(stats, "cpu-percent", "d", &cpu);
    g_autofree char *label = g_strdup_printf("CPU %.0f%%", cpu);
    domus_sparkline_push(self->cpu_graph, cpu, label);
}

DomusVM *domus_vm_card_get_vm(DomusVmCard *self) { return self->vm; }

static void domus_vm_card_dispose(GObject *o)
{
    DomusVmCard *self = DOMUS_VM_CARD(o);
    if (self->cancel)
        g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    if (self->vm)
        g_signal_handlers_disconnect_by_data(self->vm, self);
    g_clear_object(&self->vm);
    gtk_widget_dispose_template(GTK_WIDGET(o), DOMUS_TYPE_VM_CARD);
    G_OBJECT_CLASS(domus_vm_card_parent_class)->dispose(o);
}

static void domus_vm_card_class_init(DomusVmCardClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = domus_vm_card_dispose;
    g_type_ensure(DOMUS_TYPE_DISPLAY);
    g_type_ensure(DOMUS_TYPE_SPARKLINE);
    gtk_widget_class_set_template_from_resource(wc, "/org/domus/Manager/domus-vm-card.ui");
    gtk_widget_class_bind_template_child(wc, DomusVmCard, thumbnail);
    gtk_widget_class_bind_template_child(wc, DomusVmCard, os_icon);
    gtk_widget_class_bind_template_child(wc, DomusVmCard, name_label);
    gtk_widget_class_bind_template_child(wc, DomusVmCard, state_label);
    gtk_widget_class_bind_template_child(wc, DomusVmCard, cpu_graph);
}

static void domus_vm_card_init(DomusVmCard *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->cancel = g_cancellable_new();
    domus_sparkline_set_max(self->cpu_graph, 100);
    g_signal_connect(self->thumbnail, "frame", G_CALLBACK(on_frame), self);
}

GtkWidget *domus_vm_card_new(DomusVM *vm)
{
    DomusVmCard *self = g_object_new(DOMUS_TYPE_VM_CARD, NULL);
    self->vm = g_object_ref(vm);
    g_autoptr(GError) err = NULL;
    const char *tmpl = domus_vm_get_template(vm);
    /* The OS family comes from the template; the VM properties carry its id. */
    const char *family = tmpl && (strstr(tmpl, "bsd")) ? "bsd" : tmpl && strstr(tmpl, "windows") ? "windows" : "linux";
    gtk_image_set_from_icon_name(self->os_icon, domus_os_icon_name(family));
    g_signal_connect(vm, "notify::state", G_CALLBACK(on_state), self);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, domus_vm_get_name(vm), -1);
    update(self);
    return GTK_WIDGET(self);
}
