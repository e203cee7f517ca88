/* Device state for snapshots, Firecracker style: every device registers a
 * name, a version and save/load callbacks for a state struct of its own.
 * core/snapshot.c writes each as a CRC'd section of the state file and
 * refuses a snapshot while any device on the buses has not registered.
 *
 * Rules for a device's state struct:
 * - fixed-size fields (uint32_t, uint8_t[]...), no pointers, no fds;
 * - bump the version whenever its layout or meaning changes: a file with
 *   another version is refused as a whole, before anything is touched;
 * - load() checks everything first and changes nothing when it returns an
 *   error; after applying it re-drives what lives outside the struct
 *   (interrupt lines, timers, MSI routes, ioeventfds).
 * save() and load() run with every vCPU stopped and quiesce() already
 * called, on the I/O thread (so no queue handler runs meanwhile). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct vm;

#define STATE_NAME_MAX 32            /* including the NUL */

struct state_ops {
    uint32_t version;
    /* Writes the state to @buf (at most @max bytes); returns its length,
     * -ENOSPC when @max is too small (called again with more), or -errno. */
    long (*save)(void *opaque, void *buf, size_t max);
    /* Applies @len bytes saved by save() of this version; -errno (nothing
     * changed) if they do not fit this device. */
    int (*load)(void *opaque, const void *buf, size_t len);
    /* May be NULL: finishes in-flight work (disk requests, held buffers) so
     * that what save() sees is final. Returns -errno to refuse the snapshot. */
    int (*quiesce)(void *opaque);
    /* May be NULL: called after a load once everything -- guest RAM and
     * vCPUs included -- is back, before the vCPUs run: re-drives what is
     * derived from guest RAM (a display's host copies of guest pixels). */
    void (*loaded)(void *opaque);
};

/* Registers @opaque's state as @name ("serial", "virtio-blk"...; ".1",
 * ".2"... is appended to repeats). @opaque also counts as the owner of any
 * I/O range or PCI function registered with it. @ops NULL registers a
 * device that cannot be saved: snapshots are then refused naming it.
 * Returns 0 or -errno. */
int vm_state_register(struct vm *vm, const char *name, const struct state_ops *ops, void *opaque);
/* Another opaque (a BAR's, a second port range's) that belongs to an
 * already registered device. */
void vm_state_claim(struct vm *vm, const void *opaque);

/* Helpers for fixed-size structs: save copies, load checks the size. */
long state_save_struct(void *buf, size_t max, const void *s, size_t size);
int state_check_size(size_t len, size_t size);
