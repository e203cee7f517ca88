/* kvm-probe: prove that /dev/kvm can run guest code.
 *
 * Opens /dev/kvm, checks the API version, creates a VM with one page of
 * memory and a vCPU, and runs three real-mode instructions in it (an OUT to
 * port 0x10 and a HLT). Prints what it saw; exits 0 only if every step
 * worked, 1 otherwise. Used by the rig-smoke test inside the rig.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "kvm-probe: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
    /* mov $42, %al; out %al, $0x10; hlt */
    static const uint8_t code[] = { 0xb0, 0x2a, 0xe6, 0x10, 0xf4 };
    const uint64_t guest_addr = 0x1000;
    int kvm, vm, vcpu, api, run_size, saw_out = 0;

    kvm = open(dev, O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return fail(dev);
    api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        fprintf(stderr, "kvm-probe: KVM API version %d, want %d\n", api, KVM_API_VERSION);
        return 1;
    }
    printf("kvm-probe: KVM API version %d\n", api);

    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("KVM_CREATE_VM");

    uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return fail("mmap");
    memcpy(mem, code, sizeof(code));
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = guest_addr,
        .memory_size = 0x1000,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION");

    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    printf("kvm-probe: VM and vCPU created\n");

    run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        return fail("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
                               MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        return fail("mmap kvm_run");

    /* Real mode, flat code segment at 0, starting at guest_addr. */
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        return fail("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        return fail("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = guest_addr, .rflags = 0x2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        return fail("KVM_SET_REGS");

    for (int i = 0; i < 10; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            return fail("KVM_RUN");
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t val = *((uint8_t *)run + run->io.data_offset);
            if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x10 || val != 42) {
                fprintf(stderr, "kvm-probe: unexpected I/O exit: port 0x%x value %u\n",
                        run->io.port, val);
                return 1;
            }
            saw_out = 1;
            break;
        }
        case KVM_EXIT_HLT:
            if (!saw_out) {
                fprintf(stderr, "kvm-probe: HLT before the OUT\n");
                return 1;
            }
            printf("kvm-probe: guest ran: OUT 0x10 <- 42, then HLT\n");
            return 0;
        default:
            fprintf(stderr, "kvm-probe: unexpected exit reason %u\n", run->exit_reason);
            return 1;
        }
    }
    fprintf(stderr, "kvm-probe: guest did not halt\n");
    return 1;
}
