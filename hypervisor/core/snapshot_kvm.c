/* What KVM holds for us: each vCPU's registers, FPU/XSAVE, MSRs, LAPIC,
 * pending events and run state; the in-kernel PICs, IOAPIC and PIT; the
 * kvmclock. Saved as sections "vcpu.N", "kvm.irqchip", "kvm.pit",
 * "kvm.clock" (versioned structs of KVM's own, stable ABI types). */
#include "snapshot_int.h"
#include "vcpu.h"
#include "vm.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define VCPU_STATE_VERSION 1
#define VCPU_MAX_MSRS 64

struct vcpu_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_fpu fpu;              /* used only when KVM has no XSAVE */
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_debugregs debugregs;
    uint32_t have_xsave, have_xcrs;
    uint32_t nmsrs, pad;
    struct kvm_msr_entry msrs[VCPU_MAX_MSRS];
};

#define IRQCHIP_STATE_VERSION 1
struct irqchip_state {
    struct kvm_irqchip chip[3];      /* PIC master, PIC slave, IOAPIC */
};

#define PIT_STATE_VERSION 1
#define CLOCK_STATE_VERSION 1

/* MSRs a guest's running state depends on; only those KVM lists are saved.
 * ASYNC_PF_INT precedes ASYNC_PF_EN (KVM checks the vector on enable);
 * TSC_DEADLINE is written after the LAPIC, whose restore disarms it. */
static const uint32_t saved_msrs[] = {
    0x00000010, /* TSC */            0x0000003b, /* TSC_ADJUST */
    0x00000048, /* SPEC_CTRL */      0x00000174, 0x00000175, 0x00000176, /* SYSENTER */
    0x000001a0, /* MISC_ENABLE */    0x00000277, /* PAT */
    0x000002ff, /* MTRR def type */  0x00000250, 0x00000258, 0x00000259,
    0x00000268, 0x00000269, 0x0000026a, 0x0000026b, 0x0000026c, 0x0000026d, 0x0000026e, 0x0000026f,
    0x00000200, 0x00000201, 0x00000202, 0x00000203, 0x00000204, 0x00000205, 0x00000206, 0x00000207,
    0x00000208, 0x00000209, 0x0000020a, 0x0000020b, 0x0000020c, 0x0000020d, 0x0000020e, 0x0000020f,
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR LSTAR CSTAR SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */ 0xc0000103, /* TSC_AUX */
    0x00000011, 0x00000012,          /* kvmclock (old MSRs) */
    0x4b564d00, 0x4b564d01,          /* kvmclock wall clock, system time */
    0x4b564d06, 0x4b564d02,          /* async PF interrupt, enable */
    0x4b564d03, 0x4b564d04, 0x4b564d05, /* steal time, PV EOI, poll control */
    0x000006e0, /* TSC_DEADLINE */
};
_Static_assert(sizeof(saved_msrs) / sizeof(saved_msrs[0]) <= VCPU_MAX_MSRS, "saved_msrs fits");

/* The subset of saved_msrs this KVM knows, found once. */
static uint32_t msr_list[VCPU_MAX_MSRS];
static unsigned msr_count;
static bool msr_list_ready;

static void msr_list_init(struct vm *vm)
{
    if (msr_list_ready)
        return;
    struct kvm_msr_list probe = { .nmsrs = 0 };
    ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);   /* E2BIG, fills nmsrs */
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    if (l) {
        l->nmsrs = probe.nmsrs;
        if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0) {
            for (unsigned i = 0; i < sizeof(saved_msrs) / sizeof(saved_msrs[0]); i++)
                for (unsigned j = 0; j < l->nmsrs; j++)
                    if (l->indices[j] == saved_msrs[i]) {
                        msr_list[msr_count++] = saved_msrs[i];
                        break;
                    }
        }
        free(l);
    }
    msr_list_ready = true;
}

static int vcpu_get_msrs(struct vcpu *v, struct vcpu_state *s)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[VCPU_MAX_MSRS];
    } m;
    unsigned n = 0;
    for (unsigned i = 0; i < msr_count; i++) {
        memset(&m, 0, sizeof(m));
        m.hdr.nmsrs = 1;
        m.e[0].index = msr_list[i];
        /* One at a time: KVM stops a batch at the first MSR it will not read
         * for this CPU (e.g. SPEC_CTRL where the host lacks it). */
        if (ioctl(v->fd, KVM_GET_MSRS, &m) == 1)
            s->msrs[n++] = m.e[0];
    }
    s->nmsrs = n;
    return 0;
}

static int vcpu_save(struct vcpu *v, struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    if (ioctl(v->fd, KVM_GET_REGS, &s->regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s->sregs) < 0 ||
        ioctl(v->fd, KVM_GET_LAPIC, &s->lapic) < 0 || ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
        ioctl(v->fd, KVM_GET_MP_STATE, &s->mp) < 0 || ioctl(v->fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
        return -errno;
    s->have_xsave = ioctl(v->fd, KVM_GET_XSAVE, &s->xsave) == 0;
    if (!s->have_xsave && ioctl(v->fd, KVM_GET_FPU, &s->fpu) < 0)
        return -errno;
    s->have_xcrs = ioctl(v->fd, KVM_GET_XCRS, &s->xcrs) == 0;
    return vcpu_get_msrs(v, s);
}

/* Order matters: SREGS (APIC base, mode) before the LAPIC, the LAPIC before
 * the MSRs (TSC deadline), events last so a pending exception or NMI lands
 * on the final state. */
static int vcpu_load(struct vcpu *v, const struct vcpu_state *s)
{
    struct kvm_vcpu_events ev = s->events;
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
               KVM_VCPUEVENT_VALID_SHADOW | (s->events.flags & KVM_VCPUEVENT_VALID_SMM);
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[VCPU_MAX_MSRS];
    } m = { .hdr.nmsrs = s->nmsrs };
    memcpy(m.e, s->msrs, s->nmsrs * sizeof(m.e[0]));
    if (ioctl(v->fd, KVM_SET_REGS, &s->regs) < 0)
        return -errno;
    if (s->have_xsave ? ioctl(v->fd, KVM_SET_XSAVE, &s->xsave) < 0 : ioctl(v->fd, KVM_SET_FPU, &s->fpu) < 0)
        return -errno;
    if (s->have_xcrs && ioctl(v->fd, KVM_SET_XCRS, &s->xcrs) < 0)
        return -errno;
    if (ioctl(v->fd, KVM_SET_SREGS, &s->sregs) < 0 || ioctl(v->fd, KVM_SET_LAPIC, &s->lapic) < 0 ||
        ioctl(v->fd, KVM_SET_MP_STATE, &s->mp) < 0)
        return -errno;
    int r = ioctl(v->fd, KVM_SET_MSRS, &m);
    if (r < 0)
        return -errno;
    if (r != (int)s->nmsrs) {
        fprintf(stderr, "domus-vmm: vCPU %u: KVM refused MSR 0x%x of the snapshot\n", v->index,
                s->msrs[r].index);
        return -EINVAL;
    }
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0 || ioctl(v->fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
        return -errno;
    return 0;
}

int snapshot_kvm_save(struct vm *vm, struct snap_writer *w, char **error)
{
    msr_list_init(vm);
    struct vcpu_state *vs = malloc(sizeof(*vs));
    if (!vs)
        return -ENOMEM;
    int r = 0;
    char name[STATE_NAME_MAX];
    for (unsigned i = 0; i < vm->ncpus && r == 0; i++) {
        if ((r = vcpu_save(vm->vcpus[i], vs)) < 0) {
            set_error(error, "cannot read the state of vCPU %u: %s", i, strerror(-r));
            break;
        }
        snprintf(name, sizeof(name), "vcpu.%u", i);
        snap_writer_add(w, name, VCPU_STATE_VERSION, vs, sizeof(*vs));
    }
    free(vs);
    if (r < 0)
        return r;

    struct irqchip_state ic = { .chip = { { .chip_id = KVM_IRQCHIP_PIC_MASTER },
                                          { .chip_id = KVM_IRQCHIP_PIC_SLAVE },
                                          { .chip_id = KVM_IRQCHIP_IOAPIC } } };
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    memset(&pit, 0, sizeof(pit));
    memset(&clock, 0, sizeof(clock));
    for (unsigned i = 0; i < 3; i++)
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &ic.chip[i]) < 0)
            r = -errno;
    if (r == 0 && ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
        r = -errno;
    if (r == 0 && ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
        r = -errno;
    if (r < 0) {
        set_error(error, "cannot read the interrupt controllers, PIT or clock: %s", strerror(-r));
        return r;
    }
    clock.flags = 0;                 /* restored as a plain value */
    snap_writer_add(w, "kvm.irqchip", IRQCHIP_STATE_VERSION, &ic, sizeof(ic));
    snap_writer_add(w, "kvm.pit", PIT_STATE_VERSION, &pit, sizeof(pit));
    snap_writer_add(w, "kvm.clock", CLOCK_STATE_VERSION, &clock, sizeof(clock));
    return 0;
}

static const struct {
    const char *name;
    uint32_t version;
    size_t size;
} kvm_sections[] = {
    { "kvm.irqchip", IRQCHIP_STATE_VERSION, sizeof(struct irqchip_state) },
    { "kvm.pit", PIT_STATE_VERSION, sizeof(struct kvm_pit_state2) },
    { "kvm.clock", CLOCK_STATE_VERSION, sizeof(struct kvm_clock_data) },
};

static int check_section(const struct snap_image *img, const char *name, uint32_t version, size_t size,
                         char **error)
{
    const struct snap_section *s = snap_image_find(img, name);
    if (!s) {
        set_error(error, "the state file has no '%s' section", name);
        return -EINVAL;
    }
    if (s->version != version || s->len != size) {
        set_error(error, "section '%s' is version %u (%llu bytes); this domus-vmm reads version %u (%zu bytes)",
                  name, s->version, (unsigned long long)s->len, version, size);
        return -EINVAL;
    }
    return 0;
}

/* True for the sections this file owns (so the device check skips them). */
bool snapshot_kvm_owns(const char *name)
{
    if (!strncmp(name, "vcpu.", 5))
        return true;
    for (unsigned i = 0; i < sizeof(kvm_sections) / sizeof(kvm_sections[0]); i++)
        if (!strcmp(name, kvm_sections[i].name))
            return true;
    return false;
}

int snapshot_kvm_check(struct vm *vm, const struct snap_image *img, char **error)
{
    char name[STATE_NAME_MAX];
    for (unsigned i = 0; i < img->nsections; i++) {
        unsigned idx;
        if (sscanf(img->sections[i].name, "vcpu.%u", &idx) == 1 && idx >= vm->ncpus) {
            set_error(error, "the state file has vCPU %u; this VM has %u", idx, vm->ncpus);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        snprintf(name, sizeof(name), "vcpu.%u", i);
        if (check_section(img, name, VCPU_STATE_VERSION, sizeof(struct vcpu_state), error) < 0)
            return -EINVAL;
        const struct vcpu_state *vs = (const void *)snap_image_find(img, name)->data;
        if (vs->nmsrs > VCPU_MAX_MSRS) {
            set_error(error, "section '%s' lists %u MSRs", name, vs->nmsrs);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; i < sizeof(kvm_sections) / sizeof(kvm_sections[0]); i++)
        if (check_section(img, kvm_sections[i].name, kvm_sections[i].version, kvm_sections[i].size, error) < 0)
            return -EINVAL;
    return 0;
}

int snapshot_kvm_load_chips(struct vm *vm, const struct snap_image *img)
{
    struct irqchip_state ic;
    memcpy(&ic, snap_image_find(img, "kvm.irqchip")->data, sizeof(ic));
    struct kvm_pit_state2 pit;
    memcpy(&pit, snap_image_find(img, "kvm.pit")->data, sizeof(pit));
    for (unsigned i = 0; i < 3; i++)
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic.chip[i]) < 0)
            return -errno;
    return ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0 ? -errno : 0;
}

int snapshot_kvm_load_vcpus(struct vm *vm, const struct snap_image *img)
{
    struct vcpu_state *vs = malloc(sizeof(*vs));
    if (!vs)
        return -ENOMEM;
    int r = 0;
    char name[STATE_NAME_MAX];
    for (unsigned i = 0; i < vm->ncpus && r == 0; i++) {
        snprintf(name, sizeof(name), "vcpu.%u", i);
        memcpy(vs, snap_image_find(img, name)->data, sizeof(*vs));
        r = vcpu_load(vm->vcpus[i], vs);
    }
    free(vs);
    return r;
}

int snapshot_kvm_load_clock(struct vm *vm, const struct snap_image *img)
{
    struct kvm_clock_data clock;
    memcpy(&clock, snap_image_find(img, "kvm.clock")->data, sizeof(clock));
    clock.flags = 0;
    return ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? -errno : 0;
}
