/* The transport-independent part of a virtio device's saved state: status,
 * negotiated features and each queue's layout and indices. The rings
 * themselves live in guest RAM, which the snapshot carries. */
#include "virtio.h"

#include <errno.h>
#include <string.h>

void virtio_common_save(const struct virtio_device *vdev, struct virtio_common_state *s)
{
    memset(s, 0, sizeof(*s));
    s->driver_features = vdev->driver_features;
    s->status = vdev->status;
    s->config_generation = vdev->config_generation;
    s->num_queues = (uint16_t)vdev->ops->num_queues;
    for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
        const struct virtqueue *vq = &vdev->vqs[q];
        s->q[q] = (struct virtio_queue_state){
            .desc = vq->desc_gpa, .avail = vq->avail_gpa, .used = vq->used_gpa,
            .size = vq->size, .last_avail = vq->last_avail, .used_idx = vq->used_idx,
            .signalled_used = vq->signalled_used, .ready = vq->ready, .event_idx = vq->event_idx,
            .signalled_used_valid = vq->signalled_used_valid, .broken = vq->broken };
    }
}

int virtio_common_check(const struct virtio_device *vdev, const struct virtio_common_state *s,
                        const struct guest_mem *mem)
{
    if (s->num_queues != vdev->ops->num_queues || (s->driver_features & ~virtio_device_features(
            (struct virtio_device *)vdev)))
        return -EINVAL;
    for (unsigned q = 0; q < s->num_queues; q++) {
        const struct virtio_queue_state *qs = &s->q[q];
        if (qs->size > vdev->ops->queue_max_size)
            return -EINVAL;
        struct virtqueue probe = { .size = qs->size, .desc_gpa = qs->desc, .avail_gpa = qs->avail,
                                   .used_gpa = qs->used };
        if (qs->ready && virtqueue_enable(&probe, mem) < 0)
            return -EINVAL;
    }
    return 0;
}

/* After virtio_common_check(); lock held. The device is reset first (so a
 * disk drops requests of the state it leaves) and started again when the
 * saved driver had it running. */
void virtio_common_load(struct virtio_device *vdev, const struct virtio_common_state *s,
                        const struct guest_mem *mem)
{
    virtio_device_reset(vdev);
    vdev->driver_features = s->driver_features;
    vdev->status = s->status;
    vdev->config_generation = s->config_generation;
    for (unsigned q = 0; q < s->num_queues; q++) {
        const struct virtio_queue_state *qs = &s->q[q];
        struct virtqueue *vq = &vdev->vqs[q];
        vq->size = qs->size;
        vq->desc_gpa = qs->desc;
        vq->avail_gpa = qs->avail;
        vq->used_gpa = qs->used;
        vq->event_idx = qs->event_idx;
        if (qs->ready && virtqueue_enable(vq, mem) == 0) {
            vq->last_avail = qs->last_avail;
            vq->used_idx = qs->used_idx;
            vq->signalled_used = qs->signalled_used;
            vq->signalled_used_valid = qs->signalled_used_valid;
            vq->broken = qs->broken;
        }
    }
    if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && vdev->ops->start)
        vdev->ops->start(vdev);
}
