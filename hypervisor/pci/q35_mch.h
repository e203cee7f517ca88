/* The q35 chipset as firmware sees it (firmware boot only; direct kernel
 * boot keeps the plain host bridge): the MCH registers of the host bridge
 * at 00:00.0 and the ICH9 LPC bridge at 00:1f.0. */
#pragma once
#include <stdint.h>

struct pci_bus;
struct vm;

#define Q35_LPC_SLOT 31

/* Turns the host bridge 8086:29c0 into the MCH SeaBIOS recognises
 * (subsystem 1af4:1100), with PAM0-6, SMRAM, PCIEXBAR and TOLUD. */
void q35_mch_setup(struct pci_bus *bus, uint64_t lowmem_top);
/* ICH9 LPC 8086:2918 at 00:1f.0: PMBASE, ACPI control, PIRQ routing,
 * RCBA, plus the APM control/status ports 0xB2/0xB3. */
int ich9_lpc_create(struct vm *vm);
