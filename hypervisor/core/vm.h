/* One guest: the KVM VM, its RAM, buses, vCPU threads, I/O thread and devices. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "memory.h"

struct event_loop;
struct fw_cfg;
struct pci_bus;
struct vcpu;
struct i8042;
struct vm_config;
struct kvm_cpuid2;
struct vm_states;

/* What the guest or the user asked the VM to do next. */
enum vm_request {
    VM_REQ_NONE = 0,
    VM_REQ_POWEROFF,     /* guest S5 / quit: exit 0 */
    VM_REQ_RESET,        /* guest reboot / reset: restart in-process */
    VM_REQ_CRASH,        /* triple fault / internal error: exit 3 */
    VM_REQ_PAUSE,
    VM_REQ_RESUME,
};

enum vm_state { VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUTDOWN };

/* A device that must be reset to power-on state on guest reboot. */
struct vm_reset_hook {
    void (*reset)(void *opaque);
    void *opaque;
};

struct vm {
    int kvm_fd, vm_fd;
    int vcpu_mmap_size;
    const struct vm_config *cfg;
    struct guest_mem mem;
    struct io_bus pio, mmio;
    struct event_loop *loop;
    struct pci_bus *pci;
    struct kvm_cpuid2 *cpuid;        /* supported CPUID, filtered, shared by vCPUs */
    struct fw_cfg *fw_cfg;           /* firmware boot only, else NULL */

    unsigned ncpus;
    struct vcpu **vcpus;

    /* GSI routing, see irq.c */
    pthread_mutex_t irq_lock;
    void *gsi_routes;                /* struct kvm_irq_routing * */
    uint64_t msi_used[4];            /* bitmap of allocated MSI GSIs (24..279) */

    /* Requests from any thread to the main thread; see vm_request(). */
    pthread_mutex_t req_lock;
    pthread_cond_t req_cond;
    enum vm_request pending;
    enum vm_state state;
    bool powerdown_requested;        /* ACPI button pressed, waiting for S5 */

    struct vm_reset_hook reset_hooks[32];
    unsigned nreset_hooks;
    struct vm_reset_hook resume_hooks[16];   /* run after a resume (e.g. retry failed disk I/O) */
    unsigned nresume_hooks;

    struct i8042 *i8042;             /* PS/2 keyboard and mouse, for display input */
    void (*power_button)(void *opaque);  /* set by the PM device */
    void *power_button_opaque;

    pthread_mutex_t run_lock;        /* held by whoever stops/starts the vCPUs: main loop or snapshot */
    struct vm_states *states;        /* device state registry, see state.h */
};

/* Asks the main thread to act (thread-safe; the first terminal request wins). */
void vm_request(struct vm *vm, enum vm_request req);
/* Presses the ACPI power button. */
void vm_powerdown(struct vm *vm);
void vm_add_reset_hook(struct vm *vm, void (*reset)(void *opaque), void *opaque);
void vm_add_resume_hook(struct vm *vm, void (*resume)(void *opaque), void *opaque);
const char *vm_state_name(enum vm_state s);

/* Builds the VM from a parsed config and runs it until power-off / crash.
 * Returns the process exit status (0 power-off, 3 crash, 1 setup failure). */
int vm_run(const struct vm_config *cfg);

/* argv of this process, for restarting on guest reboot (set by main). */
extern char **vmm_argv;
