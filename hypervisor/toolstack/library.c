#include "library.h"
#include "errors.h"
#include "template.h"
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VM_CONF "vm.conf"
#define VMM_OVERHEAD (256ULL << 20)  /* VMM heap, page tables, device buffers */

static char *ensure_dir(char *path)
{
    g_mkdir_with_parents(path, 0700);
    return path;
}

char *library_vms_dir(void)
{
    return ensure_dir(g_build_filename(g_get_user_data_dir(), "domus", "vms", NULL));
}

char *library_runtime_dir(const char *name)
{
    return ensure_dir(g_build_filename(g_get_user_runtime_dir(), "domus", name, NULL));
}

char *library_cache_dir(void)
{
    return ensure_dir(g_build_filename(g_get_user_cache_dir(), "domus", NULL));
}

bool vm_name_valid(const char *name, GError **error)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 64 && name[0] != '.' && name[0] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = g_ascii_isalnum(name[i]) || strchr("._-", name[i]);
    if (!ok)
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID,
                    "'%s' is not a valid VM name (1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-')",
                    name);
    return ok;
}

void vm_record_free(struct vm_record *r)
{
    if (!r)
        return;
    g_free(r->name); g_free(r->dir); g_free(r->template_id); g_free(r->os_family);
    g_free(r->firmware); g_free(r->kernel); g_free(r->initrd); g_free(r->append); g_free(r->iso);
    g_free(r->devices); g_free(r->clock); g_free(r->needs);
    g_free(r->net); g_free(r->sound);
    g_strfreev(r->disks);
    g_free(r);
}

uint64_t vm_record_memory_limit(const struct vm_record *r)
{
    return r->memory_limit ? r->memory_limit : r->memory + VMM_OVERHEAD;
}

bool vm_record_startable(const struct vm_record *r, const char **needs)
{
    if (vm_firmware_startable(r->firmware))
        return true;
    if (needs)
        *needs = r->needs ? r->needs : "UEFI Secure Boot";
    return false;
}

static char *opt_str(GKeyFile *kf, const char *group, const char *key)
{
    char *v = g_key_file_get_string(kf, group, key, NULL);
    if (v && !*v) {
        g_free(v);
        v = NULL;
    }
    return v;
}

struct vm_record *vm_record_load(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, VM_CONF, NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "%s: %s", path, err->message);
        return NULL;
    }
    g_autoptr(struct_vm_record) r = g_new0(struct vm_record, 1);
    r->dir = g_strdup(dir);
    r->name = opt_str(kf, "vm", "name");
    r->memory = g_key_file_get_uint64(kf, "vm", "memory", NULL);
    r->cpus = (unsigned)g_key_file_get_uint64(kf, "vm", "cpus", NULL);
    if (!r->name || r->memory < (16ULL << 20) || r->cpus < 1 || r->cpus > 64) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "%s: [vm] needs name, memory (bytes) and cpus (1-64)", path);
        return NULL;
    }
    r->template_id = opt_str(kf, "vm", "template");
    r->os_family = opt_str(kf, "vm", "os-family");
    r->created = g_key_file_get_int64(kf, "vm", "created", NULL);
    r->firmware = opt_str(kf, "boot", "firmware");
    if (!r->firmware)
        r->firmware = g_strdup("direct");
    r->kernel = opt_str(kf, "boot", "kernel");
    r->initrd = opt_str(kf, "boot", "initrd");
    r->append = opt_str(kf, "boot", "append");
    r->iso = opt_str(kf, "boot", "iso");
    r->needs = opt_str(kf, "boot", "needs");
    r->devices = opt_str(kf, "devices", "model");
    r->clock = opt_str(kf, "devices", "clock");
    r->net = opt_str(kf, "devices", "net");
    r->sound = opt_str(kf, "devices", "sound");
    r->disks = g_key_file_get_string_list(kf, "devices", "disks", NULL, NULL);
    if (!r->disks)
        r->disks = g_new0(char *, 1);
    for (char **d = r->disks; *d; d++) {
        if (strchr(*d, '/') || !strcmp(*d, "..")) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "%s: disk '%s' must be a file in the VM's folder", path, *d);
            return NULL;
        }
    }
    r->cpu_weight = (unsigned)g_key_file_get_uint64(kf, "resources", "cpu-weight", NULL);
    if (r->cpu_weight < 1 || r->cpu_weight > 10000)
        r->cpu_weight = 100;
    r->cpu_quota = (unsigned)g_key_file_get_uint64(kf, "resources", "cpu-quota", NULL);
    r->memory_limit = g_key_file_get_uint64(kf, "resources", "memory-limit", NULL);
    return g_steal_pointer(&r);
}

static void set_opt(GKeyFile *kf, const char *group, const char *key, const char *v)
{
    if (v)
        g_key_file_set_string(kf, group, key, v);
}

bool vm_record_save(const struct vm_record *r, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "vm", "name", r->name);
    set_opt(kf, "vm", "template", r->template_id);
    set_opt(kf, "vm", "os-family", r->os_family);
    g_key_file_set_uint64(kf, "vm", "memory", r->memory);
    g_key_file_set_uint64(kf, "vm", "cpus", r->cpus);
    g_key_file_set_int64(kf, "vm", "created", r->created);
    set_opt(kf, "boot", "firmware", r->firmware);
    set_opt(kf, "boot", "kernel", r->kernel);
    set_opt(kf, "boot", "initrd", r->initrd);
    set_opt(kf, "boot", "append", r->append);
    set_opt(kf, "boot", "iso", r->iso);
    set_opt(kf, "boot", "needs", r->needs);
    set_opt(kf, "devices", "model", r->devices);
    set_opt(kf, "devices", "clock", r->clock);
    set_opt(kf, "devices", "net", r->net);
    set_opt(kf, "devices", "sound", r->sound);
    g_key_file_set_string_list(kf, "devices", "disks", (const char *const *)r->disks, g_strv_length(r->disks));
    g_key_file_set_uint64(kf, "resources", "cpu-weight", r->cpu_weight);
    g_key_file_set_uint64(kf, "resources", "cpu-quota", r->cpu_quota);
    g_key_file_set_uint64(kf, "resources", "memory-limit", r->memory_limit);
    gsize len;
    g_autofree char *data = g_key_file_to_data(kf, &len, NULL);
    g_autofree char *path = g_build_filename(r->dir, VM_CONF, NULL);
    /* Temporary file + fsync + rename: readers see the old or the new file, never a mix. */
    return g_file_set_contents_full(path, data, (gssize)len,
                                    G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

struct vm_record *vm_record_from_template(const char *name, const struct vm_template *t,
                                          uint64_t memory, unsigned cpus, const char *iso)
{
    struct vm_record *r = g_new0(struct vm_record, 1);
    r->name = g_strdup(name);
    r->template_id = g_strdup(t->id);
    r->os_family = g_strdup(t->os_family);
    r->memory = memory ? memory : t->memory;
    r->cpus = cpus ? cpus : t->cpus;
    r->firmware = g_strdup(t->firmware);
    r->kernel = g_strdup(t->kernel);
    r->initrd = g_strdup(t->initrd);
    r->append = g_strdup(t->append);
    r->iso = g_strdup(iso);
    r->devices = g_strdup(t->devices);
    r->clock = g_strdup(t->clock);
    r->needs = g_strdup(t->needs);
    r->disks = g_new0(char *, 1);
    r->cpu_weight = 100;
    r->created = g_get_real_time() / G_USEC_PER_SEC;
    return r;
}

static void remove_tree(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *f;
    while (d && (f = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(path, f, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            remove_tree(p);
        else
            g_unlink(p);
    }
    g_rmdir(path);
}

bool library_create(struct vm_record *r, vm_populate_fn populate, void *opaque, GError **error)
{
    if (!vm_name_valid(r->name, error))
        return false;
    g_autofree char *vms = library_vms_dir();
    g_autofree char *final = g_build_filename(vms, r->name, NULL);
    if (g_file_test(final, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_EXISTS, "a VM named '%s' already exists", r->name);
        return false;
    }
    g_autofree char *tmpl = g_build_filename(vms, ".new-XXXXXX", NULL);
    if (!g_mkdtemp_full(tmpl, 0700)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot create a folder in %s: %s", vms, g_strerror(errno));
        return false;
    }
    static const char *const subdirs[] = { "snapshots", "nvram", "logs" };
    for (unsigned i = 0; i < G_N_ELEMENTS(subdirs); i++) {
        g_autofree char *p = g_build_filename(tmpl, subdirs[i], NULL);
        g_mkdir(p, 0700);
    }
    g_free(r->dir);
    r->dir = g_strdup(tmpl);
    bool ok = (!populate || populate(r, tmpl, opaque, error)) && vm_record_save(r, error);
    if (ok && rename(tmpl, final) < 0) {
        g_set_error(error, DOMUS_ERROR, errno == EEXIST || errno == ENOTEMPTY ? DOMUS_ERROR_EXISTS : DOMUS_ERROR_FAILED,
                    errno == EEXIST || errno == ENOTEMPTY ? "a VM named '%s' already exists" : "cannot create VM '%s': %s",
                    r->name, g_strerror(errno));
        ok = false;
    }
    if (!ok) {
        remove_tree(tmpl);
        return false;
    }
    g_free(r->dir);
    r->dir = g_steal_pointer(&final);
    return true;
}

bool library_delete(const char *name, GError **error)
{
    g_autofree char *vms = library_vms_dir();
    g_autofree char *dir = g_build_filename(vms, name, NULL);
    /* Renamed away first, so a half-deleted VM never shows up in the library. */
    g_autofree char *doomed = g_build_filename(vms, ".deleted-XXXXXX", NULL);
    bool moved = g_mkdtemp_full(doomed, 0700) && rename(dir, doomed) == 0;
    if (!moved) {
        int err = errno;
        g_rmdir(doomed);
        errno = err;
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot delete VM '%s': %s", name, g_strerror(errno));
        return false;
    }
    remove_tree(doomed);
    g_autofree char *run = g_build_filename(g_get_user_runtime_dir(), "domus", name, NULL);
    remove_tree(run);
    return true;
}

bool create_raw_disk(const char *path, uint64_t size, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot create disk %s: %s", path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

bool create_qcow2_disk(const char *path, uint64_t size, const char *backing, GError **error)
{
    struct block_create_opts o = { .format = BLOCK_FMT_QCOW2, .size = size, .backing_file = backing };
    char *err = NULL;
    int r = block_create(path, &o, &err);
    if (r < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot create disk %s: %s", path,
                    err ? err : g_strerror(-r));
        free(err);
    }
    return r >= 0;
}

/* Copies bytes [@from, @to) of @in to the same place in @out; across
 * filesystems (the cache and the library on different mounts, a 9p share)
 * copy_file_range says EXDEV and plain reads and writes do it. */
static bool copy_range(int in, int out, off_t from, off_t to)
{
    off_t ioff = from, ooff = from;
    while (ioff < to) {
        ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(to - ioff), 0);
        if (n > 0)
            continue;
        if (n == 0 || (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP))
            return false;
        char buf[65536];
        while (ioff < to) {
            ssize_t r = pread(in, buf, (size_t)MIN((off_t)sizeof(buf), to - ioff), ioff);
            if (r <= 0)
                return false;
            for (ssize_t done = 0; done < r;) {
                ssize_t w = pwrite(out, buf + done, (size_t)(r - done), ioff + done);
                if (w < 0)
                    return false;
                done += w;
            }
            ioff += r;
        }
    }
    return true;
}

bool copy_sparse(const char *src, const char *dst, GError **error)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = false;
    struct stat st;
    if (out < 0 || fstat(in, &st) < 0)
        goto done;
    if (ioctl(out, FICLONE, in) == 0) {
        ok = true;                   /* btrfs/xfs: shares blocks, instant */
        goto done;
    }
    /* Copy the data extents only; holes stay holes. */
    off_t pos = 0;
    while (pos < st.st_size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;
            goto done;
        }
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            goto done;
        if (!copy_range(in, out, data, hole))
            goto done;
        pos = hole;
    }
    ok = ftruncate(out, st.st_size) == 0 && fsync(out) == 0;
done:
    if (!ok)
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot copy %s to %s: %s", src, dst, g_strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return ok;
}
