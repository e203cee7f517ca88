/* Port-I/O and MMIO dispatch from vCPU exits to device callbacks.
 * Registration may happen at run time (a guest moving a PCI BAR), so the
 * range table is guarded by a rwlock; devices lock their own state. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct io_ops {
    /* offset is relative to the registered base; size is 1, 2, 4 or 8 */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

struct io_range {
    uint64_t base, len;
    const struct io_ops *ops;
    void *opaque;
};

struct io_bus {
    pthread_rwlock_t lock;
    struct io_range *ranges;         /* sorted by base, non-overlapping */
    unsigned count, cap;
    const char *name;
};

void io_bus_init(struct io_bus *bus, const char *name);
void io_bus_destroy(struct io_bus *bus);
/* -EEXIST if it overlaps an existing range, -EINVAL on a zero length. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
                    const struct io_ops *ops, void *opaque);
/* Removes the range starting at @base; -ENOENT if none. */
int io_bus_unregister(struct io_bus *bus, uint64_t base);
/* Dispatches one access. Returns false if nothing is mapped there (reads
 * then yield all ones, writes are dropped, as on a PC). */
bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned size);
bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned size);
