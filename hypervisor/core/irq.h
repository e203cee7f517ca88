/* Interrupt delivery into KVM's in-kernel irqchip: level/edge lines for
 * legacy devices, and MSI routes bound to irqfds for MSI-X. KVM's GSI
 * routing table is replaced whole on every change, so this module keeps the
 * full table (default PIC/IOAPIC pins + MSI entries) and commits it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Raises (1) or lowers (0) a GSI line (IOAPIC pin, and PIC for < 16). */
int irq_line_set(struct vm *vm, unsigned gsi, int level);
/* Edge: raise then lower. */
int irq_line_pulse(struct vm *vm, unsigned gsi);

/* Allocates an MSI GSI (>= 24); returns the GSI or -errno. */
int irq_msi_alloc(struct vm *vm);
/* Points an MSI GSI at (address, data) and commits the routing table. */
int irq_msi_set(struct vm *vm, unsigned gsi, uint64_t address, uint32_t data);
void irq_msi_free(struct vm *vm, unsigned gsi);
/* Binds an eventfd to a GSI so a write to it injects the interrupt without a VMM exit. */
int irq_irqfd_assign(struct vm *vm, int fd, unsigned gsi);
int irq_irqfd_deassign(struct vm *vm, int fd, unsigned gsi);
/* Injects an MSI directly (slow path, e.g. when masked/pending is resolved). */
int irq_msi_signal(struct vm *vm, uint64_t address, uint32_t data);

/* ioeventfd: a guest write of any value to an MMIO/PIO address signals fd (no exit to userspace). */
int ioeventfd_assign(struct vm *vm, int fd, uint64_t addr, unsigned len, bool pio);
int ioeventfd_deassign(struct vm *vm, int fd, uint64_t addr, unsigned len, bool pio);
