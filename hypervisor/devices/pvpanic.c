/* pvpanic (PCI 1b36:0011): the guest kernel's panic notifier writes a bit
 * to BAR 0, so a panic is reported to the user (and exit status 3) instead
 * of a guest that silently hangs or reboots in a loop. Linux's driver is
 * pvpanic-pci; it reads the byte first to learn which events we accept. */
#include "devices.h"
#include "core/state.h"
#include "core/vm.h"
#include "pci/pci.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>

#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)

struct pvpanic {
    struct pci_device pci;
    struct vm *vm;
};

static uint64_t pvpanic_read(void *opaque, uint64_t offset, unsigned size)
{
    return offset == 0 ? (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED) : 0;
}

static void pvpanic_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pvpanic *p = opaque;
    if (offset != 0)
        return;
    if (value & PVPANIC_PANICKED) {
        fprintf(stderr, "domus-vmm: the guest kernel panicked\n");
        vm_request(p->vm, VM_REQ_CRASH);
    } else if (value & PVPANIC_CRASH_LOADED) {
        /* A crash kernel took over: it will write a dump and reboot itself. */
        fprintf(stderr, "domus-vmm: the guest kernel crashed; its crash kernel is running\n");
    }
}

static const struct io_ops pvpanic_ops = { .read = pvpanic_read, .write = pvpanic_write };

/* Nothing but its PCI header, which the "pci" section carries. */
static long pvpanic_state_save(void *opaque, void *buf, size_t max)
{
    return 0;
}

static int pvpanic_state_load(void *opaque, const void *buf, size_t len)
{
    return len == 0 ? 0 : -EINVAL;
}

static const struct state_ops pvpanic_state_ops = {
    .version = 1, .save = pvpanic_state_save, .load = pvpanic_state_load,
};

int pvpanic_create(struct vm *vm)
{
    struct pvpanic *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->vm = vm;
    pci_device_init(&p->pci, "pvpanic", 0x1B36, 0x0011, 0x088000, 1, 0x1AF4, 0x1100);
    pci_device_set_bar(&p->pci, 0, 16, 0, &pvpanic_ops, p);
    int r = pci_bus_add(vm->pci, &p->pci);
    if (r < 0) {
        free(p);
        return r;
    }
    return vm_state_register(vm, "pvpanic", &pvpanic_state_ops, p);
}
