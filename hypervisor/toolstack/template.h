/* VM templates: GKeyFile profiles ([template] group) shipped in the data
 * dir and added by users in $XDG_DATA_HOME/domus/templates. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_template {
    char *id, *name, *os_family;
    char *firmware;                  /* direct, bios, uefi, uefi-secure */
    char *kernel, *initrd, *append;  /* direct boot: "host" / "demo" are built in */
    char *install_media;             /* none or iso */
    uint64_t memory, disk_size;
    unsigned cpus;
    char *devices;                   /* virtio or emulated */
    char *clock;                     /* utc or localtime */
    char *needs;                     /* what start lacks (uefi-secure templates) */
    char *path;
};

/* Loads and checks one template file; the error names the file and the key. */
struct vm_template *vm_template_load(const char *path, GError **error);
void vm_template_free(struct vm_template *t);
typedef struct vm_template struct_vm_template;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(struct_vm_template, vm_template_free)
/* Whether domus-vmm can boot a VM with this firmware today: everything
 * but uefi-secure (no Secure Boot keys, no TPM yet). The one place this
 * rule is spelled out, for templates and VMs (vm_record_startable). */
bool vm_firmware_startable(const char *firmware);

/* Every template in @dirs (earlier dirs win for a duplicate id). Bad files
 * are skipped, each with a warning appended to @warnings (may be NULL). */
GPtrArray *vm_template_load_all(const char *const *dirs, GPtrArray *warnings);
const struct vm_template *vm_template_find(GPtrArray *all, const char *id);
