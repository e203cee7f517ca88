#include "clone.h"
#include "errors.h"
#include "library.h"
#include "block/block.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static char *bases_dir(void)
{
    char *d = g_build_filename(g_get_user_data_dir(), "domus", "bases", NULL);
    g_mkdir_with_parents(d, 0700);
    return d;
}

/* "disk0.qcow2" or "disk0-1a2b3c4d.qcow2" -> "disk0-<uniq>.qcow2": the
 * disk's stem stays, and the name never collides with the frozen one. */
static char *overlay_name(const char *disk, const char *uniq)
{
    g_autofree char *stem = g_strdup(disk);
    stem[strcspn(stem, "-.")] = '\0';
    return g_strdup_printf("%s-%.8s.qcow2", stem, uniq);
}

struct frozen {
    char *orig, *base, *src_overlay;
};

static void undo(GArray *done)
{
    for (guint i = 0; i < done->len; i++) {
        struct frozen *f = &g_array_index(done, struct frozen, i);
        if (f->src_overlay)
            g_unlink(f->src_overlay);
        chmod(f->base, 0600);
        if (rename(f->base, f->orig) < 0)
            g_printerr("domusd: cannot move %s back to %s: %s\n", f->base, f->orig, g_strerror(errno));
    }
}

static void frozen_clear(gpointer p)
{
    struct frozen *f = p;
    g_free(f->orig); g_free(f->base); g_free(f->src_overlay);
}

bool clone_link_disks(struct vm_record *src, struct vm_record *dst, const char *dst_dir, GError **error)
{
    g_autofree char *bases = bases_dir();
    g_autoptr(GArray) done = g_array_new(FALSE, TRUE, sizeof(struct frozen));
    g_array_set_clear_func(done, frozen_clear);
    guint n = g_strv_length(src->disks);
    g_auto(GStrv) new_src = g_new0(char *, n + 1), new_dst = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        const char *disk = src->disks[i];
        struct frozen f = { 0 };
        f.orig = g_build_filename(src->dir, disk, NULL);
        g_autofree char *uniq = g_uuid_string_random();
        g_autofree char *bname = g_strdup_printf("%s-%s-%.8s", src->name, disk, uniq);
        f.base = g_build_filename(bases, bname, NULL);
        g_autofree char *ov = overlay_name(disk, uniq);
        if (rename(f.orig, f.base) < 0) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot move %s to %s: %s", f.orig, f.base,
                        g_strerror(errno));
            frozen_clear(&f);
            undo(done);
            return false;
        }
        chmod(f.base, 0400);         /* a base never changes again */
        f.src_overlay = g_build_filename(src->dir, ov, NULL);
        g_array_append_val(done, f);
        g_autofree char *dst_overlay = g_build_filename(dst_dir, ov, NULL);
        if (!create_qcow2_disk(f.src_overlay, 0, f.base, error) || !create_qcow2_disk(dst_overlay, 0, f.base, error)) {
            undo(done);
            return false;
        }
        new_src[i] = g_strdup(ov);
        new_dst[i] = g_strdup(ov);
    }
    char **old = src->disks;
    src->disks = g_steal_pointer(&new_src);
    if (!vm_record_save(src, error)) {
        g_strfreev(src->disks);
        src->disks = old;
        undo(done);
        return false;
    }
    g_strfreev(old);
    g_strfreev(dst->disks);
    dst->disks = g_steal_pointer(&new_dst);
    return true;
}

/* Adds every file in @path's backing chain to @used. */
static void mark_chain(const char *path, GHashTable *used)
{
    struct block_open_opts o = { .readonly = true, .no_lock = true };
    struct block *b = NULL;
    if (block_open(path, &o, &b, NULL) < 0)
        return;
    for (struct block *l = block_backing(b); l; l = block_backing(l)) {
        g_autofree char *canon = g_canonicalize_filename(block_path(l), NULL);
        g_hash_table_add(used, g_steal_pointer(&canon));
    }
    block_close(b);
}

void clone_gc_bases(void)
{
    g_autofree char *bases = bases_dir();
    g_autofree char *vms = library_vms_dir();
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GDir) vd = g_dir_open(vms, 0, NULL);
    const char *name;
    while (vd && (name = g_dir_read_name(vd))) {
        g_autofree char *dir = g_build_filename(vms, name, NULL);
        g_autoptr(struct_vm_record) r = vm_record_load(dir, NULL);
        if (!r) {
            if (name[0] != '.')
                return;              /* cannot tell what a broken VM uses: keep every base */
            continue;
        }
        for (char **d = r->disks; *d; d++) {
            g_autofree char *p = g_build_filename(dir, *d, NULL);
            mark_chain(p, used);
        }
    }
    g_autoptr(GDir) bd = g_dir_open(bases, 0, NULL);
    while (bd && (name = g_dir_read_name(bd))) {
        g_autofree char *p = g_build_filename(bases, name, NULL);
        if (!g_hash_table_contains(used, p))
            g_unlink(p);
    }
}
