/* CPUID as seen by the guest: KVM's supported set, with the topology
 * leaves rewritten so that every vCPU agrees on one socket of N cores,
 * one thread each, APIC ID = vCPU index. */
#include "vcpu.h"
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPUID_MAX_ENTRIES 256

int cpuid_init(struct vm *vm)
{
    size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return -ENOMEM;
    c->nent = CPUID_MAX_ENTRIES;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        int err = -errno;
        free(c);
        return err;
    }
    vm->cpuid = c;
    return 0;
}

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

static bool is_amd(const struct kvm_cpuid2 *c)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == 0)
            return c->entries[i].ebx == 0x68747541; /* "Auth" */
    return false;
}

int cpuid_setup_vcpu(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    size_t sz = sizeof(struct kvm_cpuid2) + vm->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = malloc(sz);
    if (!c)
        return -ENOMEM;
    memcpy(c, vm->cpuid, sz);

    unsigned n = vm->ncpus, id = vcpu->index;
    unsigned core_bits = bits_for(n);
    bool amd = is_amd(c);

    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000FFFF) | (id << 24) | ((n > 1 ? (1u << core_bits) : 1) << 16);
            e->ecx |= 1u << 31;                         /* running under a hypervisor */
            if (n > 1)
                e->edx |= 1u << 28;                     /* HTT: multiple logical CPUs per package */
            else
                e->edx &= ~(1u << 28);
            break;
        case 4:                                         /* deterministic cache parameters */
            if ((e->eax & 0x1F) == 0)
                break;
            e->eax &= 0x3FF;
            e->eax |= ((1u << core_bits) - 1) << 26;    /* cores per package - 1 */
            /* L1/L2 private to a core, L3 shared by the package */
            if (((e->eax >> 5) & 7) >= 3)
                e->eax |= ((1u << core_bits) - 1) << 14;
            break;
        case 0xB:
        case 0x1F:
            e->edx = id;
            if (e->index == 0) {                       /* SMT level: one thread per core */
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (1u << 8) | 0;
            } else if (e->index == 1) {                /* core level */
                e->eax = core_bits;
                e->ebx = n;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = 0;
                e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case 0x80000001:
            if (amd) {
                if (n > 1)
                    e->ecx |= 1u << 1;                 /* CmpLegacy */
                else
                    e->ecx &= ~(1u << 1);
            }
            break;
        case 0x80000008:
            if (amd)
                e->ecx = (core_bits << 12) | (n - 1);
            break;
        case 0x8000001E:
            e->eax = id;                               /* extended APIC ID */
            e->ebx = id & 0xFF;                        /* compute unit id; one thread per core */
            e->ecx = 0;                                /* node 0, one node */
            break;
        }
    }
    int r = ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
    free(c);
    return r;
}
