#include "pflash.h"
#include "core/bus.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CMD_READ_ARRAY      0xFF
#define CMD_READ_ARRAY_ALT  0x00
#define CMD_PROGRAM         0x10
#define CMD_PROGRAM_ALT     0x40
#define CMD_ERASE           0x20
#define CMD_ERASE_CONFIRM   0xD0
#define CMD_CLEAR_STATUS    0x50
#define CMD_READ_STATUS     0x70
#define CMD_READ_ID         0x90
#define CMD_QUERY           0x98

#define STATUS_READY        0x80
#define STATUS_ERASE_ERROR  0x20
#define ID_MANUFACTURER     0x89     /* Intel */
#define ID_DEVICE           0x18

enum pflash_mode { MODE_ARRAY, MODE_STATUS, MODE_ID };

struct pflash {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t *mem;
    uint64_t gpa, size;
    unsigned slot;
    enum pflash_mode mode;
    uint8_t pending;                 /* first cycle of a two-cycle command, 0 if none */
    uint8_t status;
};

/* Array mode: the memory is a slot (reads never exit); else the slot is
 * gone and every access comes to pflash_read. Caller holds the lock. */
static void set_mode(struct pflash *f, enum pflash_mode mode)
{
    if ((f->mode == MODE_ARRAY) == (mode == MODE_ARRAY)) {
        f->mode = mode;
        return;
    }
    f->mode = mode;
    struct kvm_userspace_memory_region reg = {
        .slot = f->slot, .flags = KVM_MEM_READONLY, .guest_phys_addr = f->gpa,
        .memory_size = mode == MODE_ARRAY ? f->size : 0,
        .userspace_addr = (uint64_t)(uintptr_t)f->mem };
    if (f->vm)
        ioctl(f->vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg);
}

static uint64_t pflash_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pflash *f = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < size && offset + i < f->size; i++) {
        uint8_t b;
        switch (f->mode) {
        case MODE_STATUS: b = f->status; break;
        case MODE_ID: b = (offset + i) % 2 ? ID_DEVICE : ID_MANUFACTURER; break;
        default: b = f->mem[offset + i]; break;
        }
        v |= (uint64_t)b << (8 * i);
    }
    pthread_mutex_unlock(&f->lock);
    return v;
}

static void pflash_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pflash *f = opaque;
    if (offset >= f->size || size > f->size - offset)
        return;
    pthread_mutex_lock(&f->lock);
    uint8_t cmd = (uint8_t)value;
    if (f->pending == CMD_PROGRAM) {
        /* The data cycle: the bytes go straight into the store. */
        for (unsigned i = 0; i < size; i++)
            f->mem[offset + i] = (uint8_t)(value >> (8 * i));
        f->pending = 0;
        f->status |= STATUS_READY;
    } else if (f->pending == CMD_ERASE) {
        f->pending = 0;
        if (cmd == CMD_ERASE_CONFIRM) {
            memset(f->mem + (offset & ~(uint64_t)(PFLASH_BLOCK_SIZE - 1)), 0xFF, PFLASH_BLOCK_SIZE);
            f->status |= STATUS_READY;
        } else {
            f->status |= STATUS_ERASE_ERROR;
        }
    } else {
        switch (cmd) {
        case CMD_PROGRAM:
        case CMD_PROGRAM_ALT:
            f->pending = CMD_PROGRAM;
            break;
        case CMD_ERASE:
            f->pending = CMD_ERASE;
            break;
        case CMD_CLEAR_STATUS:
            f->status = 0;
            set_mode(f, MODE_ARRAY);
            break;
        case CMD_READ_STATUS:
            set_mode(f, MODE_STATUS);
            break;
        case CMD_READ_ID:
        case CMD_QUERY:
            set_mode(f, MODE_ID);
            break;
        default:                     /* read array, and anything we do not know */
            set_mode(f, MODE_ARRAY);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

static const struct io_ops pflash_ops = { .read = pflash_read, .write = pflash_write };

/* ---- snapshots: the command state and the store's contents, so the
 * variables a reverted guest sees are the ones it had (with --nvram the
 * file gets them back too, as disks get their snapshot back) ---- */

#define PFLASH_STATE_VERSION 1
struct pflash_state {
    uint32_t version;
    uint8_t mode, pending, status, pad;
    uint64_t size;
    /* then @size bytes of the store */
};

long pflash_state_save(struct pflash *f, void *buf, size_t max)
{
    size_t len = sizeof(struct pflash_state) + f->size;
    if (max < len)
        return -ENOSPC;
    pthread_mutex_lock(&f->lock);
    struct pflash_state s = { .version = PFLASH_STATE_VERSION, .mode = (uint8_t)f->mode,
                              .pending = f->pending, .status = f->status, .size = f->size };
    memcpy(buf, &s, sizeof(s));
    memcpy((uint8_t *)buf + sizeof(s), f->mem, f->size);
    pthread_mutex_unlock(&f->lock);
    return (long)len;
}

int pflash_state_load(struct pflash *f, const void *buf, size_t len)
{
    struct pflash_state s;
    if (len != sizeof(s) + f->size)
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    if (s.version != PFLASH_STATE_VERSION || s.size != f->size || s.mode > MODE_ID || s.pad ||
        (s.pending != 0 && s.pending != CMD_PROGRAM && s.pending != CMD_ERASE))
        return -EINVAL;
    pthread_mutex_lock(&f->lock);
    memcpy(f->mem, (const uint8_t *)buf + sizeof(s), f->size);
    set_mode(f, (enum pflash_mode)s.mode);
    f->pending = s.pending;
    f->status = s.status;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static long save_cb(void *opaque, void *buf, size_t max) { return pflash_state_save(opaque, buf, max); }
static int load_cb(void *opaque, const void *buf, size_t len) { return pflash_state_load(opaque, buf, len); }

static const struct state_ops pflash_state_ops = {
    .version = PFLASH_STATE_VERSION, .save = save_cb, .load = load_cb,
};

int pflash_create(struct vm *vm, uint64_t gpa, uint8_t *mem, uint64_t size, unsigned slot,
                  struct pflash **out)
{
    if (!size || size % PFLASH_BLOCK_SIZE)
        return -EINVAL;
    struct pflash *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    *f = (struct pflash){ .vm = vm, .mem = mem, .gpa = gpa, .size = size, .slot = slot,
                          .mode = MODE_STATUS, .status = STATUS_READY };
    pthread_mutex_init(&f->lock, NULL);
    set_mode(f, MODE_ARRAY);
    int r = vm ? io_bus_register(&vm->mmio, gpa, size, &pflash_ops, f) : 0;
    if (r == 0 && vm && (r = vm_state_register(vm, "pflash", &pflash_state_ops, f)) < 0)
        io_bus_unregister(&vm->mmio, gpa);
    if (r < 0) {
        free(f);
        return r;
    }
    *out = f;
    return 0;
}
