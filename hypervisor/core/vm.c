#include "vm.h"
#include "boot_linux.h"
#include "config.h"
#include "event_loop.h"
#include "firmware.h"
#include "platform.h"
#include "snapshot.h"
#include "vcpu.h"
#include "acpi/acpi.h"
#include "ahci/ahci.h"
#include "devices/chardev.h"
#include "devices/control.h"
#include "devices/devices.h"
#include "net/net.h"
#include "vaudio.h"
#include "devices/display.h"
#include "devices/vga.h"
#include "devices/e1000.h"
#include "pci/pci.h"
#include "pci/q35_mch.h"
#include "virtio/virtio.h"
#include "virtio/virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

char **vmm_argv;

const char *vm_state_name(enum vm_state s)
{
    switch (s) {
    case VM_STATE_RUNNING: return "running";
    case VM_STATE_PAUSED: return "paused";
    case VM_STATE_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

void vm_request(struct vm *vm, enum vm_request req)
{
    pthread_mutex_lock(&vm->req_lock);
    /* A terminal request (power-off, reset, crash) is never overridden by a later one. */
    bool terminal = vm->pending == VM_REQ_POWEROFF || vm->pending == VM_REQ_RESET ||
                    vm->pending == VM_REQ_CRASH;
    if (!terminal)
        vm->pending = req;
    pthread_cond_broadcast(&vm->req_cond);
    pthread_mutex_unlock(&vm->req_lock);
}

void vm_powerdown(struct vm *vm)
{
    vm->powerdown_requested = true;
    if (vm->power_button)
        vm->power_button(vm->power_button_opaque);
}

void vm_add_reset_hook(struct vm *vm, void (*reset)(void *opaque), void *opaque)
{
    if (vm->nreset_hooks < sizeof(vm->reset_hooks) / sizeof(vm->reset_hooks[0]))
        vm->reset_hooks[vm->nreset_hooks++] = (struct vm_reset_hook){ reset, opaque };
}

void vm_add_resume_hook(struct vm *vm, void (*resume)(void *opaque), void *opaque)
{
    if (vm->nresume_hooks < sizeof(vm->resume_hooks) / sizeof(vm->resume_hooks[0]))
        vm->resume_hooks[vm->nresume_hooks++] = (struct vm_reset_hook){ resume, opaque };
}

/* Everything a user can get wrong is checked before /dev/kvm is touched, so
 * that bad input is one clear line and exit status 2. */
static int vm_check_inputs(const struct vm_config *cfg)
{
    char why[512];
    struct linux_image img = { 0 };
    if (cfg->firmware != FIRMWARE_NONE) {
        if (cfg->kernel && linux_probe(cfg->kernel, &img, why, sizeof(why)) < 0) {
            fprintf(stderr, "domus-vmm: %s\n", why);
            return 2;
        }
        if (cfg->kernel && cfg->firmware == FIRMWARE_BIOS && access(FIRMWARE_LINUXBOOT_ROM, R_OK) < 0) {
            fprintf(stderr, "domus-vmm: --kernel with --firmware bios needs %s (package qemu-system-data)\n",
                    FIRMWARE_LINUXBOOT_ROM);
            return 2;
        }
        if (firmware_check(cfg, why, sizeof(why)) < 0) {
            fprintf(stderr, "domus-vmm: %s\n", why);
            return 2;
        }
        FILE *log = cfg->firmware_log ? fopen(cfg->firmware_log, "ae") : NULL;
        if (cfg->firmware_log && !log) {
            fprintf(stderr, "domus-vmm: --firmware-log %s: %s\n", cfg->firmware_log, strerror(errno));
            return 2;
        }
        if (log)
            fclose(log);
    } else if (linux_probe(cfg->kernel, &img, why, sizeof(why)) < 0) {
        fprintf(stderr, "domus-vmm: %s\n", why);
        return 2;
    }
    if (cfg->initrd && access(cfg->initrd, R_OK) < 0) {
        fprintf(stderr, "domus-vmm: cannot read initrd %s: %s\n", cfg->initrd, strerror(errno));
        return 2;
    }
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct disk_config *d = &cfg->disks[i];
        int fd = open(d->path, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "domus-vmm: cannot open disk %s%s: %s\n", d->path,
                    d->readonly ? "" : " for writing", strerror(errno));
            return 2;
        }
        close(fd);
    }
    for (unsigned i = 0; i < cfg->ncdroms; i++) {
        if (cfg->cdroms[i] && access(cfg->cdroms[i], R_OK) < 0) {
            fprintf(stderr, "domus-vmm: cannot read CD image %s: %s\n", cfg->cdroms[i], strerror(errno));
            return 2;
        }
    }
    if (vm_config_has_vga(cfg) && vga_check_rom(cfg->vga_rom, why, sizeof(why)) < 0) {
        fprintf(stderr, "domus-vmm: %s\n", why);
        return 2;
    }
    if (cfg->kernel && PLAT_KERNEL_ADDR + img.init_size + (16u << 20) > cfg->memory) {
        fprintf(stderr, "domus-vmm: --memory %lluM is too small for kernel %s (needs at least %uM)\n",
                (unsigned long long)(cfg->memory >> 20), cfg->kernel,
                (unsigned)((PLAT_KERNEL_ADDR + img.init_size) >> 20) + 17);
        return 2;
    }
    return 0;
}

static int vm_open_kvm(struct vm *vm)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        int err = errno;
        fprintf(stderr, "domus-vmm: cannot open /dev/kvm: %s%s\n", strerror(err),
                err == EACCES ? " (is your user in the kvm group?)" :
                err == ENOENT ? " (no hardware virtualization, or the kvm module is not loaded)" : "");
        return -err;
    }
    if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        fprintf(stderr, "domus-vmm: unsupported KVM API version\n");
        return -ENOTSUP;
    }
    static const struct { int cap; const char *name; } needed[] = {
        { KVM_CAP_IRQCHIP, "in-kernel irqchip" }, { KVM_CAP_IRQFD, "irqfd" },
        { KVM_CAP_IOEVENTFD, "ioeventfd" }, { KVM_CAP_IRQ_ROUTING, "IRQ routing" },
        { KVM_CAP_USER_MEMORY, "user memory" }, { KVM_CAP_PIT2, "in-kernel PIT" },
        { KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
    };
    for (unsigned i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
            fprintf(stderr, "domus-vmm: this KVM lacks %s\n", needed[i].name);
            return -ENOTSUP;
        }
    }
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0 || vm->vcpu_mmap_size <= 0) {
        fprintf(stderr, "domus-vmm: cannot create a VM: %s\n", strerror(errno));
        return -errno;
    }
    return 0;
}

static int vm_setup_platform(struct vm *vm)
{
    const struct vm_config *cfg = vm->cfg;
    int r;
    /* Intel VMX needs these two pages for real-mode emulation; they sit in
     * the top 4 GiB where nothing else of ours lives (below the flash
     * image, and out of its way, when there is firmware). */
    uint64_t kvm_pages = cfg->firmware != FIRMWARE_NONE ? 0xFEFFC000 : 0xFFFBC000;
    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &kvm_pages);
    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)kvm_pages + 0x1000);
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return -errno;
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return -errno;

    if ((r = guest_mem_init(&vm->mem, cfg->memory, cfg->name)) < 0) {
        fprintf(stderr, "domus-vmm: cannot allocate %llu MiB of guest RAM: %s\n",
                (unsigned long long)(cfg->memory >> 20), strerror(-r));
        return r;
    }
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        struct kvm_userspace_memory_region reg = {
            .slot = i, .guest_phys_addr = vm->mem.regions[i].gpa,
            .memory_size = vm->mem.regions[i].size,
            .userspace_addr = (uint64_t)(uintptr_t)vm->mem.regions[i].host };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
            return -errno;
    }
    return cpuid_init(vm);
}

static struct chardev *open_chardev(struct vm *vm, enum serial_kind kind, const char *path, const char *what)
{
    if (kind == SERIAL_NONE)
        return NULL;
    char *err = NULL;
    struct chardev *chr = chardev_open(vm->loop, kind, path, &err);
    if (!chr) {
        fprintf(stderr, "domus-vmm: %s: %s\n", what, err ? err : "cannot open backend");
        free(err);
    }
    return chr;
}

static struct chardev *serial_chr, *console_chr;
static struct net_backend *net_backend;
static struct vaudio *vaudio;

/* The sound card (--sound) and its host backend (--audio). */
static int vm_setup_sound(struct vm *vm)
{
    if (!vm->cfg->audio_set)
        return 0;
    char *err = NULL;
    vaudio = vaudio_open(&vm->cfg->audio, &err);
    if (!vaudio) {
        fprintf(stderr, "domus-vmm: %s\n", err ? err : "cannot open the audio backend");
        free(err);
        return -EINVAL;
    }
    if (vm->cfg->sound == SOUND_VIRTIO)
        return virtio_snd_create(vm, vaudio);
    return hda_create(vm, vaudio);
}

/* The guest's NIC and its backend (--net). */
static int vm_setup_net(struct vm *vm)
{
    const struct net_config *nc = &vm->cfg->net;
    if (nc->kind == NET_NONE) {
        control_add_command("set-link", net_control_set_link, NULL);   /* it answers: no NIC */
        return 0;
    }
    char *err = NULL;
    net_backend = net_backend_open(vm->loop, nc, &err);
    if (!net_backend) {
        fprintf(stderr, "domus-vmm: %s\n", err ? err : "cannot open the network backend");
        free(err);
        return -EINVAL;
    }
    control_add_command("set-link", net_control_set_link, net_backend);
    uint8_t mac[6];
    if (nc->mac_set)
        memcpy(mac, nc->mac, 6);
    else
        net_mac_from_name(vm->cfg->name, mac);
    if (nc->model == NET_MODEL_E1000)
        return e1000_create(vm, net_backend, mac);
    return virtio_net_create(vm, net_backend, vm->loop, mac);
}

/* Ctrl-A x on a stdio console: the user wants out, as with QEMU. */
static void on_console_quit(void *opaque)
{
    vm_request(opaque, VM_REQ_POWEROFF);
}

static int vm_setup_devices(struct vm *vm)
{
    const struct vm_config *cfg = vm->cfg;
    int r;
    vm->pci = calloc(1, sizeof(struct pci_bus));
    if (!vm->pci)
        return -ENOMEM;
    if ((r = pci_bus_init(vm->pci, vm, &vm->pio, &vm->mmio)) < 0)
        return r;
    if (cfg->firmware != FIRMWARE_NONE) {
        q35_mch_setup(vm->pci, vm->mem.regions[0].size);
        pci_bus_set_firmware_assigns(vm->pci);
        if ((r = firmware_cfg_create(vm)) < 0 || (r = ich9_lpc_create(vm)) < 0)
            return r;
        if (cfg->firmware_log && (r = debugcon_create(vm, cfg->firmware_log)) < 0)
            return r;
    }

    chardev_set_quit_handler(on_console_quit, vm);
    serial_chr = open_chardev(vm, cfg->serial, cfg->serial_path, "--serial");
    if (cfg->serial != SERIAL_NONE && !serial_chr)
        return -EINVAL;
    if ((r = serial_create(vm, serial_chr)) < 0 || (r = rtc_create(vm)) < 0 ||
        (r = pm_create(vm)) < 0 || (r = i8042_create(vm)) < 0 || (r = pvpanic_create(vm)) < 0)
        return r;

    for (unsigned i = 0; i < cfg->ndisks; i++) {
        char *err = NULL;
        if (cfg->disks[i].bus == DISK_BUS_AHCI)
            continue;
        if ((r = virtio_blk_create_err(vm, &cfg->disks[i], &err)) < 0) {
            fprintf(stderr, "domus-vmm: %s\n", err ? err : strerror(-r));
            free(err);
            return r;
        }
    }
    if ((r = ahci_create(vm)) < 0)
        return r;
    if (cfg->rng && (r = virtio_rng_create(vm)) < 0)
        return r;
    if (cfg->console) {
        console_chr = open_chardev(vm, cfg->console_kind, cfg->console_path, "--console");
        if (cfg->console_kind != SERIAL_NONE && !console_chr)
            return -EINVAL;
        if ((r = virtio_console_create(vm, console_chr)) < 0)
            return r;
    }
    if ((r = vm_setup_net(vm)) < 0)
        return r;
    if ((r = vm_setup_sound(vm)) < 0)
        return r;
    if ((r = display_setup(vm)) < 0)
        return r;
    return 0;
}

static int vm_load_guest(struct vm *vm, uint64_t *entry)
{
    uint64_t top = guest_mem_top(&vm->mem);
    const struct acpi_config acfg = {
        .ncpus = vm->ncpus,
        .ecam_base = PLAT_ECAM_BASE, .ecam_buses = PLAT_ECAM_BUSES,
        .mmio32_base = PLAT_PCI_MMIO32_BASE, .mmio32_size = PLAT_PCI_MMIO32_SIZE,
        .mmio64_base = (top < PLAT_HIGHMEM_BASE ? PLAT_HIGHMEM_BASE : (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1)),
        .mmio64_size = PLAT_PCI_MMIO64_SIZE,
        .pci_io_base = PLAT_PCI_IO_BASE, .pci_io_size = PLAT_PCI_IO_SIZE,
        .pci_slots = PCI_MAX_DEVICES,
    };
    if (vm->cfg->firmware != FIRMWARE_NONE) {
        char why[512];
        int r = firmware_load(vm, why, sizeof(why));
        if (r == 0 && vm->cfg->kernel)
            r = firmware_cfg_add_kernel(vm, why, sizeof(why));
        if (r < 0)
            fprintf(stderr, "domus-vmm: %s\n", why);
        else if ((r = firmware_cfg_finish(vm, &acfg)) < 0)
            fprintf(stderr, "domus-vmm: cannot set up fw_cfg: %s\n", strerror(-r));
        return r;
    }
    uint8_t *acpi = guest_mem_ptr(&vm->mem, PLAT_ACPI_BASE, PLAT_ACPI_SIZE);
    long n = acpi_build_tables(&acfg, acpi, PLAT_ACPI_SIZE, PLAT_ACPI_BASE);
    if (n < 0) {
        fprintf(stderr, "domus-vmm: cannot build ACPI tables: %s\n", strerror((int)-n));
        return (int)n;
    }
    char why[512];
    int r = linux_load(vm, vm->cfg->kernel, vm->cfg->initrd, vm->cfg->append, PLAT_ACPI_BASE,
                       entry, why, sizeof(why));
    if (r < 0)
        fprintf(stderr, "domus-vmm: %s\n", why);
    return r;
}

/* SIGTERM/SIGINT/SIGHUP press the ACPI power button; if the guest has not
 * powered off within the timeout, the VM is stopped anyway. A second
 * signal stops it at once. */
struct shutdown_watch {
    struct vm *vm;
    int sigfd, timerfd;
    bool pressed;
};

static void on_shutdown_timer(void *opaque, uint32_t events)
{
    struct shutdown_watch *w = opaque;
    uint64_t n;
    if (read(w->timerfd, &n, sizeof(n)) != sizeof(n))
        return;
    fprintf(stderr, "domus-vmm: guest did not power off within %u s; stopping it\n",
            w->vm->cfg->shutdown_timeout);
    vm_request(w->vm, VM_REQ_POWEROFF);
}

static void on_signal(void *opaque, uint32_t events)
{
    struct shutdown_watch *w = opaque;
    struct signalfd_siginfo si;
    if (read(w->sigfd, &si, sizeof(si)) != sizeof(si))
        return;
    if (w->pressed || w->vm->cfg->shutdown_timeout == 0 || w->vm->state == VM_STATE_PAUSED) {
        vm_request(w->vm, VM_REQ_POWEROFF);
        return;
    }
    w->pressed = true;
    vm_powerdown(w->vm);
    struct itimerspec its = { .it_value.tv_sec = w->vm->cfg->shutdown_timeout };
    timerfd_settime(w->timerfd, 0, &its, NULL);
}

static int watch_signals(struct vm *vm, struct shutdown_watch *w, const sigset_t *set)
{
    w->vm = vm;
    w->sigfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
    w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (w->sigfd < 0 || w->timerfd < 0)
        return -errno;
    int r = event_loop_add(vm->loop, w->sigfd, EPOLLIN, on_signal, w);
    return r ? r : event_loop_add(vm->loop, w->timerfd, EPOLLIN, on_shutdown_timer, w);
}

static void *io_thread(void *arg)
{
    struct vm *vm = arg;
    pthread_setname_np(pthread_self(), "io");
    event_loop_run(vm->loop);
    return NULL;
}

static void vm_pause_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_pause(vm->vcpus[i]);
}

static void vm_resume_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_resume(vm->vcpus[i]);
}

/* The main thread only waits for requests and acts on them. */
static enum vm_request vm_main_loop(struct vm *vm)
{
    for (;;) {
        pthread_mutex_lock(&vm->req_lock);
        while (vm->pending == VM_REQ_NONE)
            pthread_cond_wait(&vm->req_cond, &vm->req_lock);
        enum vm_request req = vm->pending;
        if (req == VM_REQ_PAUSE || req == VM_REQ_RESUME)
            vm->pending = VM_REQ_NONE;
        pthread_mutex_unlock(&vm->req_lock);

        pthread_mutex_lock(&vm->run_lock);
        switch (req) {
        case VM_REQ_PAUSE:
            if (vm->state == VM_STATE_RUNNING) {
                vm_pause_all(vm);
                vm->state = VM_STATE_PAUSED;
            }
            break;
        case VM_REQ_RESUME:
            if (vm->state == VM_STATE_PAUSED) {
                for (unsigned i = 0; i < vm->nresume_hooks; i++)
                    vm->resume_hooks[i].reset(vm->resume_hooks[i].opaque);
                vm_resume_all(vm);
                vm->state = VM_STATE_RUNNING;
            }
            break;
        default:
            vm_pause_all(vm);
            vm->state = VM_STATE_SHUTDOWN;
            pthread_mutex_unlock(&vm->run_lock);
            return req;
        }
        pthread_mutex_unlock(&vm->run_lock);
    }
}

/* A guest reboot re-executes this program with the same arguments: a clean
 * power-on of every device and of KVM's own state, in the same process
 * (same PID, so a toolstack's view of the VM stays valid). */
static void vm_reexec(void)
{
    chardev_close(serial_chr);
    chardev_close(console_chr);
    control_close();
    net_backend_close(net_backend);   /* its listening ports must be free for the new image */
    vaudio_close(vaudio);             /* the WAV header is final, the sound server let go */
    display_prepare_reexec();
    setenv("DOMUS_VMM_REBOOTED", "1", 1);
    execv("/proc/self/exe", vmm_argv);
    fprintf(stderr, "domus-vmm: cannot restart for guest reboot: %s\n", strerror(errno));
}

int vm_run(const struct vm_config *cfg)
{
    int r = vm_check_inputs(cfg);
    if (r)
        return r;

    static struct vm vm_storage;
    struct vm *vm = &vm_storage;
    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->ncpus = cfg->cpus;
    vm->kvm_fd = vm->vm_fd = -1;
    pthread_mutex_init(&vm->irq_lock, NULL);
    pthread_mutex_init(&vm->req_lock, NULL);
    pthread_mutex_init(&vm->run_lock, NULL);
    pthread_cond_init(&vm->req_cond, NULL);
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");

    /* Signals are taken by the I/O thread's signalfd; every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (vm_open_kvm(vm) < 0)
        return 1;
    if ((r = vm_setup_platform(vm)) < 0) {
        fprintf(stderr, "domus-vmm: cannot set up the VM: %s\n", strerror(-r));
        return 1;
    }
    vm->loop = event_loop_new();
    if (!vm->loop)
        return 1;
    if ((r = vm_setup_devices(vm)) < 0) {
        fprintf(stderr, "domus-vmm: cannot set up devices: %s\n", strerror(-r));
        return 1;
    }
    uint64_t entry;
    if (vm_load_guest(vm, &entry) < 0)
        return 1;

    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if ((r = vcpu_create(vm, i, &vm->vcpus[i])) < 0) {
            fprintf(stderr, "domus-vmm: cannot create vCPU %u: %s\n", i, strerror(-r));
            return 1;
        }
    }
    /* With firmware, vCPU 0 starts from KVM's reset state at the reset vector. */
    if (cfg->firmware == FIRMWARE_NONE &&
        (r = vcpu_setup_linux64(vm->vcpus[0], entry, PLAT_BOOT_PARAMS_ADDR)) < 0) {
        fprintf(stderr, "domus-vmm: cannot set up the boot CPU: %s\n", strerror(-r));
        return 1;
    }
    /* A reboot re-executes with the same arguments: the guest starts afresh then. */
    if (cfg->restore_path && !getenv("DOMUS_VMM_REBOOTED")) {
        char *err = NULL;
        if (vm_snapshot_restore(vm, cfg->restore_path, &err) < 0) {
            fprintf(stderr, "domus-vmm: --restore %s: %s\n", cfg->restore_path, err ? err : "failed");
            free(err);
            return 1;
        }
    }
    struct shutdown_watch watch;
    if (watch_signals(vm, &watch, &set) < 0)
        return 1;
    if (cfg->control_path) {
        char *err = NULL;
        if (control_open(vm, cfg->control_path, &err) < 0) {
            fprintf(stderr, "domus-vmm: --control %s: %s\n", cfg->control_path, err ? err : "failed");
            free(err);
            return 1;
        }
    }

    pthread_t io;
    pthread_create(&io, NULL, io_thread, vm);
    vm->state = VM_STATE_RUNNING;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_start(vm->vcpus[i]);

    enum vm_request why = vm_main_loop(vm);
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_stop(vm->vcpus[i]);
    event_loop_stop(vm->loop);
    pthread_join(io, NULL);
    virtio_blk_close_all();
    ahci_close_all();

    if (why == VM_REQ_RESET) {
        vm_reexec();
        return 1;
    }
    chardev_close(serial_chr);
    chardev_close(console_chr);
    control_close();
    display_close();
    return why == VM_REQ_CRASH ? 3 : 0;
}
