#include "systemd_scope.h"

#include <string.h>

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define CALL_TIMEOUT_MS 10000
/* A scope's job only moves a process: if it has not finished by then,
 * the manager is stuck and the VM is better off in the fallback cgroup. */
#define JOB_TIMEOUT_S 10

bool systemd_scope_available(GDBusConnection *bus)
{
    g_autoptr(GVariant) r = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
        "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", SYSTEMD_NAME), G_VARIANT_TYPE("(b)"),
        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
    gboolean has = FALSE;
    if (r)
        g_variant_get(r, "(b)", &has);
    return has;
}

char *systemd_scope_unit_name(const char *vm_name, int pid)
{
    /* VM names are [A-Za-z0-9._-] today, all fine in a unit name; anything
     * else is escaped as systemd-escape would. */
    GString *s = g_string_new("domus-vm-");
    for (const char *c = vm_name; *c; c++) {
        if (g_ascii_isalnum(*c) || strchr(":_.-", *c))
            g_string_append_c(s, *c);
        else
            g_string_append_printf(s, "\\x%02x", (unsigned char)*c);
    }
    g_string_append_printf(s, "-%d.scope", pid);
    return g_string_free(s, FALSE);
}

struct scope_job {
    GDBusConnection *bus;
    char *unit;
    guint subscription, timeout;
    systemd_scope_done_fn done;
    void *data;
    bool finished;
    int refs;                        /* the pending call holds one */
};

static void job_unref(struct scope_job *j)
{
    if (--j->refs)
        return;
    g_object_unref(j->bus);
    g_free(j->unit);
    g_free(j);
}

/* Once per job, whichever of reply, signal or timeout comes first. */
static void job_finish(struct scope_job *j, const char *error)
{
    if (j->finished)
        return;
    j->finished = true;
    g_dbus_connection_signal_unsubscribe(j->bus, j->subscription);
    if (j->timeout)
        g_source_remove(j->timeout);
    j->timeout = 0;
    j->done(error ? NULL : j->unit, error, j->data);
    job_unref(j);
}

/* JobRemoved (id, job, unit, result) goes to the client that queued the
 * job, so no Subscribe() is needed; our unit's name is unique to this pid. */
static void on_job_removed(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                           const char *signal, GVariant *params, gpointer data)
{
    struct scope_job *j = data;
    const char *unit, *result;
    if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(uoss)")))
        return;
    g_variant_get(params, "(u&o&s&s)", NULL, NULL, &unit, &result);
    if (strcmp(unit, j->unit))
        return;
    if (!strcmp(result, "done")) {
        job_finish(j, NULL);
        return;
    }
    g_autofree char *why = g_strdup_printf("systemd's job for %s ended '%s'", j->unit, result);
    job_finish(j, why);
}

static gboolean on_job_timeout(gpointer data)
{
    struct scope_job *j = data;
    j->timeout = 0;
    g_autofree char *why = g_strdup_printf("systemd did not start %s within %d s", j->unit, JOB_TIMEOUT_S);
    job_finish(j, why);
    return G_SOURCE_REMOVE;
}

static void on_started(GObject *src, GAsyncResult *res, gpointer data)
{
    struct scope_job *j = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    if (!r) {
        if (g_dbus_error_is_remote_error(err))
            g_dbus_error_strip_remote_error(err);
        g_autofree char *why = g_strdup_printf("systemd refused %s: %s", j->unit, err->message);
        job_finish(j, why);
    }
    /* Otherwise the job is queued: JobRemoved says how it ended. */
    job_unref(j);
}

void systemd_scope_start(GDBusConnection *bus, const char *vm_name, int pid,
                         const struct systemd_scope_limits *limits, systemd_scope_done_fn done, void *data)
{
    struct scope_job *j = g_new0(struct scope_job, 1);
    j->bus = g_object_ref(bus);
    j->unit = systemd_scope_unit_name(vm_name, pid);
    j->done = done;
    j->data = data;
    j->refs = 2;
    /* Subscribed before the call: the job may end before its reply is read. */
    j->subscription = g_dbus_connection_signal_subscribe(bus, SYSTEMD_NAME, SYSTEMD_MANAGER, "JobRemoved",
        SYSTEMD_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_job_removed, j, NULL);
    j->timeout = g_timeout_add_seconds(JOB_TIMEOUT_S, on_job_timeout, j);

    GVariantBuilder p;
    g_variant_builder_init(&p, G_VARIANT_TYPE("a(sv)"));
    guint32 pids[] = { (guint32)pid };
    g_autofree char *desc = g_strdup_printf("Domus VM %s", vm_name);
    g_variant_builder_add(&p, "(sv)", "Description", g_variant_new_string(desc));
    g_variant_builder_add(&p, "(sv)", "PIDs",
                          g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, pids, 1, sizeof(pids[0])));
    g_variant_builder_add(&p, "(sv)", "CPUWeight", g_variant_new_uint64(limits->cpu_weight));
    if (limits->cpu_quota)          /* percent of one CPU as CPU time per second */
        g_variant_builder_add(&p, "(sv)", "CPUQuotaPerSecUSec",
                              g_variant_new_uint64((guint64)limits->cpu_quota * 10000));
    g_variant_builder_add(&p, "(sv)", "MemoryMax", g_variant_new_uint64(limits->memory_max));
    g_variant_builder_add(&p, "(sv)", "Delegate", g_variant_new_boolean(FALSE));
    /* A VMM killed by a signal leaves a failed scope; it should not linger. */
    g_variant_builder_add(&p, "(sv)", "CollectMode", g_variant_new_string("inactive-or-failed"));
    g_dbus_connection_call(bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit",
        g_variant_new("(ssa(sv)a(sa(sv)))", j->unit, "fail", &p, NULL), G_VARIANT_TYPE("(o)"),
        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, on_started, j);
}
