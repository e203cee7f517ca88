/* vCPU threads: one per virtual CPU, each looping in KVM_RUN and
 * dispatching I/O exits to the buses. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct kvm_run;

struct vcpu {
    struct vm *vm;
    unsigned index;                  /* also the APIC ID */
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pause_requested;            /* main thread wants it parked */
    bool paused;                     /* parked outside KVM_RUN */
    bool exit_requested;
};

/* Creates the KVM vCPU with CPUID, MSRs and FPU as a real CPU has them at power-on. */
int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out);
/* BSP only: 64-bit long mode at @entry with RSI = @boot_params (Linux 64-bit boot protocol). */
int vcpu_setup_linux64(struct vcpu *vcpu, uint64_t entry, uint64_t boot_params);
int vcpu_start(struct vcpu *vcpu);
/* Kicks the vCPU out of KVM_RUN and waits until it is parked / lets it go again. */
void vcpu_pause(struct vcpu *vcpu);
void vcpu_resume(struct vcpu *vcpu);
/* Stops and joins the thread. */
void vcpu_stop(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);
/* Prints general, segment and control registers to stderr. */
void vcpu_dump_registers(struct vcpu *vcpu);

/* Per-VM: fetch KVM's supported CPUID once (vm->cpuid). */
int cpuid_init(struct vm *vm);
/* Per-vCPU: topology (APIC IDs, core counts) adjusted copy, set with KVM_SET_CPUID2. */
int cpuid_setup_vcpu(struct vcpu *vcpu);
