#include "snapshot.h"
#include "errors.h"
#include "library.h"
#include "block/block.h"
#include "block/block_set.h"
#include "core/snapshot_file.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

bool vm_snapshot_name_valid(const char *name, GError **error)
{
    /* Same rules as VM names: it becomes a file name. */
    if (!vm_name_valid(name, NULL)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID,
                    "'%s' is not a valid snapshot name (1-64 letters, digits, '.', '_' or '-')", name);
        return false;
    }
    return true;
}

static char *meta_path(const struct vm_record *rec, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".snap", NULL);
    return g_build_filename(rec->dir, "snapshots", file, NULL);
}

/* Every disk of @rec, opened, in order; NULL (with @error) if one cannot be. */
static GPtrArray *open_disks(const struct vm_record *rec, GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)block_close);
    for (char **d = rec->disks; *d; d++) {
        g_autofree char *path = g_build_filename(rec->dir, *d, NULL);
        struct block_open_opts o = { 0 };
        struct block *b = NULL;
        char *err = NULL;
        int r = block_open(path, &o, &b, &err);
        if (r < 0) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot open disk %s: %s", *d,
                        err ? err : g_strerror(-r));
            free(err);
            return NULL;
        }
        g_ptr_array_add(disks, b);
    }
    return g_steal_pointer(&disks);
}

/* Snapshot @name of every disk, made or gone back to, all or nothing
 * (block_snapshot_all): a VM never has disks from different points in time. */
static bool snapshot_disks(const struct vm_record *rec, const char *name, bool apply, GError **error)
{
    g_autoptr(GPtrArray) disks = open_disks(rec, error);
    if (!disks)
        return false;
    char *err = NULL;
    int r = block_snapshot_all((struct block *const *)disks->pdata, disks->len, name, apply, &err);
    if (r < 0) {
        g_set_error(error, DOMUS_ERROR, r == -ENOTSUP ? DOMUS_ERROR_NOT_SUPPORTED : DOMUS_ERROR_FAILED, "%s%s",
                    err ? err : g_strerror(-r), r == -ENOTSUP ? " (convert it with domus-img convert)" : "");
        free(err);
        return false;
    }
    return true;
}

static bool delete_disk_snapshots(const struct vm_record *rec, const char *name, GError **error)
{
    g_autoptr(GPtrArray) disks = open_disks(rec, error);
    for (guint i = 0; disks && i < disks->len; i++) {
        char *err = NULL;
        int r = block_snapshot_delete(disks->pdata[i], name, &err);
        if (r < 0) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot delete snapshot '%s' of disk %s: %s", name,
                        rec->disks[i], err ? err : g_strerror(-r));
            free(err);
            return false;
        }
    }
    return disks != NULL;
}

static char *current_path(const struct vm_record *rec)
{
    return g_build_filename(rec->dir, "snapshots", "current", NULL);
}

/* The snapshot the VM last was at (created or reverted to): the parent of the next. */
static char *current_get(const struct vm_record *rec)
{
    g_autofree char *p = current_path(rec);
    char *name = NULL;
    if (!g_file_get_contents(p, &name, NULL, NULL))
        return NULL;
    g_strstrip(name);
    return *name ? name : (g_free(name), NULL);
}

static void current_set(const struct vm_record *rec, const char *name)
{
    g_autofree char *p = current_path(rec);
    if (name)
        g_file_set_contents(p, name, -1, NULL);
    else
        g_unlink(p);
}

static bool write_meta(const struct vm_record *rec, const char *name, bool vm_state, GError **error)
{
    g_autofree char *meta = meta_path(rec, name);
    g_autofree char *parent = current_get(rec);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "snapshot", "name", name);
    g_key_file_set_int64(kf, "snapshot", "created", g_get_real_time() / G_USEC_PER_SEC);
    g_key_file_set_string_list(kf, "snapshot", "disks", (const char *const *)rec->disks, g_strv_length(rec->disks));
    g_key_file_set_boolean(kf, "snapshot", "vm-state", vm_state);
    if (parent && strcmp(parent, name))
        g_key_file_set_string(kf, "snapshot", "parent", parent);
    g_autofree char *snapdir = g_path_get_dirname(meta);
    g_mkdir_with_parents(snapdir, 0700);
    if (!g_key_file_save_to_file(kf, meta, error))
        return false;
    current_set(rec, name);
    return true;
}

bool vm_snapshot_check_new(const struct vm_record *rec, const char *name, GError **error)
{
    if (!vm_snapshot_name_valid(name, error))
        return false;
    g_autofree char *meta = meta_path(rec, name);
    if (g_file_test(meta, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_EXISTS, "VM '%s' already has a snapshot '%s'", rec->name, name);
        return false;
    }
    return true;
}

char *vm_snapshot_state_path(const struct vm_record *rec, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".state", NULL);
    return g_build_filename(rec->dir, "snapshots", file, NULL);
}

static void remove_state(const char *state)
{
    g_autofree char *ram = g_strconcat(state, ".ram", NULL);
    g_unlink(state);
    g_unlink(ram);
}

bool vm_snapshot_commit_live(const struct vm_record *rec, const char *name, GError **error)
{
    return write_meta(rec, name, true, error);
}

void vm_snapshot_abandon_live(const struct vm_record *rec, const char *name)
{
    g_autofree char *state = vm_snapshot_state_path(rec, name);
    remove_state(state);
}

bool vm_snapshot_create(const struct vm_record *rec, const char *name, GError **error)
{
    if (!vm_snapshot_check_new(rec, name, error) || !snapshot_disks(rec, name, false, error))
        return false;
    if (!write_meta(rec, name, false, error)) {
        delete_disk_snapshots(rec, name, NULL);  /* no snapshot the VM does not know of */
        return false;
    }
    return true;
}

static gint by_created(gconstpointer a, gconstpointer b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

char **vm_snapshot_list(const struct vm_record *rec)
{
    g_autofree char *dir = g_build_filename(rec->dir, "snapshots", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) keyed = g_ptr_array_new_with_free_func(g_free);
    const char *f;
    while (d && (f = g_dir_read_name(d))) {
        if (!g_str_has_suffix(f, ".snap"))
            continue;
        g_autofree char *p = g_build_filename(dir, f, NULL);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        if (!g_key_file_load_from_file(kf, p, G_KEY_FILE_NONE, NULL))
            continue;
        gint64 t = g_key_file_get_int64(kf, "snapshot", "created", NULL);
        g_autofree char *name = g_strndup(f, strlen(f) - 5);
        g_ptr_array_add(keyed, g_strdup_printf("%020" G_GINT64_FORMAT "/%s", t, name));
    }
    g_ptr_array_sort(keyed, by_created);
    char **out = g_new0(char *, keyed->len + 1);
    for (guint i = 0; i < keyed->len; i++)
        out[i] = g_strdup(strchr(keyed->pdata[i], '/') + 1);
    return out;
}

static bool exists(const struct vm_record *rec, const char *name, GError **error)
{
    g_autofree char *meta = meta_path(rec, name);
    if (!vm_name_valid(name, NULL) || !g_file_test(meta, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_NOT_FOUND, "VM '%s' has no snapshot '%s' (domus snapshot %s list)",
                    rec->name, name, rec->name);
        return false;
    }
    return true;
}

static GKeyFile *meta_load(const struct vm_record *rec, const char *name)
{
    g_autofree char *meta = meta_path(rec, name);
    GKeyFile *kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, meta, G_KEY_FILE_NONE, NULL)) {
        g_key_file_free(kf);
        return NULL;
    }
    return kf;
}

bool vm_snapshot_has_state(const struct vm_record *rec, const char *name)
{
    g_autoptr(GKeyFile) kf = meta_load(rec, name);
    return kf && g_key_file_get_boolean(kf, "snapshot", "vm-state", NULL);
}

bool vm_snapshot_exists(const struct vm_record *rec, const char *name, GError **error)
{
    return exists(rec, name, error);
}

void vm_snapshot_reverted(const struct vm_record *rec, const char *name)
{
    current_set(rec, name);
}

/* ---- resume on start (suspend, or a revert to a live snapshot while stopped) ---- */

static char *resume_marker(const struct vm_record *rec)
{
    return g_build_filename(rec->dir, "resume", NULL);
}

char *vm_suspend_state_path(const struct vm_record *rec)
{
    return g_build_filename(rec->dir, "suspend.state", NULL);
}

bool vm_state_has_display(const char *path)
{
    struct snap_image img;
    char *err = NULL;
    if (snap_image_read(path, &img, &err) < 0) {
        free(err);
        return false;
    }
    bool has = snap_image_find(&img, "virtio-gpu") != NULL;
    snap_image_free(&img);
    return has;
}

char *vm_resume_state(const struct vm_record *rec)
{
    g_autofree char *m = resume_marker(rec);
    char *path = NULL;
    if (!g_file_get_contents(m, &path, NULL, NULL))
        return NULL;
    g_strstrip(path);
    if (!*path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_free(path);
        return NULL;
    }
    return path;
}

void vm_resume_set(const struct vm_record *rec, const char *state_path)
{
    g_autofree char *m = resume_marker(rec);
    g_autofree char *old = vm_resume_state(rec);
    g_autofree char *suspend = vm_suspend_state_path(rec);
    if (old && !g_strcmp0(old, suspend) && g_strcmp0(state_path, suspend))
        remove_state(suspend);       /* a suspended state no longer fits the disks */
    if (state_path)
        g_file_set_contents(m, state_path, -1, NULL);
    else
        g_unlink(m);
}

void vm_resume_done(const struct vm_record *rec)
{
    g_autofree char *m = resume_marker(rec);
    g_autofree char *old = vm_resume_state(rec);
    g_autofree char *suspend = vm_suspend_state_path(rec);
    /* A suspend image is used once; a snapshot's state stays for later reverts. */
    if (old && !g_strcmp0(old, suspend))
        remove_state(suspend);
    g_unlink(m);
}

bool vm_snapshot_revert(const struct vm_record *rec, const char *name, GError **error)
{
    if (!exists(rec, name, error) || !snapshot_disks(rec, name, true, error))
        return false;
    g_autofree char *state = vm_snapshot_state_path(rec, name);
    /* The next start continues from the snapshot's running state, if it has one. */
    vm_resume_set(rec, vm_snapshot_has_state(rec, name) ? state : NULL);
    current_set(rec, name);
    return true;
}

GVariant *vm_snapshot_tree(const struct vm_record *rec)
{
    g_auto(GStrv) names = vm_snapshot_list(rec);
    g_autofree char *current = current_get(rec);
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssxbb)"));
    for (char **n = names; *n; n++) {
        g_autoptr(GKeyFile) kf = meta_load(rec, *n);
        g_autofree char *parent = kf ? g_key_file_get_string(kf, "snapshot", "parent", NULL) : NULL;
        g_autofree char *pmeta = parent ? meta_path(rec, parent) : NULL;
        if (pmeta && !g_file_test(pmeta, G_FILE_TEST_EXISTS))
            g_clear_pointer(&parent, g_free);
        g_variant_builder_add(&b, "(ssxbb)", *n, parent ? parent : "",
                              kf ? g_key_file_get_int64(kf, "snapshot", "created", NULL) : 0,
                              kf && g_key_file_get_boolean(kf, "snapshot", "vm-state", NULL),
                              !g_strcmp0(current, *n));
    }
    return g_variant_builder_end(&b);
}

bool vm_snapshot_delete(const struct vm_record *rec, const char *name, GError **error)
{
    if (!exists(rec, name, error))
        return false;
    if (!delete_disk_snapshots(rec, name, error))
        return false;
    g_autofree char *meta = meta_path(rec, name);
    /* Children hang on the deleted one's parent from now on. */
    g_autoptr(GKeyFile) kf = meta_load(rec, name);
    g_autofree char *parent = kf ? g_key_file_get_string(kf, "snapshot", "parent", NULL) : NULL;
    g_auto(GStrv) names = vm_snapshot_list(rec);
    for (char **n = names; *n; n++) {
        g_autoptr(GKeyFile) ck = meta_load(rec, *n);
        g_autofree char *cp = ck ? g_key_file_get_string(ck, "snapshot", "parent", NULL) : NULL;
        if (!cp || strcmp(cp, name))
            continue;
        if (parent)
            g_key_file_set_string(ck, "snapshot", "parent", parent);
        else
            g_key_file_remove_key(ck, "snapshot", "parent", NULL);
        g_autofree char *cm = meta_path(rec, *n);
        g_key_file_save_to_file(ck, cm, NULL);
    }
    g_autofree char *current = current_get(rec);
    if (!g_strcmp0(current, name))
        current_set(rec, parent);
    g_autofree char *state = vm_snapshot_state_path(rec, name);
    g_autofree char *resume = vm_resume_state(rec);
    if (!g_strcmp0(resume, state))
        vm_resume_set(rec, NULL);
    remove_state(state);
    g_unlink(meta);
    return true;
}
