/* Plain MSI (PCI Local Bus 3.0, 6.8.1): one vector, 64-bit address, no
 * per-vector masking. For devices that interrupt rarely enough that one
 * KVM_SIGNAL_MSI per interrupt is fine (AHCI); virtio uses MSI-X. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct pci_device;

struct pci_msi {
    struct pci_device *pci;
    unsigned cap;                    /* capability offset, 0: none */
};

/* Adds the capability to @pci before pci_bus_add(). Returns 0 or -ENOSPC. */
int pci_msi_init(struct pci_msi *m, struct pci_device *pci);
bool pci_msi_enabled(const struct pci_msi *m);
/* Sends the message the guest programmed (no-op without @vm). */
void pci_msi_notify(const struct pci_msi *m, struct vm *vm);
