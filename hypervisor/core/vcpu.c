#include "vcpu.h"
#include "platform.h"
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL SIGUSR1

#define MSR_IA32_TSC            0x00000010
#define MSR_IA32_SYSENTER_CS    0x00000174
#define MSR_IA32_SYSENTER_ESP   0x00000175
#define MSR_IA32_SYSENTER_EIP   0x00000176
#define MSR_IA32_MISC_ENABLE    0x000001A0
#define MSR_MTRR_DEF_TYPE       0x000002FF
#define MSR_STAR                0xC0000081
#define MSR_LSTAR               0xC0000082
#define MSR_CSTAR               0xC0000083
#define MSR_SYSCALL_MASK        0xC0000084
#define MSR_KERNEL_GS_BASE      0xC0000102

/* Power-on values a real CPU's firmware would leave: fast strings on,
 * MTRRs enabled with write-back as the default type (Linux disables PAT
 * and warns when MTRRs are off). */
static int vcpu_set_msrs(struct vcpu *vcpu)
{
    static const struct { uint32_t index; uint64_t value; } init[] = {
        { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
        { MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
        { MSR_KERNEL_GS_BASE, 0 }, { MSR_IA32_TSC, 0 },
        { MSR_IA32_MISC_ENABLE, 1 }, { MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
    };
    const unsigned n = sizeof(init) / sizeof(init[0]);
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[sizeof(init) / sizeof(init[0])];
    } m = { .hdr.nmsrs = n };
    for (unsigned i = 0; i < n; i++)
        m.e[i] = (struct kvm_msr_entry){ .index = init[i].index, .data = init[i].value };
    int r = ioctl(vcpu->fd, KVM_SET_MSRS, &m);
    if (r < 0)
        return -errno;
    return r == (int)n ? 0 : -EIO;
}

static int vcpu_set_fpu(struct vcpu *vcpu)
{
    struct kvm_fpu fpu = { .fcw = 0x37F, .mxcsr = 0x1F80 };
    return ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out)
{
    struct vcpu *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->vm = vm;
    v->index = index;
    v->fd = -1;
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    int r;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0) {
        r = -errno;
        goto fail;
    }
    v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        r = -errno;
        v->run = NULL;
        goto fail;
    }
    if ((r = cpuid_setup_vcpu(v)) < 0 || (r = vcpu_set_msrs(v)) < 0 || (r = vcpu_set_fpu(v)) < 0)
        goto fail;
    *out = v;
    return 0;
fail:
    vcpu_destroy(v);
    return r;
}

/* Flat identity map of the low 4 GiB with 2 MiB pages: enough for the
 * kernel, boot_params, command line and initrd (all below 4 GiB). */
static void build_identity_page_tables(struct guest_mem *mem)
{
    uint64_t *pml4 = guest_mem_ptr(mem, PLAT_PML4_ADDR, 4096);
    uint64_t *pdpt = guest_mem_ptr(mem, PLAT_PML4_ADDR + 0x1000, 4096);
    uint64_t *pd = guest_mem_ptr(mem, PLAT_PML4_ADDR + 0x2000, 4 * 4096);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = (PLAT_PML4_ADDR + 0x1000) | 0x3;          /* present, writable */
    for (unsigned i = 0; i < 4; i++)
        pdpt[i] = (PLAT_PML4_ADDR + 0x2000 + i * 0x1000) | 0x3;
    for (unsigned i = 0; i < 4 * 512; i++)
        pd[i] = ((uint64_t)i << 21) | 0x83;              /* present, writable, 2 MiB page */
}

int vcpu_setup_linux64(struct vcpu *vcpu, uint64_t entry, uint64_t boot_params)
{
    struct vm *vm = vcpu->vm;
    uint64_t *gdt = guest_mem_ptr(&vm->mem, PLAT_GDT_ADDR, 4 * 8);
    gdt[0] = 0;
    gdt[1] = 0;
    gdt[2] = 0x00AF9B000000FFFFULL;                      /* 0x10: 64-bit code */
    gdt[3] = 0x00CF93000000FFFFULL;                      /* 0x18: flat data */
    build_identity_page_tables(&vm->mem);

    struct kvm_sregs s;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
        return -errno;
    struct kvm_segment code = { .base = 0, .limit = 0xFFFFFFFF, .selector = 0x10, .type = 11,
                                .present = 1, .s = 1, .l = 1, .g = 1 };
    struct kvm_segment data = { .base = 0, .limit = 0xFFFFFFFF, .selector = 0x18, .type = 3,
                                .present = 1, .s = 1, .db = 1, .g = 1 };
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.gdt.base = PLAT_GDT_ADDR;
    s.gdt.limit = 4 * 8 - 1;
    s.cr3 = PLAT_PML4_ADDR;
    s.cr4 = 1u << 5;                                     /* PAE */
    s.cr0 = 0x80000011;                                  /* PG | ET | PE */
    s.efer = 0x500;                                      /* LME | LMA */
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0)
        return -errno;

    struct kvm_regs r = { .rflags = 2, .rip = entry, .rsi = boot_params };
    return ioctl(vcpu->fd, KVM_SET_REGS, &r) < 0 ? -errno : 0;
}

void vcpu_dump_registers(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        fprintf(stderr, "domus-vmm: vCPU %u: cannot read registers: %s\n", v->index, strerror(errno));
        return;
    }
    fprintf(stderr,
            "vCPU %u registers:\n"
            " RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
            " RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
            " R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
            " R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
            " RIP=%016llx RFLAGS=%08llx\n"
            " CS=%04x base=%016llx  SS=%04x  DS=%04x  ES=%04x  FS=%04x  GS=%04x\n"
            " CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx EFER=%08llx\n"
            " GDT=%016llx/%x IDT=%016llx/%x\n",
            v->index, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags,
            s.cs.selector, s.cs.base, s.ss.selector, s.ds.selector, s.es.selector,
            s.fs.selector, s.gs.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
            s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
}

static void vcpu_handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        if (run->io.direction == KVM_EXIT_IO_OUT)
            io_bus_write(&v->vm->pio, run->io.port, data, run->io.size);
        else
            io_bus_read(&v->vm->pio, run->io.port, data, run->io.size);
    }
}

static void vcpu_handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len;
    if (len == 0 || len > 8)
        return;
    if (run->mmio.is_write)
        io_bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
    else
        io_bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

/* Parks the thread while the main thread has asked for a pause. */
static bool vcpu_check_pause(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    if (v->pause_requested && !v->exit_requested && !v->paused) {
        /* An I/O or MMIO exit is complete only once KVM_RUN is entered
         * again; with immediate_exit set KVM finishes the instruction and
         * returns at once, so what a snapshot reads is final. A string
         * instruction may exit again: serve it and repeat. */
        pthread_mutex_unlock(&v->lock);
        for (unsigned i = 0; i < 64; i++) {
            v->run->immediate_exit = 1;
            if (ioctl(v->fd, KVM_RUN, 0) < 0)
                break;
            if (v->run->exit_reason == KVM_EXIT_IO)
                vcpu_handle_io(v);
            else if (v->run->exit_reason == KVM_EXIT_MMIO)
                vcpu_handle_mmio(v);
            else
                break;
        }
        pthread_mutex_lock(&v->lock);
    }
    while (v->pause_requested && !v->exit_requested) {
        v->paused = true;
        pthread_cond_broadcast(&v->cond);
        pthread_cond_wait(&v->cond, &v->lock);
    }
    v->paused = false;
    bool exit = v->exit_requested;
    v->run->immediate_exit = 0;
    pthread_mutex_unlock(&v->lock);
    return exit;
}

static void vcpu_crash(struct vcpu *v, const char *why)
{
    fprintf(stderr, "domus-vmm: vCPU %u: %s\n", v->index, why);
    vcpu_dump_registers(v);
    vm_request(v->vm, VM_REQ_CRASH);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (;;) {
        if (vcpu_check_pause(v))
            break;
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            char msg[96];
            snprintf(msg, sizeof(msg), "KVM_RUN failed: %s", strerror(errno));
            vcpu_crash(v, msg);
            break;
        }
        struct kvm_run *run = v->run;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            vcpu_handle_io(v);
            break;
        case KVM_EXIT_MMIO:
            vcpu_handle_mmio(v);
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_HLT:
            /* With the in-kernel LAPIC a HLT exit only happens if the guest
             * halted with interrupts off for good: nothing will wake it. */
            vcpu_crash(v, "halted with interrupts disabled");
            goto out;
        case KVM_EXIT_SHUTDOWN:
            vcpu_crash(v, "triple fault (shutdown)");
            goto out;
        case KVM_EXIT_FAIL_ENTRY: {
            char msg[96];
            snprintf(msg, sizeof(msg), "VM entry failed (hardware reason 0x%llx)",
                     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            vcpu_crash(v, msg);
            goto out;
        }
        case KVM_EXIT_INTERNAL_ERROR: {
            char msg[96];
            snprintf(msg, sizeof(msg), "KVM internal error (suberror %u)", run->internal.suberror);
            vcpu_crash(v, msg);
            goto out;
        }
        case KVM_EXIT_SYSTEM_EVENT:
            if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
                vm_request(v->vm, VM_REQ_RESET);
            else
                vm_request(v->vm, VM_REQ_POWEROFF);
            goto out;
        default: {
            char msg[64];
            snprintf(msg, sizeof(msg), "unexpected exit reason %u", run->exit_reason);
            vcpu_crash(v, msg);
            goto out;
        }
        }
    }
out:
    pthread_mutex_lock(&v->lock);
    v->paused = true;      /* not in KVM_RUN any more: pausers need not wait */
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

static void kick_handler(int sig)
{
    (void)sig;
}

int vcpu_start(struct vcpu *v)
{
    static bool handler_installed;
    if (!handler_installed) {
        struct sigaction sa = { .sa_handler = kick_handler };   /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
        handler_installed = true;
    }
    int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
    if (r)
        return -r;
    v->started = true;
    return 0;
}

/* immediate_exit closes the race where the signal lands just before KVM_RUN. */
static void vcpu_kick(struct vcpu *v)
{
    v->run->immediate_exit = 1;
    if (v->started)
        pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_pause(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    v->pause_requested = true;
    vcpu_kick(v);
    while (v->started && !v->paused)
        pthread_cond_wait(&v->cond, &v->lock);
    pthread_mutex_unlock(&v->lock);
}

void vcpu_resume(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    v->pause_requested = false;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
}

void vcpu_stop(struct vcpu *v)
{
    if (!v->started)
        return;
    pthread_mutex_lock(&v->lock);
    v->exit_requested = true;
    vcpu_kick(v);
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
    pthread_join(v->thread, NULL);
    v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
    if (!v)
        return;
    vcpu_stop(v);
    if (v->run)
        munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
    if (v->fd >= 0)
        close(v->fd);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    free(v);
}
