#include "irq.h"
#include "platform.h"
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSI_GSI_BASE  PLAT_IOAPIC_PINS
#define MSI_GSI_COUNT 256
#define MAX_ROUTES    (PLAT_IOAPIC_PINS + 16 + MSI_GSI_COUNT)

struct route_table {
    struct kvm_irq_routing hdr;
    struct kvm_irq_routing_entry entries[MAX_ROUTES];
};

/* KVM_SET_GSI_ROUTING replaces the whole table, so the default irqchip pins
 * KVM installs with KVM_CREATE_IRQCHIP must be re-listed by us. */
static struct route_table *routes_get(struct vm *vm)
{
    if (vm->gsi_routes)
        return vm->gsi_routes;
    struct route_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    unsigned n = 0;
    for (unsigned gsi = 0; gsi < PLAT_IOAPIC_PINS; gsi++) {
        if (gsi < 16 && gsi != 2) {
            t->entries[n++] = (struct kvm_irq_routing_entry){
                .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                               .pin = gsi % 8 } };
        }
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi } };
    }
    t->hdr.nr = n;
    vm->gsi_routes = t;
    return t;
}

static int routes_commit(struct vm *vm, struct route_table *t)
{
    return ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &t->hdr) < 0 ? -errno : 0;
}

int irq_line_set(struct vm *vm, unsigned gsi, int level)
{
    struct kvm_irq_level l = { .irq = gsi, .level = level };
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int irq_line_pulse(struct vm *vm, unsigned gsi)
{
    int r = irq_line_set(vm, gsi, 1);
    return r ? r : irq_line_set(vm, gsi, 0);
}

int irq_msi_alloc(struct vm *vm)
{
    int ret = -ENOSPC;
    pthread_mutex_lock(&vm->irq_lock);
    for (unsigned i = 0; i < MSI_GSI_COUNT; i++) {
        if (!(vm->msi_used[i / 64] & (1ULL << (i % 64)))) {
            vm->msi_used[i / 64] |= 1ULL << (i % 64);
            ret = (int)(MSI_GSI_BASE + i);
            break;
        }
    }
    pthread_mutex_unlock(&vm->irq_lock);
    return ret;
}

static void routes_remove(struct route_table *t, unsigned gsi)
{
    for (unsigned i = 0; i < t->hdr.nr; i++) {
        if (t->entries[i].gsi == gsi) {
            t->entries[i] = t->entries[--t->hdr.nr];
            return;
        }
    }
}

int irq_msi_set(struct vm *vm, unsigned gsi, uint64_t address, uint32_t data)
{
    if (gsi < MSI_GSI_BASE || gsi >= MSI_GSI_BASE + MSI_GSI_COUNT)
        return -EINVAL;
    pthread_mutex_lock(&vm->irq_lock);
    struct route_table *t = routes_get(vm);
    int ret = -ENOMEM;
    if (t) {
        routes_remove(t, gsi);
        t->entries[t->hdr.nr++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = { .address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32),
                       .data = data } };
        ret = routes_commit(vm, t);
    }
    pthread_mutex_unlock(&vm->irq_lock);
    return ret;
}

void irq_msi_free(struct vm *vm, unsigned gsi)
{
    if (gsi < MSI_GSI_BASE || gsi >= MSI_GSI_BASE + MSI_GSI_COUNT)
        return;
    pthread_mutex_lock(&vm->irq_lock);
    unsigned i = gsi - MSI_GSI_BASE;
    vm->msi_used[i / 64] &= ~(1ULL << (i % 64));
    struct route_table *t = routes_get(vm);
    if (t) {
        routes_remove(t, gsi);
        routes_commit(vm, t);
    }
    pthread_mutex_unlock(&vm->irq_lock);
}

int irq_irqfd_assign(struct vm *vm, int fd, unsigned gsi)
{
    struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi };
    return ioctl(vm->vm_fd, KVM_IRQFD, &i) < 0 ? -errno : 0;
}

int irq_irqfd_deassign(struct vm *vm, int fd, unsigned gsi)
{
    struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
    return ioctl(vm->vm_fd, KVM_IRQFD, &i) < 0 ? -errno : 0;
}

int irq_msi_signal(struct vm *vm, uint64_t address, uint32_t data)
{
    struct kvm_msi m = { .address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32),
                         .data = data };
    int r = ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m);
    return r < 0 ? -errno : 0;
}

static int ioeventfd_ctl(struct vm *vm, int fd, uint64_t addr, unsigned len, bool pio, bool deassign)
{
    struct kvm_ioeventfd e = { .addr = addr, .len = len, .fd = fd };
    if (pio)
        e.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (deassign)
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0 ? -errno : 0;
}

int ioeventfd_assign(struct vm *vm, int fd, uint64_t addr, unsigned len, bool pio)
{
    return ioeventfd_ctl(vm, fd, addr, len, pio, false);
}

int ioeventfd_deassign(struct vm *vm, int fd, uint64_t addr, unsigned len, bool pio)
{
    return ioeventfd_ctl(vm, fd, addr, len, pio, true);
}
