#include "cgroup.h"
#include "library.h"
#include "systemd_scope.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static char *parent;                 /* where VM cgroups go, or NULL */
static char *why_none;
static GDBusConnection *systemd_bus; /* a systemd user manager is on it */

static const char *cgroup2_mount(void)
{
    static const char *const candidates[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
    for (unsigned i = 0; i < G_N_ELEMENTS(candidates); i++) {
        g_autofree char *p = g_build_filename(candidates[i], "cgroup.controllers", NULL);
        if (g_file_test(p, G_FILE_TEST_EXISTS))
            return candidates[i];
    }
    return NULL;
}

char *cgroup_of_pid(int pid)
{
    const char *mnt = cgroup2_mount();
    g_autofree char *file = g_strdup_printf("/proc/%d/cgroup", pid);
    g_autofree char *data = NULL;
    if (!mnt || !g_file_get_contents(file, &data, NULL, NULL))
        return NULL;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n"))
        if (g_str_has_prefix(line, "0::"))
            return g_build_filename(mnt, line + 3, NULL);
    return NULL;
}

static bool write_file(const char *dir, const char *file, const char *value)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);
    return g_file_set_contents_full(p, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL);
}

/* Are we the only process in @dir? (No-internal-process rule: controllers
 * can be delegated to children only from a cgroup without processes.) */
static bool alone_in(const char *dir)
{
    g_autofree char *p = g_build_filename(dir, "cgroup.procs", NULL);
    g_autofree char *procs = NULL;
    if (!g_file_get_contents(p, &procs, NULL, NULL))
        return false;
    g_auto(GStrv) pids = g_strsplit(g_strstrip(procs), "\n", -1);
    return g_strv_length(pids) == 1 && atoi(pids[0]) == getpid();
}

/* Enables cpu and memory for children of @dir. */
static bool delegate_controllers(const char *dir)
{
    g_autofree char *p = g_build_filename(dir, "cgroup.controllers", NULL);
    g_autofree char *have = NULL;
    if (!g_file_get_contents(p, &have, NULL, NULL))
        return false;
    bool ok = true;
    if (strstr(have, "cpu"))
        ok &= write_file(dir, "cgroup.subtree_control", "+cpu");
    if (strstr(have, "memory"))
        ok &= write_file(dir, "cgroup.subtree_control", "+memory");
    return ok;
}

static void delegated_init(void)
{
    const char *mnt = cgroup2_mount();
    const char *env = g_getenv("DOMUS_CGROUP");
    if (!mnt) {
        why_none = g_strdup("no cgroup v2 hierarchy is mounted");
        return;
    }
    if (env && *env) {
        g_autofree char *dir = g_str_has_prefix(env, mnt) ? g_strdup(env) : g_build_filename(mnt, env, NULL);
        if (access(dir, W_OK) < 0 || !delegate_controllers(dir))
            why_none = g_strdup_printf("DOMUS_CGROUP=%s is not a writable cgroup with cpu and memory", env);
        else
            parent = g_steal_pointer(&dir);
        return;
    }
    g_autofree char *own = cgroup_of_pid(getpid());
    if (!own || access(own, W_OK) < 0) {
        why_none = g_strdup_printf("domusd's cgroup %s is not delegated to this user", own ? own : "?");
        return;
    }
    if (!alone_in(own)) {
        why_none = g_strdup_printf("domusd shares its cgroup %s with other processes (set DOMUS_CGROUP to a delegated cgroup)", own);
        return;
    }
    /* Move ourselves into a leaf so @own may delegate controllers to VMs. */
    g_autofree char *leaf = g_build_filename(own, "domusd", NULL);
    g_mkdir(leaf, 0755);
    if (!write_file(leaf, "cgroup.procs", "0") || !delegate_controllers(own)) {
        why_none = g_strdup_printf("cannot delegate cpu and memory controllers in %s", own);
        return;
    }
    parent = g_steal_pointer(&own);
}

void cgroup_init(GDBusConnection *bus)
{
    /* The delegated cgroup is also where VMs go when systemd refuses a scope. */
    delegated_init();
    if (bus && systemd_scope_available(bus))
        systemd_bus = g_object_ref(bus);
}

const char *cgroup_describe(void)
{
    static char *desc;
    if (!desc)
        desc = systemd_bus ? g_strdup("systemd")
             : parent ? g_strdup_printf("cgroup:%s", parent) : g_strdup_printf("none: %s", why_none);
    return desc;
}

static char *delegated_prepare(const struct vm_record *rec, char **warning)
{
    if (!parent) {
        *warning = g_strdup_printf("VM '%s' runs without CPU and memory limits: %s", rec->name, why_none);
        return NULL;
    }
    g_autofree char *leaf = g_strdup_printf("vm-%s", rec->name);
    g_autofree char *dir = g_build_filename(parent, leaf, NULL);
    if (g_mkdir(dir, 0755) < 0 && errno != EEXIST) {
        *warning = g_strdup_printf("cannot create cgroup %s: %s", dir, g_strerror(errno));
        return NULL;
    }
    g_autofree char *weight = g_strdup_printf("%u", rec->cpu_weight);
    g_autofree char *max = rec->cpu_quota ? g_strdup_printf("%u 100000", rec->cpu_quota * 1000) : g_strdup("max 100000");
    g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, vm_record_memory_limit(rec));
    if (!write_file(dir, "cpu.weight", weight) || !write_file(dir, "cpu.max", max) ||
        !write_file(dir, "memory.max", mem))
        *warning = g_strdup_printf("cgroup %s: cannot set all limits", dir);
    return g_build_filename(dir, "cgroup.procs", NULL);
}

char *cgroup_prepare_vm(const struct vm_record *rec, char **warning)
{
    return systemd_bus ? NULL : delegated_prepare(rec, warning);   /* a scope needs the pid */
}

/* "cgroup PATH", or "none: REASON", for a VMM placed by delegated_prepare(). */
static char *delegated_describe(const char *procs, const char *warning)
{
    if (procs) {
        g_autofree char *dir = g_path_get_dirname(procs);
        return g_strdup_printf("cgroup %s", dir);
    }
    return g_strdup_printf("none: %s", warning ? warning : why_none);
}

struct placement {
    const struct vm_record *rec;
    int pid;
    cgroup_placed_fn done;
    void *data;
};

static void on_scope(const char *unit, const char *error, void *data)
{
    struct placement *pl = data;
    g_autofree char *desc = NULL;
    if (unit) {
        desc = g_strdup_printf("systemd scope %s", unit);
    } else {
        /* Refused: the VMM goes where it would without systemd. */
        g_autofree char *warning = NULL;
        g_autofree char *procs = delegated_prepare(pl->rec, &warning);
        g_autofree char *pid = g_strdup_printf("%d", pl->pid);
        if (procs && !g_file_set_contents_full(procs, pid, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL))
            g_clear_pointer(&procs, g_free);
        g_autofree char *fallback = delegated_describe(procs, warning);
        desc = g_strdup_printf("%s (%s)", fallback, error);
        g_printerr("domusd: VM '%s' runs in %s\n", pl->rec->name, desc);
    }
    pl->done(pl->pid, desc, pl->data);
    g_free(pl);
}

void cgroup_place_vm(const struct vm_record *rec, int pid, const char *procs, const char *warning,
                     cgroup_placed_fn done, void *data)
{
    if (!systemd_bus) {              /* the child joined @procs before exec */
        g_autofree char *desc = delegated_describe(procs, warning);
        done(pid, desc, data);
        return;
    }
    struct placement *pl = g_new0(struct placement, 1);
    *pl = (struct placement){ rec, pid, done, data };
    struct systemd_scope_limits lim = { rec->cpu_weight, rec->cpu_quota, vm_record_memory_limit(rec) };
    systemd_scope_start(systemd_bus, rec->name, pid, &lim, on_scope, pl);
}

void cgroup_release_vm(const char *name)
{
    if (!parent)
        return;
    g_autofree char *leaf = g_strdup_printf("vm-%s", name);
    g_autofree char *dir = g_build_filename(parent, leaf, NULL);
    g_rmdir(dir);
}
