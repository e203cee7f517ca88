/* MSI-X capability, table and PBA (PCI Local Bus 3.0, 6.8.2). */
#include "virtio_msix.h"
#include "core/irq.h"
#include "pci/pci.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PCI_CAP_ID_MSIX          0x11
#define MSIX_CAP_LEN             12
#define MSIX_CTRL                2         /* Message Control, 16 bits */
#define MSIX_CTRL_MASKALL_BYTE   0x40      /* bit 14, in the control word's high byte */
#define MSIX_CTRL_ENABLE_BYTE    0x80      /* bit 15 */
#define MSIX_ENTRY_SIZE          16
#define MSIX_ENTRY_CTRL_MASKED   1

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The control bits live in config space, where pci.c applies the guest's
 * writes under its own lock; a byte load sees either the old or the new value. */
static uint8_t msix_ctrl_hi(const struct virtio_msix *m)
{
    return __atomic_load_n(&m->pci->cfg[m->cap + MSIX_CTRL + 1], __ATOMIC_RELAXED);
}

bool virtio_msix_enabled(const struct virtio_msix *m)
{
    return m->nvectors && (msix_ctrl_hi(m) & MSIX_CTRL_ENABLE_BYTE);
}

static bool msix_masked(const struct virtio_msix *m, unsigned v)
{
    return (msix_ctrl_hi(m) & MSIX_CTRL_MASKALL_BYTE) || (m->table[v].ctrl & MSIX_ENTRY_CTRL_MASKED);
}

int virtio_msix_init(struct virtio_msix *m, struct vm *vm, struct pci_device *pci,
                     unsigned nvectors, unsigned bar, uint32_t table_off, uint32_t pba_off)
{
    if (nvectors == 0 || nvectors > VIRTIO_MSIX_MAX_VECTORS || (table_off | pba_off) & 7)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    m->vm = vm;
    m->pci = pci;
    m->nvectors = nvectors;
    m->table_off = table_off;
    m->pba_off = pba_off;
    unsigned cap = pci_device_add_capability(pci, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (!cap)
        return -ENOSPC;
    m->cap = cap;
    /* Table Size is N-1; only Enable and Function Mask are writable. */
    pci->cfg[cap + MSIX_CTRL] = (uint8_t)(nvectors - 1);
    pci->cfg[cap + MSIX_CTRL + 1] = (uint8_t)((nvectors - 1) >> 8);
    pci->wmask[cap + MSIX_CTRL + 1] = MSIX_CTRL_ENABLE_BYTE | MSIX_CTRL_MASKALL_BYTE;
    put32(&pci->cfg[cap + 4], table_off | bar);
    put32(&pci->cfg[cap + 8], pba_off | bar);

    for (unsigned v = 0; v < nvectors; v++) {
        struct virtio_msix_route *r = &m->route[v];
        r->gsi = irq_msi_alloc(vm);
        r->irqfd = -1;
        if (r->gsi < 0)
            continue;
        /* Bound now, routed on first use: KVM accepts an irqfd on a GSI
         * without a route and picks the route up when it is committed. */
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd >= 0 && irq_irqfd_assign(vm, fd, (unsigned)r->gsi) == 0)
            r->irqfd = fd;
        else if (fd >= 0)
            close(fd);
    }
    virtio_msix_reset(m);
    return 0;
}

/* Delivers vector @v now, pointing its KVM route at the table entry first
 * if the guest has changed address or data since the last delivery. */
static void msix_fire(struct virtio_msix *m, unsigned v)
{
    const struct virtio_msix_entry *e = &m->table[v];
    struct virtio_msix_route *r = &m->route[v];
    uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
    if (r->gsi >= 0 && (!r->routed || r->addr != addr || r->data != e->data)) {
        r->routed = irq_msi_set(m->vm, (unsigned)r->gsi, addr, e->data) == 0;
        r->addr = addr;
        r->data = e->data;
    }
    if (r->routed && r->irqfd >= 0) {
        uint64_t one = 1;
        if (write(r->irqfd, &one, sizeof(one)) == sizeof(one))
            return;
    }
    irq_msi_signal(m->vm, addr, e->data);
}

void virtio_msix_notify(struct virtio_msix *m, unsigned vector)
{
    if (vector >= m->nvectors)
        return;
    if (msix_masked(m, vector))
        m->pba |= 1ULL << vector;
    else
        msix_fire(m, vector);
}

/* Sends every pending vector that is no longer masked (6.8.2.9: a pending
 * message goes out when its mask is cleared). */
static void msix_flush_pending(struct virtio_msix *m)
{
    if (!virtio_msix_enabled(m))
        return;
    for (unsigned v = 0; v < m->nvectors; v++) {
        if ((m->pba & (1ULL << v)) && !msix_masked(m, v)) {
            m->pba &= ~(1ULL << v);
            msix_fire(m, v);
        }
    }
}

/* Locates [offset, offset+size) in the table or PBA: DWORD or QWORD
 * accesses, naturally aligned, as the PCI spec allows. */
static void *msix_locate(struct virtio_msix *m, uint64_t offset, unsigned size, bool *is_table)
{
    if ((size != 4 && size != 8) || (offset & (size - 1)))
        return NULL;
    uint64_t table_len = (uint64_t)m->nvectors * MSIX_ENTRY_SIZE;
    if (offset >= m->table_off && offset - m->table_off + size <= table_len) {
        *is_table = true;
        return (uint8_t *)m->table + (offset - m->table_off);
    }
    if (offset >= m->pba_off && offset - m->pba_off + size <= sizeof(m->pba)) {
        *is_table = false;
        return (uint8_t *)&m->pba + (offset - m->pba_off);
    }
    return NULL;
}

uint64_t virtio_msix_bar_read(struct virtio_msix *m, uint64_t offset, unsigned size)
{
    bool is_table;
    uint64_t v = 0;
    void *p = msix_locate(m, offset, size, &is_table);
    if (p)
        memcpy(&v, p, size);
    return v;
}

void virtio_msix_bar_write(struct virtio_msix *m, uint64_t offset, uint64_t value, unsigned size)
{
    bool is_table;
    void *p = msix_locate(m, offset, size, &is_table);
    if (!p || !is_table)
        return;                      /* the PBA is read-only */
    unsigned v = (unsigned)((offset - m->table_off) / MSIX_ENTRY_SIZE);
    memcpy(p, &value, size);
    /* Only the mask bit of Vector Control is defined; the rest reads as 0. */
    m->table[v].ctrl &= MSIX_ENTRY_CTRL_MASKED;
    msix_flush_pending(m);
}

void virtio_msix_control_written(struct virtio_msix *m)
{
    msix_flush_pending(m);
}

void virtio_msix_reset(struct virtio_msix *m)
{
    for (unsigned v = 0; v < m->nvectors; v++)
        m->table[v] = (struct virtio_msix_entry){ .ctrl = MSIX_ENTRY_CTRL_MASKED };
    m->pba = 0;
}
