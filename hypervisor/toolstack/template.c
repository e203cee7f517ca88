#include "template.h"
#include "errors.h"
#include "core/config.h"
#include "core/size.h"

#include <string.h>

#define MAX_CPUS 64

void vm_template_free(struct vm_template *t)
{
    if (!t)
        return;
    g_free(t->id); g_free(t->name); g_free(t->os_family); g_free(t->firmware);
    g_free(t->kernel); g_free(t->initrd); g_free(t->append); g_free(t->install_media);
    g_free(t->devices); g_free(t->clock); g_free(t->needs); g_free(t->path);
    g_free(t);
}

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed))
            return true;
    return false;
}

/* A string key; when @allowed is given its value must be one of them. */
static char *get_str(GKeyFile *kf, const char *path, const char *key, bool required,
                     const char *const *allowed, GError **error)
{
    char *v = g_key_file_get_string(kf, "template", key, NULL);
    if (!v || !*v) {
        g_free(v);
        if (required)
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: missing key '%s'", path, key);
        return NULL;
    }
    if (allowed && !one_of(v, allowed)) {
        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: %s=%s is not one of %s",
                    path, key, v, list);
        g_free(v);
        return NULL;
    }
    return v;
}

static bool get_size(GKeyFile *kf, const char *path, const char *key, uint64_t min, uint64_t *out,
                     GError **error)
{
    g_autofree char *v = get_str(kf, path, key, true, NULL, error);
    if (!v)
        return false;
    if (parse_size(v, out) < 0 || *out < min) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID,
                    "template %s: %s=%s is not a size of at least %lluM (e.g. 512M, 4G)",
                    path, key, v, (unsigned long long)(min >> 20));
        return false;
    }
    return true;
}

static const char *const firmwares[] = { "direct", "bios", "uefi", "uefi-secure", NULL };
static const char *const families[] = { "linux", "bsd", "windows", "other", NULL };
static const char *const device_models[] = { "virtio", "emulated", NULL };
static const char *const clocks[] = { "utc", "localtime", NULL };
static const char *const media[] = { "none", "iso", NULL };
static const char *const known_keys[] = { "id", "name", "os-family", "firmware", "kernel", "initrd",
    "append", "install-media", "memory", "cpus", "disk-size", "devices", "clock", "needs", NULL };

struct vm_template *vm_template_load(const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: %s", path, err->message);
        return NULL;
    }
    if (!g_key_file_has_group(kf, "template")) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: no [template] group", path);
        return NULL;
    }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, "template", NULL, NULL);
    for (char **k = keys; *k; k++) {
        if (!one_of(*k, known_keys)) {
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: unknown key '%s'", path, *k);
            return NULL;
        }
    }
    g_autoptr(struct_vm_template) t = g_new0(struct vm_template, 1);
    t->path = g_strdup(path);
    if (!(t->id = get_str(kf, path, "id", true, NULL, error)) ||
        !(t->name = get_str(kf, path, "name", true, NULL, error)) ||
        !(t->os_family = get_str(kf, path, "os-family", true, families, error)) ||
        !(t->firmware = get_str(kf, path, "firmware", true, firmwares, error)) ||
        !(t->devices = get_str(kf, path, "devices", true, device_models, error)) ||
        !(t->clock = get_str(kf, path, "clock", true, clocks, error)) ||
        !get_size(kf, path, "memory", 16ULL << 20, &t->memory, error) ||
        !get_size(kf, path, "disk-size", 0, &t->disk_size, error))
        return NULL;
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *want = g_strconcat(t->id, ".template", NULL);
    if (strcmp(base, want)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: id=%s but the file is not named %s",
                    path, t->id, want);
        return NULL;
    }
    g_autofree char *cpus = get_str(kf, path, "cpus", true, NULL, error);
    if (!cpus)
        return NULL;
    char *end;
    long c = strtol(cpus, &end, 10);
    if (*end || c < 1 || c > MAX_CPUS) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID, "template %s: cpus=%s is not a number from 1 to %d",
                    path, cpus, MAX_CPUS);
        return NULL;
    }
    t->cpus = (unsigned)c;
    g_autoptr(GError) missing = NULL;
    t->install_media = get_str(kf, path, "install-media", false, media, &missing);
    if (missing) {
        g_propagate_error(error, g_steal_pointer(&missing));
        return NULL;
    }
    if (!t->install_media)
        t->install_media = g_strdup("none");
    t->needs = get_str(kf, path, "needs", false, NULL, NULL);
    if (!strcmp(t->firmware, "direct")) {
        /* Direct Linux boot: the kernel is the host's ("host") or a file. */
        if (!(t->kernel = get_str(kf, path, "kernel", true, NULL, error)))
            return NULL;
        t->initrd = get_str(kf, path, "initrd", false, NULL, NULL);
        t->append = get_str(kf, path, "append", false, NULL, NULL);
    } else if (!vm_firmware_startable(t->firmware) && !t->needs) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID,
                    "template %s: firmware=%s needs a 'needs' key saying what start lacks", path, t->firmware);
        return NULL;
    }
    return g_steal_pointer(&t);
}

bool vm_firmware_startable(const char *firmware)
{
    return strcmp(firmware, "uefi-secure") != 0;
}

const struct vm_template *vm_template_find(GPtrArray *all, const char *id)
{
    for (guint i = 0; i < all->len; i++) {
        const struct vm_template *t = all->pdata[i];
        if (!strcmp(t->id, id))
            return t;
    }
    return NULL;
}

static gint by_id(gconstpointer a, gconstpointer b)
{
    const struct vm_template *x = *(const struct vm_template **)a, *y = *(const struct vm_template **)b;
    return strcmp(x->id, y->id);
}

GPtrArray *vm_template_load_all(const char *const *dirs, GPtrArray *warnings)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)vm_template_free);
    for (; *dirs; dirs++) {
        g_autoptr(GDir) d = g_dir_open(*dirs, 0, NULL);
        const char *f;
        while (d && (f = g_dir_read_name(d))) {
            if (!g_str_has_suffix(f, ".template"))
                continue;
            g_autofree char *path = g_build_filename(*dirs, f, NULL);
            GError *err = NULL;
            struct vm_template *t = vm_template_load(path, &err);
            if (!t) {
                if (warnings)
                    g_ptr_array_add(warnings, g_strdup(err->message));
                g_error_free(err);
            } else if (vm_template_find(all, t->id)) {
                vm_template_free(t);        /* a user's template overrides a shipped one */
            } else {
                g_ptr_array_add(all, t);
            }
        }
    }
    g_ptr_array_sort(all, by_id);
    return all;
}
