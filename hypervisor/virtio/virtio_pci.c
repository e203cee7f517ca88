/* virtio-pci, modern interface only (virtio 1.x, 4.1): no legacy I/O BAR.
 *
 * BAR 4 (64-bit memory) holds four page-sized regions, each announced by a
 * vendor-specific capability: common config, ISR, device config and the
 * queue notify area. BAR 1 holds the MSI-X table and PBA. Queue kicks are
 * KVM ioeventfds watched by the I/O thread; interrupts are MSI-X irqfds, or
 * INTx with the ISR when the driver does not enable MSI-X. */
#include "virtio.h"
#include "virtio_msix.h"
#include "core/event_loop.h"
#include "core/irq.h"
#include "core/state.h"
#include "core/vm.h"
#include "pci/pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_PCI_VENDOR        0x1AF4
#define VIRTIO_PCI_DEVICE_BASE   0x1040    /* + virtio device id (4.1.2.1) */
#define VIRTIO_PCI_REVISION      1         /* non-transitional */
#define VIRTIO_PCI_SUBSYS_BASE   0x40      /* SHOULD be >= 0x40 (4.1.2.1) */
#define VIRTIO_MSI_NO_VECTOR     0xFFFF

#define PCI_CAP_ID_VNDR          0x09
#define VIRTIO_PCI_CAP_COMMON    1
#define VIRTIO_PCI_CAP_NOTIFY    2
#define VIRTIO_PCI_CAP_ISR       3
#define VIRTIO_PCI_CAP_DEVICE    4
#define VIRTIO_PCI_CAP_LEN       16        /* struct virtio_pci_cap */

#define VIRTIO_ISR_QUEUE         1
#define VIRTIO_ISR_CONFIG        2

/* BAR layout */
#define VP_BAR                   4
#define VP_BAR_SIZE              0x4000
#define VP_COMMON_OFF            0x0000
#define VP_ISR_OFF               0x1000
#define VP_DEVICE_OFF            0x2000
#define VP_NOTIFY_OFF            0x3000
#define VP_REGION_SIZE           0x1000
#define VP_NOTIFY_MULT           4         /* queue q kicks at VP_NOTIFY_OFF + 4q */
#define VP_MSIX_BAR              1
#define VP_MSIX_BAR_SIZE         0x1000
#define VP_MSIX_TABLE_OFF        0x000
#define VP_MSIX_PBA_OFF          0x800

/* Common configuration structure (4.1.4.3), byte offsets */
#define CC_DFSELECT      0x00
#define CC_DF            0x04
#define CC_GFSELECT      0x08
#define CC_GF            0x0C
#define CC_MSIX_CONFIG   0x10
#define CC_NUM_QUEUES    0x12
#define CC_STATUS        0x14
#define CC_GENERATION    0x15
#define CC_Q_SELECT      0x16
#define CC_Q_SIZE        0x18
#define CC_Q_MSIX        0x1A
#define CC_Q_ENABLE      0x1C
#define CC_Q_NOTIFY_OFF  0x1E
#define CC_Q_DESC        0x20
#define CC_Q_DRIVER      0x28
#define CC_Q_DEVICE      0x30
/* 0x38..0x3F: queue_notify_data, queue_reset, admin queue fields; their
 * features are not offered, so they read as 0. Linux maps up to 0x40. */
#define CC_SIZE          0x40

struct virtio_pci;

struct virtio_pci_notifier {
    struct virtio_pci *vp;
    unsigned q;
    int fd;                          /* eventfd the I/O thread watches */
    uint64_t addr;                   /* ioeventfd address, PCI_BAR_UNMAPPED if none */
    unsigned len;
};

struct virtio_pci {
    struct pci_device pci;
    struct virtio_device *vdev;
    struct vm *vm;
    struct virtio_msix msix;
    /* Transport registers, under vdev->lock */
    uint32_t dfselect, gfselect;
    uint16_t queue_select;
    uint16_t config_vector;
    uint16_t queue_vector[VIRTIO_MAX_QUEUES];
    uint8_t isr;
    /* ioeventfd placement follows the BAR; a leaf lock of its own */
    pthread_mutex_t notifier_lock;
    struct virtio_pci_notifier notifiers[VIRTIO_MAX_QUEUES];
};

/* ---- interrupts ---- */

static void vp_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
    /* The ISR is kept even with MSI-X (the config bit must be set before a
     * config notification, 4.1.4.5.1); INTx is used only without MSI-X. */
    vp->isr |= isr_bit;
    if (virtio_msix_enabled(&vp->msix)) {
        if (vector != VIRTIO_MSI_NO_VECTOR)
            virtio_msix_notify(&vp->msix, vector);
        return;
    }
    pci_device_set_irq(&vp->pci, 1);
}

static void vp_notify_queue(struct virtio_device *vdev, unsigned q)
{
    struct virtio_pci *vp = vdev->transport;
    vp_interrupt(vp, vp->queue_vector[q], VIRTIO_ISR_QUEUE);
}

static void vp_notify_config(struct virtio_device *vdev)
{
    struct virtio_pci *vp = vdev->transport;
    vp_interrupt(vp, vp->config_vector, VIRTIO_ISR_CONFIG);
}

/* ---- queue notifications ---- */

static void vp_kick(struct virtio_pci_notifier *n)
{
    uint64_t one = 1;
    /* Only fails when the counter would overflow, i.e. a kick is pending anyway. */
    if (write(n->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        perror("domus-vmm: virtio kick");
}

/* I/O thread: the guest kicked a queue (through KVM's ioeventfd, or an MMIO
 * exit forwarded by vp_bar_write). */
static void vp_notifier_ready(void *opaque, uint32_t events)
{
    struct virtio_pci_notifier *n = opaque;
    uint64_t count;
    if (read(n->fd, &count, sizeof(count)) != sizeof(count))
        return;
    struct virtio_device *vdev = n->vp->vdev;
    if (vdev->ops->queue_notify)
        vdev->ops->queue_notify(vdev, n->q);
}

/* Places each queue's ioeventfd at the notify address inside BAR 4 at
 * @bar_addr (or removes them all for PCI_BAR_UNMAPPED). Length 0 matches a
 * write of any size, which also lets KVM take its fast MMIO path; 2 (the
 * driver's 16-bit write) is the fallback. Without either, kicks still work
 * as MMIO exits. */
static void vp_notifiers_place(struct virtio_pci *vp, uint64_t bar_addr)
{
    pthread_mutex_lock(&vp->notifier_lock);
    for (unsigned q = 0; q < vp->vdev->ops->num_queues; q++) {
        struct virtio_pci_notifier *n = &vp->notifiers[q];
        uint64_t want = bar_addr == PCI_BAR_UNMAPPED ? PCI_BAR_UNMAPPED
                                                     : bar_addr + VP_NOTIFY_OFF + q * VP_NOTIFY_MULT;
        if (n->addr == want)
            continue;
        if (n->addr != PCI_BAR_UNMAPPED)
            ioeventfd_deassign(vp->vm, n->fd, n->addr, n->len, false);
        n->addr = PCI_BAR_UNMAPPED;
        if (want == PCI_BAR_UNMAPPED)
            continue;
        static const unsigned lens[] = { 0, 2 };
        for (unsigned i = 0; i < 2 && n->addr == PCI_BAR_UNMAPPED; i++) {
            if (ioeventfd_assign(vp->vm, n->fd, want, lens[i], false) == 0) {
                n->addr = want;
                n->len = lens[i];
            }
        }
    }
    pthread_mutex_unlock(&vp->notifier_lock);
}

static void vp_kick_ready_queues(struct virtio_pci *vp)
{
    for (unsigned q = 0; q < vp->vdev->ops->num_queues; q++)
        if (vp->vdev->vqs[q].ready)
            vp_kick(&vp->notifiers[q]);
}

/* ---- common configuration ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static struct virtqueue *vp_selected_queue(struct virtio_pci *vp)
{
    return vp->queue_select < vp->vdev->ops->num_queues ? &vp->vdev->vqs[vp->queue_select] : NULL;
}

/* The structure as the driver would read it now. */
static void vp_common_snapshot(struct virtio_pci *vp, uint8_t *b)
{
    struct virtio_device *vdev = vp->vdev;
    memset(b, 0, CC_SIZE);
    put_le(b + CC_DFSELECT, vp->dfselect, 4);
    if (vp->dfselect < 2)
        put_le(b + CC_DF, virtio_device_features(vdev) >> (32 * vp->dfselect), 4);
    put_le(b + CC_GFSELECT, vp->gfselect, 4);
    if (vp->gfselect < 2)
        put_le(b + CC_GF, vdev->driver_features >> (32 * vp->gfselect), 4);
    put_le(b + CC_MSIX_CONFIG, vp->config_vector, 2);
    put_le(b + CC_NUM_QUEUES, vdev->ops->num_queues, 2);
    b[CC_STATUS] = vdev->status;
    b[CC_GENERATION] = vdev->config_generation;
    put_le(b + CC_Q_SELECT, vp->queue_select, 2);
    struct virtqueue *vq = vp_selected_queue(vp);
    if (!vq)
        return;                      /* queue_size 0: no such queue (4.1.4.3.1) */
    put_le(b + CC_Q_SIZE, vq->size, 2);
    put_le(b + CC_Q_MSIX, vp->queue_vector[vp->queue_select], 2);
    put_le(b + CC_Q_ENABLE, vq->ready, 2);
    put_le(b + CC_Q_NOTIFY_OFF, vp->queue_select, 2);
    put_le(b + CC_Q_DESC, vq->desc_gpa, 8);
    put_le(b + CC_Q_DRIVER, vq->avail_gpa, 8);
    put_le(b + CC_Q_DEVICE, vq->used_gpa, 8);
}

static void vp_reset_locked(struct virtio_pci *vp)
{
    virtio_device_reset(vp->vdev);
    vp->dfselect = vp->gfselect = 0;
    vp->queue_select = 0;
    /* All events unmapped on reset (4.1.5.1.2.1). */
    vp->config_vector = VIRTIO_MSI_NO_VECTOR;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        vp->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
    vp->isr = 0;
    pci_device_set_irq(&vp->pci, 0);
}

/* FEATURES_OK sticks only for a subset of what we offer that includes
 * VERSION_1: we have no legacy interface to fall back to. */
static bool vp_features_acceptable(struct virtio_device *vdev)
{
    uint64_t f = vdev->driver_features;
    return !(f & ~virtio_device_features(vdev)) && (f & (1ULL << VIRTIO_F_VERSION_1));
}

static void vp_status_write(struct virtio_pci *vp, uint8_t v)
{
    struct virtio_device *vdev = vp->vdev;
    if (v == 0) {
        vp_reset_locked(vp);
        return;
    }
    uint8_t old = vdev->status;
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        !vp_features_acceptable(vdev))
        v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    /* NEEDS_RESET is the device's to set and only a reset clears it. */
    vdev->status = v | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        if (vdev->ops->start)
            vdev->ops->start(vdev);
        /* Buffers made available before DRIVER_OK got no attention yet. */
        vp_kick_ready_queues(vp);
    }
}

static uint16_t vp_vector_checked(struct virtio_pci *vp, uint64_t v)
{
    /* A vector outside the table reads back as NO_VECTOR: that is how the
     * driver learns the mapping failed (4.1.5.1.2.1). */
    return v < vp->msix.nvectors ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void vp_queue_enable(struct virtio_pci *vp, unsigned q)
{
    struct virtio_device *vdev = vp->vdev;
    struct virtqueue *vq = &vdev->vqs[q];
    vq->event_idx = virtio_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX);
    int r = virtqueue_enable(vq, &vp->vm->mem);
    if (r < 0) {
        char why[96];
        snprintf(why, sizeof(why), "queue %u: size %u or ring addresses rejected (%s)",
                 q, vq->size, strerror(-r));
        virtio_device_fail(vdev, why);
    }
}

/* Applies the field at @off after a write; @v is its full new value. */
static void vp_common_apply(struct virtio_pci *vp, unsigned off, uint64_t v)
{
    struct virtio_device *vdev = vp->vdev;
    struct virtqueue *vq = vp_selected_queue(vp);
    /* Queue layout is frozen once enabled (only a reset undoes it). */
    bool vq_writable = vq && !vq->ready;
    switch (off) {
    case CC_DFSELECT: vp->dfselect = (uint32_t)v; break;
    case CC_GFSELECT: vp->gfselect = (uint32_t)v; break;
    case CC_GF:
        if (vp->gfselect < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned shift = 32 * vp->gfselect;
            vdev->driver_features = (vdev->driver_features & ~(0xFFFFFFFFULL << shift)) | (v << shift);
        }
        break;
    case CC_MSIX_CONFIG: vp->config_vector = vp_vector_checked(vp, v); break;
    case CC_STATUS: vp_status_write(vp, (uint8_t)v); break;
    case CC_Q_SELECT: vp->queue_select = (uint16_t)v; break;
    case CC_Q_SIZE:
        /* A power of two no larger than the maximum; anything else is ignored
         * and caught again by virtqueue_enable if it slipped through. */
        if (vq_writable && v && !(v & (v - 1)) && v <= vdev->ops->queue_max_size)
            vq->size = (uint16_t)v;
        break;
    case CC_Q_MSIX:
        if (vq)
            vp->queue_vector[vp->queue_select] = vp_vector_checked(vp, v);
        break;
    case CC_Q_ENABLE:
        if (vq_writable && v == 1)
            vp_queue_enable(vp, vp->queue_select);
        break;
    case CC_Q_DESC: if (vq_writable) vq->desc_gpa = v; break;
    case CC_Q_DRIVER: if (vq_writable) vq->avail_gpa = v; break;
    case CC_Q_DEVICE: if (vq_writable) vq->used_gpa = v; break;
    }
}

static const struct { uint8_t off, size; } vp_common_fields[] = {
    { CC_DFSELECT, 4 }, { CC_GFSELECT, 4 }, { CC_GF, 4 }, { CC_MSIX_CONFIG, 2 },
    { CC_STATUS, 1 }, { CC_Q_SELECT, 2 }, { CC_Q_SIZE, 2 }, { CC_Q_MSIX, 2 },
    { CC_Q_ENABLE, 2 }, { CC_Q_DESC, 8 }, { CC_Q_DRIVER, 8 }, { CC_Q_DEVICE, 8 },
};

/* Any access width works: the bytes are merged into a snapshot and every
 * field they touch is applied. This covers the two 32-bit halves drivers
 * use for the 64-bit queue addresses (4.1.3.1) as well as 64-bit writes. */
static void vp_common_write(struct virtio_pci *vp, unsigned off, uint64_t value, unsigned size)
{
    uint8_t b[CC_SIZE];
    vp_common_snapshot(vp, b);
    put_le(b + off, value, size);
    for (unsigned i = 0; i < sizeof(vp_common_fields) / sizeof(vp_common_fields[0]); i++) {
        unsigned f = vp_common_fields[i].off, fs = vp_common_fields[i].size;
        if (off < f + fs && off + size > f)
            vp_common_apply(vp, f, get_le(b + f, fs));
    }
}

/* ---- BAR 4 ---- */

static bool in_region(uint64_t off, unsigned size, uint64_t base, uint64_t len)
{
    return off >= base && off - base < len && size <= len - (off - base);
}

static uint64_t vp_bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_device *vdev = vp->vdev;
    uint64_t v = 0;
    if (size > 8)
        return 0;
    pthread_mutex_lock(&vdev->lock);
    if (in_region(off, size, VP_COMMON_OFF, CC_SIZE)) {
        uint8_t b[CC_SIZE];
        vp_common_snapshot(vp, b);
        v = get_le(b + (off - VP_COMMON_OFF), size);
    } else if (in_region(off, size, VP_ISR_OFF, 1)) {
        /* Reading acknowledges: clear and deassert INTx (4.1.4.5). */
        v = vp->isr;
        vp->isr = 0;
        pci_device_set_irq(&vp->pci, 0);
    } else if (in_region(off, size, VP_DEVICE_OFF, vdev->ops->config_size) && vdev->ops->config_read) {
        vdev->ops->config_read(vdev, (unsigned)(off - VP_DEVICE_OFF), &v, size);
    }
    pthread_mutex_unlock(&vdev->lock);
    return v;
}

static void vp_bar_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_device *vdev = vp->vdev;
    if (size > 8)
        return;
    if (in_region(off, size, VP_NOTIFY_OFF, (uint64_t)vdev->ops->num_queues * VP_NOTIFY_MULT)) {
        /* A kick that KVM did not catch with an ioeventfd: hand it to the
         * I/O thread the same way, so queues are only ever run there. */
        vp_kick(&vp->notifiers[(off - VP_NOTIFY_OFF) / VP_NOTIFY_MULT]);
        return;
    }
    pthread_mutex_lock(&vdev->lock);
    if (in_region(off, size, VP_COMMON_OFF, CC_SIZE))
        vp_common_write(vp, (unsigned)(off - VP_COMMON_OFF), value, size);
    else if (in_region(off, size, VP_DEVICE_OFF, vdev->ops->config_size) && vdev->ops->config_write)
        vdev->ops->config_write(vdev, (unsigned)(off - VP_DEVICE_OFF), &value, size);
    pthread_mutex_unlock(&vdev->lock);
}

static const struct io_ops vp_bar_ops = { .read = vp_bar_read, .write = vp_bar_write };

/* ---- BAR 1: MSI-X ---- */

static uint64_t vp_msix_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_pci *vp = opaque;
    pthread_mutex_lock(&vp->vdev->lock);
    uint64_t v = virtio_msix_bar_read(&vp->msix, off, size);
    pthread_mutex_unlock(&vp->vdev->lock);
    return v;
}

static void vp_msix_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct virtio_pci *vp = opaque;
    pthread_mutex_lock(&vp->vdev->lock);
    virtio_msix_bar_write(&vp->msix, off, value, size);
    pthread_mutex_unlock(&vp->vdev->lock);
}

static const struct io_ops vp_msix_ops = { .read = vp_msix_read, .write = vp_msix_write };

/* ---- PCI hooks (called by pci.c without its bus lock) ---- */

static void vp_config_write(struct pci_device *dev, unsigned offset, uint32_t value, unsigned size)
{
    struct virtio_pci *vp = dev->opaque;
    unsigned ctrl = vp->msix.cap + 2;
    if (offset >= ctrl + 2 || offset + size <= ctrl)
        return;
    pthread_mutex_lock(&vp->vdev->lock);
    if (virtio_msix_enabled(&vp->msix))
        pci_device_set_irq(&vp->pci, 0);     /* INTx is unused while MSI-X is on */
    virtio_msix_control_written(&vp->msix);
    pthread_mutex_unlock(&vp->vdev->lock);
}

static void vp_bar_remap(struct pci_device *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr, bool mapped)
{
    struct virtio_pci *vp = dev->opaque;
    if (bar == VP_BAR)
        vp_notifiers_place(vp, mapped ? new_addr : PCI_BAR_UNMAPPED);
}

static const struct pci_device_ops vp_pci_ops = {
    .config_write = vp_config_write,
    .bar_remap = vp_bar_remap,
};

/* Guest reboot: device reset plus the PCI-level state (pci_bus_reset puts
 * the MSI-X capability itself back to disabled). */
static void vp_vm_reset(void *opaque)
{
    struct virtio_pci *vp = opaque;
    pthread_mutex_lock(&vp->vdev->lock);
    vp_reset_locked(vp);
    virtio_msix_reset(&vp->msix);
    pthread_mutex_unlock(&vp->vdev->lock);
}

/* ---- saved state ---- */

#define VP_STATE_VERSION 1
struct vp_state {
    struct virtio_common_state common;
    uint32_t dfselect, gfselect;
    uint16_t queue_select, config_vector;
    uint16_t queue_vector[VIRTIO_MAX_QUEUES];
    uint8_t isr, pad[3];
    uint32_t nvectors;
    struct virtio_msix_entry msix[VIRTIO_MSIX_MAX_VECTORS];
    uint64_t pba;
};

static long vp_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_pci *vp = opaque;
    struct vp_state st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&vp->vdev->lock);
    virtio_common_save(vp->vdev, &st.common);
    st.dfselect = vp->dfselect;
    st.gfselect = vp->gfselect;
    st.queue_select = vp->queue_select;
    st.config_vector = vp->config_vector;
    memcpy(st.queue_vector, vp->queue_vector, sizeof(st.queue_vector));
    st.isr = vp->isr;
    st.nvectors = vp->msix.nvectors;
    memcpy(st.msix, vp->msix.table, sizeof(st.msix));
    st.pba = vp->msix.pba;
    pthread_mutex_unlock(&vp->vdev->lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static bool vp_vector_ok(const struct virtio_pci *vp, uint16_t v)
{
    return v == VIRTIO_MSI_NO_VECTOR || v < vp->msix.nvectors;
}

static int vp_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_pci *vp = opaque;
    struct virtio_device *vdev = vp->vdev;
    struct vp_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    bool ok = st.nvectors == vp->msix.nvectors && vp_vector_ok(vp, st.config_vector);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        ok = ok && vp_vector_ok(vp, st.queue_vector[q]);
    pthread_mutex_lock(&vdev->lock);
    if (!ok || virtio_common_check(vdev, &st.common, &vp->vm->mem) < 0) {
        pthread_mutex_unlock(&vdev->lock);
        return -EINVAL;
    }
    virtio_common_load(vdev, &st.common, &vp->vm->mem);
    vp->dfselect = st.dfselect;
    vp->gfselect = st.gfselect;
    vp->queue_select = st.queue_select;
    vp->config_vector = st.config_vector;
    memcpy(vp->queue_vector, st.queue_vector, sizeof(vp->queue_vector));
    vp->isr = st.isr;
    memcpy(vp->msix.table, st.msix, sizeof(vp->msix.table));
    vp->msix.pba = st.pba;
    /* KVM's routes still point where the old state had them: re-route on
     * the next interrupt, and send what an unmasked vector has pending. */
    for (unsigned v = 0; v < vp->msix.nvectors; v++)
        vp->msix.route[v].routed = false;
    virtio_msix_control_written(&vp->msix);
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
        vp_kick_ready_queues(vp);    /* buffers the guest queued before the save */
        /* An interrupt for every queue: one that was in flight into KVM
         * when the vCPUs' state was read would be lost otherwise, and a
         * spurious one only makes the driver look at its used ring. */
        for (unsigned q = 0; q < vdev->ops->num_queues; q++)
            if (vdev->vqs[q].ready)
                vp_notify_queue(vdev, q);
    }
    pthread_mutex_unlock(&vdev->lock);
    return 0;
}

static const struct state_ops vp_state_ops = {
    .version = VP_STATE_VERSION, .save = vp_state_save, .load = vp_state_load,
};

static int vp_register_state(struct vm *vm, struct virtio_pci *vp)
{
    char name[STATE_NAME_MAX];
    snprintf(name, sizeof(name), "%s-pci", vp->vdev->ops->name);
    int r = vm_state_register(vm, name, &vp_state_ops, vp);
    return r ? r : vm_state_register(vm, vp->vdev->ops->name, vp->vdev->ops->state, vp->vdev);
}

/* ---- creation ---- */

static uint32_t vp_class_code(uint16_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_BLOCK: return 0x018000;     /* mass storage, other */
    case VIRTIO_ID_CONSOLE: return 0x078000;   /* communication, other */
    default: return 0xFF0000;                  /* unassigned class */
    }
}

static bool vp_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length,
                       uint32_t notify_mult)
{
    unsigned len = VIRTIO_PCI_CAP_LEN + (type == VIRTIO_PCI_CAP_NOTIFY ? 4 : 0);
    unsigned pos = pci_device_add_capability(&vp->pci, PCI_CAP_ID_VNDR, len);
    if (!pos)
        return false;
    uint8_t *c = &vp->pci.cfg[pos];
    c[2] = (uint8_t)len;
    c[3] = type;
    c[4] = VP_BAR;
    put_le(c + 8, offset, 4);
    put_le(c + 12, length, 4);
    if (type == VIRTIO_PCI_CAP_NOTIFY)
        put_le(c + 16, notify_mult, 4);
    return true;
}

static void vp_notifiers_close(struct virtio_pci *vp)
{
    vp_notifiers_place(vp, PCI_BAR_UNMAPPED);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        if (vp->notifiers[q].fd >= 0) {
            event_loop_del(vp->vm->loop, vp->notifiers[q].fd);
            close(vp->notifiers[q].fd);
        }
    }
}

int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    const struct virtio_device_ops *ops = vdev->ops;
    unsigned nvectors = ops->num_queues + 1;   /* one per queue + config */
    if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
        nvectors > VIRTIO_MSIX_MAX_VECTORS || ops->config_size > VP_REGION_SIZE)
        return -EINVAL;
    struct virtio_pci *vp = calloc(1, sizeof(*vp));
    if (!vp)
        return -ENOMEM;
    vp->vm = vm;
    vp->vdev = vdev;
    pthread_mutex_init(&vp->notifier_lock, NULL);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        vp->notifiers[q] = (struct virtio_pci_notifier){ .vp = vp, .q = q, .fd = -1,
                                                        .addr = PCI_BAR_UNMAPPED };

    struct pci_device *pci = &vp->pci;
    pci_device_init(pci, ops->name, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->device_id,
                    vp_class_code(ops->device_id), VIRTIO_PCI_REVISION,
                    VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_BASE + ops->device_id);
    pci->ops = &vp_pci_ops;
    pci->opaque = vp;
    pci_device_set_bar(pci, VP_MSIX_BAR, VP_MSIX_BAR_SIZE, 0, &vp_msix_ops, vp);
    pci_device_set_bar(pci, VP_BAR, VP_BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &vp_bar_ops, vp);
    pci_device_set_intx(pci, 1);
    int r = -ENOSPC;
    if (!vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON, VP_COMMON_OFF, CC_SIZE, 0) ||
        !vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY, VP_NOTIFY_OFF, ops->num_queues * VP_NOTIFY_MULT,
                    VP_NOTIFY_MULT) ||
        !vp_add_cap(vp, VIRTIO_PCI_CAP_ISR, VP_ISR_OFF, 1, 0) ||
        (ops->config_size && !vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE, VP_DEVICE_OFF, ops->config_size, 0)))
        goto fail;
    if ((r = virtio_msix_init(&vp->msix, vm, pci, nvectors, VP_MSIX_BAR,
                              VP_MSIX_TABLE_OFF, VP_MSIX_PBA_OFF)) < 0)
        goto fail;

    for (unsigned q = 0; q < ops->num_queues; q++) {
        struct virtio_pci_notifier *n = &vp->notifiers[q];
        n->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (n->fd < 0) {
            r = -errno;
            goto fail;
        }
        if ((r = event_loop_add(vm->loop, n->fd, EPOLLIN, vp_notifier_ready, n)) < 0) {
            close(n->fd);
            n->fd = -1;
            goto fail;
        }
    }

    pthread_mutex_lock(&vdev->lock);
    vdev->vm = vm;
    vdev->transport = vp;
    vdev->notify_queue = vp_notify_queue;
    vdev->notify_config = vp_notify_config;
    vp_reset_locked(vp);
    pthread_mutex_unlock(&vdev->lock);

    /* Places the BARs; bar_remap then sets up the ioeventfds. */
    if ((r = pci_bus_add(vm->pci, pci)) < 0)
        goto fail;
    vm_add_reset_hook(vm, vp_vm_reset, vp);
    return vp_register_state(vm, vp);

fail:
    /* Nothing was plugged in; the MSI GSIs stay allocated (setup failure
     * ends the VMM anyway). */
    vp_notifiers_close(vp);
    vdev->transport = NULL;
    vdev->notify_queue = NULL;
    vdev->notify_config = NULL;
    free(vp);
    return r;
}
