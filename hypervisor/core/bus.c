#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void io_bus_init(struct io_bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    pthread_rwlock_init(&bus->lock, NULL);
    bus->name = name;
}

void io_bus_destroy(struct io_bus *bus)
{
    free(bus->ranges);
    pthread_rwlock_destroy(&bus->lock);
    memset(bus, 0, sizeof(*bus));
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
                    const struct io_ops *ops, void *opaque)
{
    if (len == 0 || base + len < base)
        return -EINVAL;
    pthread_rwlock_wrlock(&bus->lock);
    unsigned i = 0;
    while (i < bus->count && bus->ranges[i].base < base)
        i++;
    if ((i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base) ||
        (i < bus->count && base + len > bus->ranges[i].base)) {
        pthread_rwlock_unlock(&bus->lock);
        return -EEXIST;
    }
    if (bus->count == bus->cap) {
        unsigned cap = bus->cap ? bus->cap * 2 : 16;
        struct io_range *r = realloc(bus->ranges, cap * sizeof(*r));
        if (!r) {
            pthread_rwlock_unlock(&bus->lock);
            return -ENOMEM;
        }
        bus->ranges = r;
        bus->cap = cap;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->count - i) * sizeof(*bus->ranges));
    bus->ranges[i] = (struct io_range){ .base = base, .len = len, .ops = ops, .opaque = opaque };
    bus->count++;
    pthread_rwlock_unlock(&bus->lock);
    return 0;
}

int io_bus_unregister(struct io_bus *bus, uint64_t base)
{
    int ret = -ENOENT;
    pthread_rwlock_wrlock(&bus->lock);
    for (unsigned i = 0; i < bus->count; i++) {
        if (bus->ranges[i].base == base) {
            memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->count - i - 1) * sizeof(*bus->ranges));
            bus->count--;
            ret = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&bus->lock);
    return ret;
}

/* Binary search; caller holds the read lock. */
static const struct io_range *io_bus_find(struct io_bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const struct io_range *r = &bus->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* Devices live as long as the VM, so a range's ops/opaque stay valid after
 * the lock is dropped. Calling the device without the lock matters: a PCI
 * config write may move a BAR and so take the write lock itself. */
static bool io_bus_lookup(struct io_bus *bus, uint64_t addr, struct io_range *out)
{
    pthread_rwlock_rdlock(&bus->lock);
    const struct io_range *r = io_bus_find(bus, addr);
    if (r)
        *out = *r;
    pthread_rwlock_unlock(&bus->lock);
    return r != NULL;
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned size)
{
    struct io_range r;
    uint64_t v = ~0ULL;
    bool found = io_bus_lookup(bus, addr, &r);
    if (found && r.ops->read)
        v = r.ops->read(r.opaque, addr - r.base, size);
    memcpy(data, &v, size);
    return found;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned size)
{
    struct io_range r;
    uint64_t v = 0;
    memcpy(&v, data, size);
    bool found = io_bus_lookup(bus, addr, &r);
    if (found && r.ops->write)
        r.ops->write(r.opaque, addr - r.base, v, size);
    return found;
}
