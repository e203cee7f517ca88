#include "fake_virtq.h"

#include <glib.h>

void fake_driver_ok(struct virtio_device *vdev, uint64_t features)
{
    vdev->driver_features = features | 1ULL << VIRTIO_F_VERSION_1;
    vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
}

void fake_vq_enable(struct fake_vq *fq, struct virtio_device *vdev, const struct guest_mem *mem,
                    unsigned q, uint64_t base, uint16_t size)
{
    *fq = (struct fake_vq){ .ram = mem->base, .base = base, .size = size };
    struct virtqueue *vq = &vdev->vqs[q];
    vq->size = size;
    vq->desc_gpa = base;
    vq->avail_gpa = base + 0x1000;
    vq->used_gpa = base + 0x2000;
    g_assert_cmpint(virtqueue_enable(vq, mem), ==, 0);
}

uint16_t fake_vq_offer(struct fake_vq *fq, const struct fake_seg *segs, unsigned n)
{
    g_assert_cmpuint(n, >, 0);
    struct virtq_desc *d = fake_vq_desc(fq);
    uint16_t head = fq->next_desc % fq->size;
    for (unsigned i = 0; i < n; i++) {
        uint16_t at = fq->next_desc++ % fq->size;
        d[at] = (struct virtq_desc){
            .addr = segs[i].gpa, .len = segs[i].len,
            .flags = (uint16_t)((segs[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
            .next = (uint16_t)(fq->next_desc % fq->size),
        };
    }
    struct virtq_avail *a = fake_vq_avail(fq);
    a->ring[a->idx % fq->size] = head;
    __atomic_store_n(&a->idx, (uint16_t)(a->idx + 1), __ATOMIC_RELEASE);
    return head;
}

bool fake_vq_take_used(struct fake_vq *fq, uint32_t *id, uint32_t *len)
{
    struct virtq_used *u = fake_vq_used(fq);
    if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == fq->used_seen)
        return false;
    struct virtq_used_elem e = u->ring[fq->used_seen++ % fq->size];
    if (id)
        *id = e.id;
    if (len)
        *len = e.len;
    return true;
}
