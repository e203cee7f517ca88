/* The firmware debug port (0x402, QEMU's "debugcon"): SeaBIOS and OVMF
 * write their log there a byte at a time, after checking that a read
 * returns 0xE9. Only present with --firmware-log, so firmware without a
 * reader does not spend an exit per character. */
#include "devices.h"
#include "core/bus.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEBUGCON_PORT  0x402
#define DEBUGCON_MAGIC 0xE9

static uint64_t debugcon_read(void *opaque, uint64_t offset, unsigned size)
{
    return DEBUGCON_MAGIC;
}

static void debugcon_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    FILE *f = opaque;
    for (unsigned i = 0; i < size; i++)
        fputc((int)(uint8_t)(value >> (8 * i)), f);
}

static const struct io_ops debugcon_ops = { .read = debugcon_read, .write = debugcon_write };

/* Nothing to save (the log file is the host's), but a snapshot must know
 * the port is covered. */
static long debugcon_save(void *opaque, void *buf, size_t max) { return 0; }
static int debugcon_load(void *opaque, const void *buf, size_t len) { return len ? -EINVAL : 0; }
static const struct state_ops debugcon_state_ops = { .version = 1, .save = debugcon_save, .load = debugcon_load };

int debugcon_create(struct vm *vm, const char *path)
{
    /* After a guest reboot (the VMM re-executes) the log goes on. */
    FILE *f = fopen(path, getenv("DOMUS_VMM_REBOOTED") ? "ae" : "we");
    if (!f) {
        int err = -errno;
        fprintf(stderr, "domus-vmm: --firmware-log %s: %s\n", path, strerror(errno));
        return err;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    int r = io_bus_register(&vm->pio, DEBUGCON_PORT, 1, &debugcon_ops, f);
    if (r < 0) {
        fclose(f);
        return r;
    }
    return vm_state_register(vm, "debugcon", &debugcon_state_ops, f);
}
