#include "snapshot.h"
#include "errors.h"
#include "library.h"
#include "block/block.h"

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

typedef int (*disk_op)(struct block *b, const char *name, char **error);

/* Runs @op on every disk; stops at the first failure, naming the disk. */
static bool each_disk(const struct vm_record *rec, disk_op op, const char *name, const char *what,
                      guint *done, GError **error)
{
    *done = 0;
    for (char **d = rec->disks; *d; d++) {
        g_autofree char *path = g_build_filename(rec->dir, *d, NULL);
        struct block_open_opts o = { 0 };
        struct block *b = NULL;
        char *err = NULL;
        int r = block_open(path, &o, &b, &err);
        if (r >= 0 && block_get_format(b) != BLOCK_FMT_QCOW2) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_NOT_SUPPORTED,
                        "disk %s is raw: snapshots need qcow2 disks (convert it with domus-img convert)", *d);
            block_close(b);
            return false;
        }
        if (r >= 0)
            r = op(b, name, &err);
        if (b)
            block_close(b);
        if (r < 0) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot %s snapshot '%s' of disk %s: %s", what, name,
                        *d, err ? err : g_strerror(-r));
            free(err);
            return false;
        }
        (*done)++;
    }
    return true;
}

bool vm_snapshot_create(const struct vm_record *rec, const char *name, GError **error)
{
    if (!vm_snapshot_name_valid(name, error))
        return false;
    g_autofree char *meta = meta_path(rec, name);
    if (g_file_test(meta, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_EXISTS, "VM '%s' already has a snapshot '%s'", rec->name, name);
        return false;
    }
    guint done;
    if (!each_disk(rec, block_snapshot_create, name, "create", &done, error)) {
        /* Take back the disks already snapshotted: all or nothing. */
        for (guint i = 0; i < done; i++) {
            g_autofree char *path = g_build_filename(rec->dir, rec->disks[i], NULL);
            struct block_open_opts o = { 0 };
            struct block *b = NULL;
            if (block_open(path, &o, &b, NULL) >= 0) {
                block_snapshot_delete(b, name, NULL);
                block_close(b);
            }
        }
        return false;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "snapshot", "name", name);
    g_key_file_set_int64(kf, "snapshot", "created", g_get_real_time() / G_USEC_PER_SEC);
    g_key_file_set_string_list(kf, "snapshot", "disks", (const char *const *)rec->disks, g_strv_length(rec->disks));
    g_key_file_set_boolean(kf, "snapshot", "vm-state", FALSE);
    g_autofree char *snapdir = g_path_get_dirname(meta);
    g_mkdir_with_parents(snapdir, 0700);
    return g_key_file_save_to_file(kf, meta, error);
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

bool vm_snapshot_revert(const struct vm_record *rec, const char *name, GError **error)
{
    guint done;
    return exists(rec, name, error) && each_disk(rec, block_snapshot_apply, name, "revert to", &done, error);
}

bool vm_snapshot_delete(const struct vm_record *rec, const char *name, GError **error)
{
    if (!exists(rec, name, error))
        return false;
    guint done;
    if (!each_disk(rec, block_snapshot_delete, name, "delete", &done, error))
        return false;
    g_autofree char *meta = meta_path(rec, name);
    g_unlink(meta);
    return true;
}
