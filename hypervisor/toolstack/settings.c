/* SetConfig: a stopped VM's hardware changes. Every value is checked as
 * domus create and domus-vmm check it before anything changes; the disk
 * grows first (growing is harmless if the rest then fails), then vm.conf
 * is replaced atomically. */
#include "settings.h"
#include "errors.h"
#include "block/block.h"
#include "core/config.h"
#include "net/net_config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct settings {
    bool has_memory, has_cpus, has_disk;
    uint64_t memory, disk_size;
    unsigned cpus;
    char *net, *sound;               /* "" means none */
};

static bool invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool invalid(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, msg);
    return false;
}

static bool typed(GVariant *v, const char *key, const GVariantType *t, GError **error)
{
    if (g_variant_is_of_type(v, t))
        return true;
    return invalid(error, "setting '%s' must be of D-Bus type %s, not %s", key, g_variant_type_peek_string(t),
                   g_variant_get_type_string(v));
}

static bool parse(GVariant *settings, struct settings *s, GError **error)
{
    GVariantIter it;
    const char *key;
    GVariant *v;
    g_variant_iter_init(&it, settings);
    while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
        g_autoptr(GVariant) val = v;
        if (!strcmp(key, "memory")) {
            if (!typed(val, key, G_VARIANT_TYPE_UINT64, error))
                return false;
            s->has_memory = true;
            s->memory = g_variant_get_uint64(val);
            if (s->memory < VM_MIN_MEMORY || s->memory > VM_MAX_MEMORY)
                return invalid(error, "memory must be from 16M to 1T");
            if (s->memory & ((1 << 20) - 1))
                return invalid(error, "memory must be a whole number of MiB");
        } else if (!strcmp(key, "cpus")) {
            if (!typed(val, key, G_VARIANT_TYPE_UINT32, error))
                return false;
            s->has_cpus = true;
            s->cpus = g_variant_get_uint32(val);
            if (s->cpus < 1 || s->cpus > VM_MAX_CPUS)
                return invalid(error, "cpus must be from 1 to %d", VM_MAX_CPUS);
        } else if (!strcmp(key, "disk-size")) {
            if (!typed(val, key, G_VARIANT_TYPE_UINT64, error))
                return false;
            s->has_disk = true;
            s->disk_size = g_variant_get_uint64(val);
            if (s->disk_size < (1ULL << 20) || s->disk_size > VM_MAX_DISK_SIZE)
                return invalid(error, "disk size must be from 1M to 64T");
        } else if (!strcmp(key, "net")) {
            if (!typed(val, key, G_VARIANT_TYPE_STRING, error))
                return false;
            const char *spec = g_variant_get_string(val, NULL);
            struct net_config nc;
            char why[256];
            if (net_config_parse(spec, &nc, why, sizeof(why)) < 0)
                return invalid(error, "%s", why);   /* it names --net */
            g_free(s->net);
            s->net = g_strdup(nc.kind == NET_NONE ? "" : spec);
        } else if (!strcmp(key, "sound")) {
            if (!typed(val, key, G_VARIANT_TYPE_STRING, error))
                return false;
            const char *snd = g_variant_get_string(val, NULL);
            if (strcmp(snd, "none") && strcmp(snd, "hda") && strcmp(snd, "virtio"))
                return invalid(error, "sound: expected none, hda or virtio, got '%s'", snd);
            g_free(s->sound);
            s->sound = g_strdup(strcmp(snd, "none") ? snd : "");
        } else {
            return invalid(error, "unknown setting '%s' (expected memory, cpus, disk-size, net or sound)", key);
        }
    }
    return true;
}

/* The first disk grows to @size; a smaller size is refused, nothing is cut. */
static bool grow_disk(struct vm_record *rec, uint64_t size, GError **error)
{
    if (!rec->disks[0])
        return invalid(error, "VM '%s' has no disk to grow", rec->name);
    g_autofree char *path = g_build_filename(rec->dir, rec->disks[0], NULL);
    struct block_open_opts o = { 0 };
    struct block *b = NULL;
    char *why = NULL;
    int r = block_open(path, &o, &b, &why);
    if (r < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot open %s: %s", path, why ? why : g_strerror(-r));
        free(why);
        return false;
    }
    uint64_t now = block_length(b);
    if (size < now) {
        block_close(b);
        return invalid(error, "disks only grow: %s is %" G_GUINT64_FORMAT " MiB, and shrinking it would cut off data",
                       rec->disks[0], now >> 20);
    }
    r = block_grow(b, size, &why);
    block_close(b);
    if (r < 0) {
        g_set_error(error, DOMUS_ERROR, r == -ENOTSUP || r == -EFBIG ? DOMUS_ERROR_NOT_SUPPORTED : DOMUS_ERROR_FAILED,
                    "cannot grow %s: %s", rec->disks[0], why ? why : g_strerror(-r));
        free(why);
        return false;
    }
    return true;
}

uint64_t vm_settings_disk_size(const struct vm_record *rec)
{
    if (!rec->disks[0])
        return 0;
    g_autofree char *path = g_build_filename(rec->dir, rec->disks[0], NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    guint8 h[32];
    struct stat st;
    uint64_t size = 0;
    if (fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && !memcmp(h, "QFI\xfb", 4))
        size = GUINT64_FROM_BE(*(guint64 *)(h + 24));
    else if (fd >= 0 && fstat(fd, &st) == 0)
        size = (uint64_t)st.st_size;
    if (fd >= 0)
        close(fd);
    return size;
}

bool vm_settings_apply(struct vm_record *rec, GVariant *settings, GError **error)
{
    struct settings s = { 0 };
    bool ok = parse(settings, &s, error);
    if (ok && s.has_disk)
        ok = grow_disk(rec, s.disk_size, error);
    if (ok) {
        struct vm_record before = *rec;          /* shallow: restores the fields on failure */
        if (s.has_memory)
            rec->memory = s.memory;
        if (s.has_cpus)
            rec->cpus = s.cpus;
        if (s.net)
            rec->net = *s.net ? g_strdup(s.net) : NULL;
        if (s.sound)
            rec->sound = *s.sound ? g_strdup(s.sound) : NULL;
        ok = vm_record_save(rec, error);
        struct vm_record *unused = ok ? &before : rec;
        if (s.net)
            g_free(unused->net);
        if (s.sound)
            g_free(unused->sound);
        if (!ok)
            *rec = before;
    }
    g_free(s.net);
    g_free(s.sound);
    return ok;
}
