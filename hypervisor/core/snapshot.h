/* Live snapshots of a whole VM: vCPUs, KVM's irqchip/PIT/clock, every
 * device's registered state (state.h) and guest RAM. A snapshot is two
 * files: PATH (the state file, see snapshot_file.h) and PATH.ram (the RAM
 * image, sparse). Saving pauses the vCPUs, drains the devices, writes RAM
 * then the state file (each through a temporary file and rename, so a
 * snapshot that exists is complete), and resumes. Loading checks the whole
 * state file and the RAM file's identity first; a file that does not fit
 * this VM is refused with the VM untouched. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;

enum snapshot_ram_mode { SNAPSHOT_RAM_AUTO, SNAPSHOT_RAM_LAZY, SNAPSHOT_RAM_COPY };

struct snapshot_request {
    const char *path;
    bool stay_paused;                /* leave the VM paused afterwards */
    enum snapshot_ram_mode ram;      /* load: AUTO maps lazily unless a display shares RAM */
    /* Called with the VM paused and drained, before anything is saved or
     * loaded (disk snapshots); a failure cancels the operation. */
    int (*while_paused)(void *opaque, char **error);
    /* May be NULL: a save failed after while_paused succeeded (still paused). */
    void (*undo)(void *opaque);
    void *opaque;
};

struct snapshot_result {
    double pause_ms;                 /* vCPUs stopped to running again */
    double total_ms;
    uint64_t ram_bytes;              /* save: RAM data written (zero pages skipped) */
    bool lazy;                       /* load: RAM mapped lazily */
};

/* Both from the I/O thread (the control socket) with the VM running or paused. */
int vm_snapshot_save(struct vm *vm, const struct snapshot_request *req, struct snapshot_result *res,
                     char **error);
int vm_snapshot_load(struct vm *vm, const struct snapshot_request *req, struct snapshot_result *res,
                     char **error);
/* --restore: before the vCPUs first run. */
int vm_snapshot_restore(struct vm *vm, const char *path, char **error);
/* NULL if every device can be saved, else a message naming one that cannot. */
char *vm_snapshot_unsupported(struct vm *vm);
