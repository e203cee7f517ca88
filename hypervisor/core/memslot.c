#include "memslot.h"
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>

/* RAM uses slots 0..; ours start high so RAM splits and other users of
 * low slot numbers never collide with them. */
#define SLOT_FIRST 32
#define SLOT_MAX   32

struct memslot {
    bool used, mapped;
    unsigned flags;
    uint64_t gpa, size;
    void *host;
};

static struct memslot slots[SLOT_MAX];
static unsigned ram_slots_extra;     /* RAM pieces added by vm_ram_hole() */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

static int set_region(struct vm *vm, unsigned id, uint64_t gpa, uint64_t size, void *host, unsigned flags)
{
    struct kvm_userspace_memory_region reg = {
        .slot = id,
        .flags = ((flags & MEMSLOT_DIRTY_LOG) ? KVM_MEM_LOG_DIRTY_PAGES : 0) |
                 ((flags & MEMSLOT_READONLY) ? KVM_MEM_READONLY : 0),
        .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)host };
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0 ? -errno : 0;
}

int vm_memslot_add(struct vm *vm, uint64_t gpa, uint64_t size, void *host, unsigned flags)
{
    if (!size || (size & 0xFFF) || ((uintptr_t)host & 0xFFF))
        return -EINVAL;
    if ((flags & MEMSLOT_READONLY) && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
        return -ENOTSUP;
    pthread_mutex_lock(&slot_lock);
    int id = -ENOSPC;
    for (int i = 0; i < SLOT_MAX; i++)
        if (!slots[i].used) {
            id = i;
            break;
        }
    if (id >= 0) {
        slots[id] = (struct memslot){ .used = true, .size = size, .host = host, .flags = flags };
        pthread_mutex_unlock(&slot_lock);
        int r = gpa == MEMSLOT_UNMAPPED ? 0 : vm_memslot_move(vm, id, gpa);
        return r < 0 && r != -EEXIST ? r : id;
    }
    pthread_mutex_unlock(&slot_lock);
    return id;
}

int vm_memslot_move(struct vm *vm, int id, uint64_t gpa)
{
    if (id < 0 || id >= SLOT_MAX)
        return -EINVAL;
    pthread_mutex_lock(&slot_lock);
    struct memslot *s = &slots[id];
    int r = 0;
    if (!s->used || (gpa != MEMSLOT_UNMAPPED && (gpa & 0xFFF))) {
        r = -EINVAL;
    } else if (!s->mapped || s->gpa != gpa) {
        /* KVM cannot move a slot onto a range that overlaps its old one, so
         * a move is a delete and a create. */
        if (s->mapped)
            set_region(vm, SLOT_FIRST + (unsigned)id, s->gpa, 0, s->host, 0);
        s->mapped = false;
        if (gpa != MEMSLOT_UNMAPPED) {
            r = set_region(vm, SLOT_FIRST + (unsigned)id, gpa, s->size, s->host, s->flags);
            if (r == 0) {
                s->mapped = true;
                s->gpa = gpa;
            }
        }
    }
    pthread_mutex_unlock(&slot_lock);
    return r;
}

int vm_memslot_dirty(struct vm *vm, int id, uint64_t *bitmap)
{
    if (id < 0 || id >= SLOT_MAX)
        return -EINVAL;
    pthread_mutex_lock(&slot_lock);
    int r = -ENOENT;
    if (slots[id].used && slots[id].mapped && (slots[id].flags & MEMSLOT_DIRTY_LOG)) {
        struct kvm_dirty_log log = { .slot = SLOT_FIRST + (unsigned)id, .dirty_bitmap = bitmap };
        r = ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&slot_lock);
    return r;
}

int vm_ram_hole(struct vm *vm, uint64_t gpa, uint64_t size)
{
    struct guest_mem *m = &vm->mem;
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct guest_mem_region *rg = &m->regions[i];
        if (gpa < rg->gpa || gpa - rg->gpa >= rg->size)
            continue;
        uint64_t off = gpa - rg->gpa;
        if (size > rg->size - off || (gpa & 0xFFF) || (size & 0xFFF))
            return -EINVAL;
        uint64_t tail = rg->size - off - size;
        /* Slot i shrinks to the part below the hole; the part above gets a
         * slot of its own, numbered after RAM's and below ours. */
        int r = set_region(vm, i, rg->gpa, 0, rg->host, 0);
        if (r == 0 && off)
            r = set_region(vm, i, rg->gpa, off, rg->host, 0);
        if (r == 0 && tail) {
            if (m->nregions + ram_slots_extra >= SLOT_FIRST)
                return -ENOSPC;
            r = set_region(vm, m->nregions + ram_slots_extra++, gpa + size, tail, rg->host + off + size, 0);
        }
        return r;
    }
    return -ENOENT;
}
