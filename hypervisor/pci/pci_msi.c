/* MSI capability with one vector. */
#include "pci_msi.h"
#include "pci.h"
#include "core/irq.h"

#include <errno.h>

#define PCI_CAP_ID_MSI      0x05
#define MSI_CAP_LEN         14
#define MSI_CTRL            2
#define MSI_CTRL_ENABLE     0x01
#define MSI_CTRL_64BIT      0x80
#define MSI_ADDR_LO         4
#define MSI_ADDR_HI         8
#define MSI_DATA            12

int pci_msi_init(struct pci_msi *m, struct pci_device *pci)
{
    m->pci = pci;
    m->cap = pci_device_add_capability(pci, PCI_CAP_ID_MSI, MSI_CAP_LEN);
    if (!m->cap)
        return -ENOSPC;
    uint8_t *c = &pci->cfg[m->cap], *w = &pci->wmask[m->cap];
    c[MSI_CTRL] = MSI_CTRL_64BIT;    /* one message capable; MME stays 0 */
    w[MSI_CTRL] = MSI_CTRL_ENABLE;
    w[MSI_ADDR_LO] = 0xFC;           /* dword aligned */
    for (unsigned i = 1; i < 4; i++)
        w[MSI_ADDR_LO + i] = 0xFF;
    for (unsigned i = 0; i < 4; i++)
        w[MSI_ADDR_HI + i] = 0xFF;
    w[MSI_DATA] = w[MSI_DATA + 1] = 0xFF;
    return 0;
}

/* Config space is written by pci.c under the bus lock; a byte load sees
 * the old or the new value, and a driver changes address/data only while
 * MSI is off. */
static uint32_t cfg32(const struct pci_msi *m, unsigned off)
{
    const uint8_t *p = &m->pci->cfg[m->cap + off];
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)__atomic_load_n(&p[i], __ATOMIC_RELAXED) << (8 * i);
    return v;
}

bool pci_msi_enabled(const struct pci_msi *m)
{
    return m->cap && (__atomic_load_n(&m->pci->cfg[m->cap + MSI_CTRL], __ATOMIC_RELAXED) & MSI_CTRL_ENABLE);
}

void pci_msi_notify(const struct pci_msi *m, struct vm *vm)
{
    if (!vm || !pci_msi_enabled(m))
        return;
    uint64_t addr = (uint64_t)cfg32(m, MSI_ADDR_HI) << 32 | cfg32(m, MSI_ADDR_LO);
    irq_msi_signal(vm, addr, cfg32(m, MSI_DATA) & 0xFFFF);
}
