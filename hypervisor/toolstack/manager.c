#include "manager.h"
#include "cgroup.h"
#include "clone.h"
#include "errors.h"
#include "paths.h"
#include "template.h"
#include "vm_instance.h"
#include "core/config.h"
#include "config-paths.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define MAX_DISK_SIZE VM_MAX_DISK_SIZE
#define DEMO_MODULES "virtio_pci virtio_blk virtio_console virtio_rng button evdev virtio_gpu virtio_input"

struct manager {
    GDBusConnection *bus;
    DomusManager *iface;
    GDBusObjectManagerServer *objects;
    GHashTable *vms;                 /* name -> struct vm_instance * */
    GHashTable *creating;            /* names being created or cloned */
    guint tick;
};

static void add_vm(struct manager *m, struct vm_instance *vm)
{
    g_hash_table_insert(m->vms, g_strdup(vm->rec->name), vm);
    g_dbus_object_manager_server_export(m->objects, G_DBUS_OBJECT_SKELETON(vm->object));
}

static struct vm_instance *find_vm(struct manager *m, const char *name, GDBusMethodInvocation *inv)
{
    struct vm_instance *vm = g_hash_table_lookup(m->vms, name);
    if (!vm && inv)
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_NOT_FOUND,
                                              "no VM named '%s' (domus list shows them)", name);
    return vm;
}

static bool name_free(struct manager *m, const char *name, GDBusMethodInvocation *inv)
{
    GError *err = NULL;
    if (!vm_name_valid(name, &err)) {
        g_dbus_method_invocation_take_error(inv, err);
        return false;
    }
    if (g_hash_table_contains(m->vms, name) || g_hash_table_contains(m->creating, name)) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_EXISTS,
                                              "a VM named '%s' already exists", name);
        return false;
    }
    return true;
}

/* ---- templates ---- */

static GPtrArray *load_templates(void)
{
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *all = vm_template_load_all(paths_template_dirs(), warnings);
    for (guint i = 0; i < warnings->len; i++)
        g_printerr("domusd: skipping %s\n", (char *)warnings->pdata[i]);
    return all;
}

static gboolean handle_list_templates(DomusManager *iface, GDBusMethodInvocation *inv, gpointer data)
{
    g_autoptr(GPtrArray) all = load_templates();
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
    for (guint i = 0; i < all->len; i++) {
        const struct vm_template *t = all->pdata[i];
        g_variant_builder_open(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "id", g_variant_new_string(t->id));
        g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(t->name));
        g_variant_builder_add(&b, "{sv}", "os-family", g_variant_new_string(t->os_family));
        g_variant_builder_add(&b, "{sv}", "firmware", g_variant_new_string(t->firmware));
        g_variant_builder_add(&b, "{sv}", "memory", g_variant_new_uint64(t->memory));
        g_variant_builder_add(&b, "{sv}", "cpus", g_variant_new_uint32(t->cpus));
        g_variant_builder_add(&b, "{sv}", "disk-size", g_variant_new_uint64(t->disk_size));
        g_variant_builder_add(&b, "{sv}", "devices", g_variant_new_string(t->devices));
        g_variant_builder_add(&b, "{sv}", "clock", g_variant_new_string(t->clock));
        g_variant_builder_add(&b, "{sv}", "install-media", g_variant_new_string(t->install_media));
        g_variant_builder_add(&b, "{sv}", "startable", g_variant_new_boolean(vm_firmware_startable(t->firmware)));
        if (t->needs)
            g_variant_builder_add(&b, "{sv}", "needs", g_variant_new_string(t->needs));
        g_variant_builder_close(&b);
    }
    domus_manager_complete_list_templates(iface, inv, g_variant_builder_end(&b));
    return TRUE;
}

/* ---- create ---- */

struct create_job {
    struct manager *m;
    GDBusMethodInvocation *inv;
    struct vm_record *rec;
    uint64_t disk_size;
    char *clone_from;                /* source dir for a clone */
    struct vm_record *link_src;      /* a linked clone: the source's record (a copy) */
    struct vm_instance *src;         /* held busy while cloning */
};

static void create_job_free(struct create_job *j)
{
    vm_record_free(j->rec);
    vm_record_free(j->link_src);
    g_free(j->clone_from);
    g_free(j);
}

static char *run_mkguest(const char *const *args, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (char *)paths_mkguest());
    for (; *args; args++)
        g_ptr_array_add(argv, (char *)*args);
    g_ptr_array_add(argv, NULL);
    g_autofree char *err_text = NULL;
    char *out = NULL;
    int status;
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err_text, &status, error))
        return NULL;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot build the demo guest: %s",
                    err_text && *err_text ? g_strstrip(err_text) : "mkguest failed");
        g_free(out);
        return NULL;
    }
    return g_strstrip(out);
}

/* Earlier builds of the demo initramfs (another kernel, busybox or recipe)
 * go once a new one is made: the cache holds the current one only. */
static void drop_stale_demo_initrds(const char *cache, const char *keep)
{
    g_autoptr(GDir) d = g_dir_open(cache, 0, NULL);
    const char *f;
    while (d && (f = g_dir_read_name(d)))
        if (g_str_has_prefix(f, "demo-linux-") && g_str_has_suffix(f, ".cpio.gz") && strcmp(f, keep)) {
            g_autofree char *stale = g_build_filename(cache, f, NULL);
            g_unlink(stale);
        }
}

/* The demo guest's busybox initramfs is built once, then copied into each
 * VM. Its name holds mkguest's key over all it is made of (kernel, modules,
 * busybox, the recipe), so a change to any of them builds it anew. */
static bool demo_initrd(const char *dest, GError **error)
{
    static GMutex lock;
    g_autofree char *key = run_mkguest((const char *[]){ "--print-key", "--modules", DEMO_MODULES, NULL }, error);
    if (!key)
        return false;
    g_autofree char *cache = library_cache_dir();
    g_autofree char *file = g_strdup_printf("demo-linux-%s.cpio.gz", key);
    g_autofree char *path = g_build_filename(cache, file, NULL);
    g_mutex_lock(&lock);
    bool ok = g_file_test(path, G_FILE_TEST_EXISTS);
    if (!ok) {
        g_autofree char *out = run_mkguest((const char *[]){ "--output", path, "--modules", DEMO_MODULES, NULL }, error);
        ok = out != NULL;
        if (ok)
            drop_stale_demo_initrds(cache, file);
    }
    g_mutex_unlock(&lock);
    return ok && copy_sparse(path, dest, error);
}

static bool populate_new(struct vm_record *r, const char *dir, void *opaque, GError **error)
{
    struct create_job *j = opaque;
    if (j->disk_size) {
        g_autofree char *disk = g_build_filename(dir, "disk0.qcow2", NULL);
        if (!create_qcow2_disk(disk, j->disk_size, NULL, error))
            return false;
        g_strfreev(r->disks);
        r->disks = g_strsplit("disk0.qcow2", ",", -1);
    }
    if (!g_strcmp0(r->kernel, "host")) {
        g_free(r->kernel);
        if (!(r->kernel = run_mkguest((const char *[]){ "--kernel", NULL }, error)))
            return false;
    }
    if (!g_strcmp0(r->initrd, "demo")) {
        g_autofree char *dest = g_build_filename(dir, "initrd.cpio.gz", NULL);
        if (!demo_initrd(dest, error))
            return false;
        g_free(r->initrd);
        r->initrd = g_strdup("initrd.cpio.gz");
    }
    return true;
}

static bool populate_linked(struct vm_record *r, const char *dir, void *opaque, GError **error)
{
    struct create_job *j = opaque;
    if (!clone_link_disks(j->link_src, r, dir, error))
        return false;
    if (r->initrd && !g_path_is_absolute(r->initrd)) {
        g_autofree char *src = g_build_filename(j->clone_from, r->initrd, NULL);
        g_autofree char *dst = g_build_filename(dir, r->initrd, NULL);
        return copy_sparse(src, dst, error);
    }
    return true;
}

/* A full clone: every file the VM owns (disks, initrd, NVRAM), not its snapshots or logs. */
static bool populate_clone(struct vm_record *r, const char *dir, void *opaque, GError **error)
{
    struct create_job *j = opaque;
    for (char **d = r->disks; *d; d++) {
        g_autofree char *src = g_build_filename(j->clone_from, *d, NULL);
        g_autofree char *dst = g_build_filename(dir, *d, NULL);
        if (!copy_sparse(src, dst, error))
            return false;
    }
    if (r->initrd && !g_path_is_absolute(r->initrd)) {
        g_autofree char *src = g_build_filename(j->clone_from, r->initrd, NULL);
        g_autofree char *dst = g_build_filename(dir, r->initrd, NULL);
        if (!copy_sparse(src, dst, error))
            return false;
    }
    g_autofree char *nvram = g_build_filename(j->clone_from, "nvram", NULL);
    g_autoptr(GDir) nd = g_dir_open(nvram, 0, NULL);
    const char *f;
    while (nd && (f = g_dir_read_name(nd))) {
        g_autofree char *src = g_build_filename(nvram, f, NULL);
        g_autofree char *dst = g_build_filename(dir, "nvram", f, NULL);
        if (!copy_sparse(src, dst, error))
            return false;
    }
    return true;
}

static void create_thread(GTask *task, gpointer src, gpointer data, GCancellable *c)
{
    struct create_job *j = data;
    GError *err = NULL;
    vm_populate_fn fn = j->link_src ? populate_linked : j->clone_from ? populate_clone : populate_new;
    if (library_create(j->rec, fn, j, &err))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, err);
}

static void create_done(GObject *src, GAsyncResult *res, gpointer data)
{
    struct create_job *j = g_task_get_task_data(G_TASK(res));
    struct manager *m = j->m;
    GError *err = NULL;
    g_hash_table_remove(m->creating, j->rec->name);
    if (j->src) {
        /* The source's disks may have moved onto overlays: reread its config. */
        j->src->busy = false;
        struct vm_record *again = vm_record_load(j->src->rec->dir, NULL);
        if (again) {
            vm_record_free(j->src->rec);
            j->src->rec = again;
        }
    }
    if (!g_task_propagate_boolean(G_TASK(res), &err)) {
        g_dbus_method_invocation_take_error(j->inv, err);
        return;
    }
    struct vm_instance *vm = vm_instance_new(j->rec);
    j->rec = NULL;
    add_vm(m, vm);
    g_dbus_method_invocation_return_value(j->inv, g_variant_new("(o)", vm->path));
}

static void run_create_job(struct create_job *j)
{
    g_hash_table_add(j->m->creating, g_strdup(j->rec->name));
    GTask *task = g_task_new(NULL, NULL, create_done, NULL);
    g_task_set_task_data(task, j, (GDestroyNotify)create_job_free);
    g_task_run_in_thread(task, create_thread);
    g_object_unref(task);
}

static gboolean handle_create(DomusManager *iface, GDBusMethodInvocation *inv, const char *name,
                              const char *template_id, GVariant *opts, gpointer data)
{
    struct manager *m = data;
    if (!name_free(m, name, inv))
        return TRUE;
    g_autoptr(GPtrArray) all = load_templates();
    const struct vm_template *t = vm_template_find(all, template_id);
    if (!t) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_NOT_FOUND,
                                              "no template '%s' (domus templates lists them)", template_id);
        return TRUE;
    }
    guint64 memory = 0, disk = t->disk_size;
    guint32 cpus = 0;
    const char *iso = NULL;
    g_variant_lookup(opts, "memory", "t", &memory);
    g_variant_lookup(opts, "cpus", "u", &cpus);
    g_variant_lookup(opts, "disk-size", "t", &disk);
    g_variant_lookup(opts, "iso", "&s", &iso);
    const char *bad = NULL;
    if (g_variant_lookup_value(opts, "memory", NULL) && (memory < (16ULL << 20) || memory > (1ULL << 40)))
        bad = "memory must be from 16M to 1T";
    else if (g_variant_lookup_value(opts, "cpus", NULL) && (cpus < 1 || cpus > VM_MAX_CPUS))
        bad = "cpus must be from 1 to 64";
    else if (disk > MAX_DISK_SIZE || (disk && disk < (1ULL << 20)))
        bad = "disk size must be from 1M to 64T (or 0 for no disk)";
    else if (iso && strcmp(t->install_media, "iso"))
        bad = "this template boots directly and takes no ISO";
    if (bad) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_INVALID, "%s", bad);
        return TRUE;
    }
    g_autofree char *iso_abs = NULL;
    if (iso) {
        iso_abs = g_canonicalize_filename(iso, NULL);
        if (access(iso_abs, R_OK) < 0) {
            g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_INVALID, "cannot read ISO %s: %s",
                                                  iso, g_strerror(errno));
            return TRUE;
        }
    }
    struct create_job *j = g_new0(struct create_job, 1);
    j->m = m;
    j->inv = inv;
    j->disk_size = disk;
    j->rec = vm_record_from_template(name, t, memory, cpus, iso_abs);
    run_create_job(j);
    return TRUE;
}

static gboolean handle_clone(DomusManager *iface, GDBusMethodInvocation *inv, const char *source,
                             const char *target, gboolean linked, gpointer data)
{
    struct manager *m = data;
    struct vm_instance *src = find_vm(m, source, inv);
    if (!src || !name_free(m, target, inv))
        return TRUE;
    if (vm_instance_is_active(src) || src->busy) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
                                              "VM '%s' is %s: stop it before cloning it", source,
                                              src->busy ? "busy" : vm_instance_state(src));
        return TRUE;
    }
    GError *err = NULL;
    struct vm_record *rec = vm_record_load(src->rec->dir, &err);
    if (!rec) {
        g_dbus_method_invocation_take_error(inv, err);
        return TRUE;
    }
    g_free(rec->name);
    rec->name = g_strdup(target);
    rec->created = g_get_real_time() / G_USEC_PER_SEC;
    struct create_job *j = g_new0(struct create_job, 1);
    j->m = m;
    j->inv = inv;
    j->rec = rec;
    j->clone_from = g_strdup(src->rec->dir);
    if (linked) {
        j->link_src = vm_record_load(src->rec->dir, NULL);
        j->src = src;
        src->busy = true;
        if (!j->link_src) {
            src->busy = false;
            create_job_free(j);
            g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot read VM '%s'", source);
            return TRUE;
        }
    }
    run_create_job(j);
    return TRUE;
}

static gboolean handle_delete(DomusManager *iface, GDBusMethodInvocation *inv, const char *name, gpointer data)
{
    struct manager *m = data;
    struct vm_instance *vm = find_vm(m, name, inv);
    if (!vm)
        return TRUE;
    if (vm_instance_is_active(vm) || vm->busy || vm->start_polling) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
                                              "VM '%s' is %s: stop it first", name, vm_instance_state(vm));
        return TRUE;
    }
    GError *err = NULL;
    if (!library_delete(name, &err)) {
        g_dbus_method_invocation_take_error(inv, err);
        return TRUE;
    }
    g_dbus_object_manager_server_unexport(m->objects, vm->path);
    g_hash_table_remove(m->vms, name);
    clone_gc_bases();
    domus_manager_complete_delete(iface, inv);
    return TRUE;
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char **)a, *(const char **)b);
}

static gboolean handle_get_stats(DomusManager *iface, GDBusMethodInvocation *inv, gpointer data)
{
    struct manager *m = data;
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, m->vms);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(names, key);
    g_ptr_array_sort(names, by_name);
    for (guint i = 0; i < names->len; i++)
        vm_instance_stats(g_hash_table_lookup(m->vms, names->pdata[i]), &b);
    domus_manager_complete_get_stats(iface, inv, g_variant_builder_end(&b));
    return TRUE;
}

static gboolean on_tick(gpointer data)
{
    struct manager *m = data;
    GHashTableIter it;
    gpointer vm;
    g_hash_table_iter_init(&it, m->vms);
    while (g_hash_table_iter_next(&it, NULL, &vm))
        vm_instance_tick(vm);
    return G_SOURCE_CONTINUE;
}

static void load_library(struct manager *m)
{
    g_autofree char *vms = library_vms_dir();
    g_autoptr(GDir) d = g_dir_open(vms, 0, NULL);
    const char *f;
    while (d && (f = g_dir_read_name(d))) {
        if (f[0] == '.')
            continue;                /* .new-* / .deleted-*: an interrupted create or delete */
        g_autofree char *dir = g_build_filename(vms, f, NULL);
        GError *err = NULL;
        struct vm_record *rec = vm_record_load(dir, &err);
        if (!rec || strcmp(rec->name, f)) {
            g_printerr("domusd: skipping %s: %s\n", dir, err ? err->message : "name does not match its folder");
            g_clear_error(&err);
            vm_record_free(rec);
            continue;
        }
        add_vm(m, vm_instance_new(rec));
    }
}

struct manager *manager_new(GDBusConnection *bus, GError **error)
{
    struct manager *m = g_new0(struct manager, 1);
    m->bus = g_object_ref(bus);
    m->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)vm_instance_free);
    m->creating = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    m->objects = g_dbus_object_manager_server_new("/org/domus/Toolstack1");
    m->iface = domus_manager_skeleton_new();
    domus_manager_set_version(m->iface, PACKAGE_VERSION);
    domus_manager_set_confinement(m->iface, cgroup_describe());
    g_signal_connect(m->iface, "handle-list-templates", G_CALLBACK(handle_list_templates), m);
    g_signal_connect(m->iface, "handle-create", G_CALLBACK(handle_create), m);
    g_signal_connect(m->iface, "handle-clone", G_CALLBACK(handle_clone), m);
    g_signal_connect(m->iface, "handle-delete", G_CALLBACK(handle_delete), m);
    g_signal_connect(m->iface, "handle-get-stats", G_CALLBACK(handle_get_stats), m);
    load_library(m);
    g_dbus_object_manager_server_set_connection(m->objects, bus);
    if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(m->iface), bus, "/org/domus/Toolstack1", error)) {
        manager_free(m);
        return NULL;
    }
    m->tick = g_timeout_add_seconds(1, on_tick, m);
    return m;
}

void manager_free(struct manager *m)
{
    if (m->tick)
        g_source_remove(m->tick);
    g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(m->iface));
    g_object_unref(m->iface);
    g_object_unref(m->objects);
    g_hash_table_destroy(m->vms);
    g_hash_table_destroy(m->creating);
    g_object_unref(m->bus);
    g_free(m);
}
