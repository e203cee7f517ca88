/* domusd: the Domus toolstack on the D-Bus session bus (org.domus.Toolstack1).
 * Started by D-Bus activation; VMs it started keep running when it exits
 * and are found again by the next domusd through their control sockets. */
#include "cgroup.h"
#include "errors.h"
#include "manager.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>

#define BUS_NAME "org.domus.Toolstack1"

static GMainLoop *loop;
static struct manager *manager;
static int status;

static void on_bus(GDBusConnection *bus, const char *name, gpointer data)
{
    GError *err = NULL;
    cgroup_init(bus);
    manager = manager_new(bus, &err);
    if (!manager) {
        g_printerr("domusd: %s\n", err->message);
        status = 1;
        g_main_loop_quit(loop);
    }
}

static void on_name_lost(GDBusConnection *bus, const char *name, gpointer data)
{
    if (manager) {
        g_main_loop_quit(loop);      /* the bus went away */
        return;
    }
    if (!bus)
        g_printerr("domusd: cannot connect to the D-Bus session bus\n");
    else
        g_printerr("domusd: another domusd owns %s\n", BUS_NAME);
    status = 1;
    g_main_loop_quit(loop);
}

static gboolean on_signal(gpointer data)
{
    g_main_loop_quit(loop);          /* running VMs stay up for the next domusd */
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc > 1) {
        g_printerr("usage: domusd (started by D-Bus activation; takes no arguments)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    domus_error_quark();
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGINT, on_signal, NULL);
    guint owner = g_bus_own_name(G_BUS_TYPE_SESSION, BUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                 on_bus, NULL, on_name_lost, NULL, NULL);
    g_main_loop_run(loop);
    g_bus_unown_name(owner);
    if (manager)
        manager_free(manager);
    return status;
}
