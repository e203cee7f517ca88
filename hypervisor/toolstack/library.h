/* The VM library: $XDG_DATA_HOME/domus/vms/NAME/ holds vm.conf (GKeyFile),
 * disks, snapshots/, nvram/ and logs/. Every write is atomic (a temporary
 * file or directory, then rename), so a crash never leaves half a config
 * or half a VM behind. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_template;

#define VM_MAX_DISK_SIZE (64ULL << 40)

struct vm_record {
    char *name, *dir;
    char *template_id, *os_family;
    uint64_t memory;
    unsigned cpus;
    char *firmware, *kernel, *initrd, *append, *iso;
    char *devices, *clock, *needs;
    char *net, *sound;               /* domus-vmm --net / --sound; NULL: none */
    char **disks;                    /* file names inside dir */
    unsigned cpu_weight;             /* cgroup cpu.weight, 1-10000 (default 100) */
    unsigned cpu_quota;              /* percent of one CPU, 0 = unlimited */
    uint64_t memory_limit;           /* bytes, 0 = guest memory + overhead */
    int64_t created;                 /* unix seconds */
};

/* Directories, created on demand. Paths honour $XDG_DATA_HOME / $XDG_RUNTIME_DIR. */
char *library_vms_dir(void);
char *library_runtime_dir(const char *name);
char *library_cache_dir(void);

/* Names are what a user types: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool vm_name_valid(const char *name, GError **error);

struct vm_record *vm_record_load(const char *dir, GError **error);
/* Atomically replaces dir/vm.conf. */
bool vm_record_save(const struct vm_record *rec, GError **error);
void vm_record_free(struct vm_record *rec);
typedef struct vm_record struct_vm_record;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(struct_vm_record, vm_record_free)
uint64_t vm_record_memory_limit(const struct vm_record *rec);
/* Whether domus-vmm can start it (vm_firmware_startable); when not,
 * @needs (if given) is what it lacks, as its template says. */
bool vm_record_startable(const struct vm_record *rec, const char **needs);

/* A new record from a template with the user's overrides (0/NULL keeps the template's). */
struct vm_record *vm_record_from_template(const char *name, const struct vm_template *t,
                                          uint64_t memory, unsigned cpus, const char *iso);

/* Builds the VM's directory under a temporary name, then renames it into
 * place; @populate fills it (disks, initrd). Fails with EXISTS when the name is taken. */
typedef bool (*vm_populate_fn)(struct vm_record *rec, const char *tmpdir, void *opaque, GError **error);
bool library_create(struct vm_record *rec, vm_populate_fn populate, void *opaque, GError **error);
bool library_delete(const char *name, GError **error);

/* Copies a file keeping holes (and reflinks where the filesystem can). */
bool copy_sparse(const char *src, const char *dst, GError **error);
/* A qcow2 disk image of @size bytes (what create makes: it can hold
 * snapshots), or an overlay of @backing (size 0: the backing file's). */
bool create_qcow2_disk(const char *path, uint64_t size, const char *backing, GError **error);
/* A raw disk image of @size bytes, all hole. */
bool create_raw_disk(const char *path, uint64_t size, GError **error);
