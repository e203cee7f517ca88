#include "domus-app.h"
#include "domus-window.h"
#include "domus-manager-resources.h"

struct _DomusApp {
    AdwApplication parent;
    DomusManager *manager;
    GDBusObjectManager *objects;
    char *connect_error;
};

G_DEFINE_FINAL_TYPE(DomusApp, domus_app, ADW_TYPE_APPLICATION)

static void connect_domusd(DomusApp *self)
{
    g_autoptr(GError) err = NULL;
    /* The manager proxy loads its properties, which D-Bus-activates domusd;
     * the object manager client only watches an owner that already exists. */
    self->manager = domus_manager_proxy_new_for_bus_sync(G_BUS_TYPE_SESSION, G_DBUS_PROXY_FLAGS_NONE,
        "org.domus.Toolstack1", "/org/domus/Toolstack1", NULL, &err);
    if (self->manager && !g_dbus_proxy_get_name_owner(G_DBUS_PROXY(self->manager))) {
        g_autoptr(GVariant) v = g_dbus_proxy_call_sync(G_DBUS_PROXY(self->manager), "org.freedesktop.DBus.Peer.Ping",
                                                       NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &err);
        if (!v)
            g_clear_object(&self->manager);
    }
    if (self->manager)
        self->objects = domus_object_manager_client_new_for_bus_sync(G_BUS_TYPE_SESSION,
            G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, "org.domus.Toolstack1", "/org/domus/Toolstack1", NULL, &err);
    if (!self->objects) {
        g_clear_object(&self->manager);
        if (err)
            g_dbus_error_strip_remote_error(err);
        self->connect_error = g_strdup_printf("Cannot reach the Domus service (domusd): %s",
                                              err ? err->message : "unknown error");
    }
}

static void on_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    g_application_quit(G_APPLICATION(data));
}

static void on_about(GSimpleAction *a, GVariant *p, gpointer data)
{
    GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(data));
    const char *developers[] = { "The Domus developers", NULL };
    g_autofree char *version = NULL;
    if (DOMUS_APP(data)->manager)
        version = g_strdup(domus_manager_get_version(DOMUS_APP(data)->manager));
    adw_show_about_window(win, "application-name", "Domus", "application-icon", "org.domus.Manager",
                          "version", version ? version : "", "developers", developers,
                          "comments", "Virtual machines on KVM, each in its own process",
                          "license-type", GTK_LICENSE_GPL_2_0, NULL);
}

static void domus_app_startup(GApplication *app)
{
    G_APPLICATION_CLASS(domus_app_parent_class)->startup(app);
    static const GActionEntry entries[] = {
        { .name = "quit", .activate = on_quit },
        { .name = "about", .activate = on_about },
    };
    g_action_map_add_action_entries(G_ACTION_MAP(app), entries, G_N_ELEMENTS(entries), app);
    static const struct { const char *action; const char *accels[3]; } accels[] = {
        { "app.quit", { "<Control>q", NULL } },
        { "win.new-vm", { "<Control>n", NULL } },
        { "win.back", { "<Alt>Left", "Escape", NULL } },
        { "vm.start", { "<Control>Return", NULL } },
        { "vm.stop", { "<Control><Shift>Return", NULL } },
        { "vm.pause", { "<Control>p", NULL } },
        { "vm.snapshot", { "<Control>t", NULL } },
        { "vm.clone", { "<Control>d", NULL } },
        { "window.close", { "<Control>w", NULL } },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(accels); i++)
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), accels[i].action, accels[i].accels);
    g_autoptr(GtkCssProvider) css = gtk_css_provider_new();
    gtk_css_provider_load_from_resource(css, "/org/domus/Manager/style.css");
    gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                               GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    connect_domusd(DOMUS_APP(app));
}

static void domus_app_activate(GApplication *app)
{
    GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
    if (!win)
        win = GTK_WINDOW(domus_window_new(DOMUS_APP(app)));
    gtk_window_present(win);
}

static void domus_app_finalize(GObject *o)
{
    DomusApp *self = DOMUS_APP(o);
    g_clear_object(&self->objects);
    g_clear_object(&self->manager);
    g_free(self->connect_error);
    G_OBJECT_CLASS(domus_app_parent_class)->finalize(o);
}

static void domus_app_class_init(DomusAppClass *klass)
{
    /* Referencing the bundle keeps its object (and its registering
     * constructor) in binaries that link the static library. */
    g_assert(domus_manager_get_resource());
    G_APPLICATION_CLASS(klass)->startup = domus_app_startup;
    G_APPLICATION_CLASS(klass)->activate = domus_app_activate;
    G_OBJECT_CLASS(klass)->finalize = domus_app_finalize;
}

static void domus_app_init(DomusApp *self) {}

DomusApp *domus_app_new(void)
{
    return g_object_new(DOMUS_TYPE_APP, "application-id", "org.domus.Manager",
                        "flags", G_APPLICATION_NON_UNIQUE, "resource-base-path", "/org/domus/Manager", NULL);
}

DomusManager *domus_app_get_manager(DomusApp *app) { return app->manager; }
GDBusObjectManager *domus_app_get_objects(DomusApp *app) { return app->objects; }
const char *domus_app_get_connect_error(DomusApp *app) { return app->connect_error; }

DomusVM *domus_app_lookup_vm(DomusApp *app, const char *name)
{
    if (!app->objects)
        return NULL;
    g_autolist(GDBusObject) objs = g_dbus_object_manager_get_objects(app->objects);
    for (GList *l = objs; l; l = l->next) {
        DomusVM *vm = domus_object_peek_vm(DOMUS_OBJECT(l->data));
        if (vm && !g_strcmp0(domus_vm_get_name(vm), name))
            return vm;
    }
    return NULL;
}
