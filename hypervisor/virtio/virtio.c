/* Transport-independent virtio device state: status, features, queues and
 * the failure path every device shares. */
#include "virtio.h"

#include <stdio.h>
#include <string.h>

static void virtio_queues_reset(struct virtio_device *vdev)
{
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        virtqueue_reset(&vdev->vqs[q]);
        /* queue_size reads as the maximum after reset (4.1.4.3). */
        if (q < vdev->ops->num_queues)
            vdev->vqs[q].size = vdev->ops->queue_max_size;
    }
}

void virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops, void *priv)
{
    memset(vdev, 0, sizeof(*vdev));
    vdev->ops = ops;
    vdev->priv = priv;
    pthread_mutex_init(&vdev->lock, NULL);
    virtio_queues_reset(vdev);
}

void virtio_device_reset(struct virtio_device *vdev)
{
    if (vdev->ops->reset)
        vdev->ops->reset(vdev);
    vdev->status = 0;
    vdev->driver_features = 0;
    virtio_queues_reset(vdev);
}

uint64_t virtio_device_features(struct virtio_device *vdev)
{
    uint64_t f = VIRTIO_COMMON_FEATURES;
    if (vdev->ops->get_features)
        f |= vdev->ops->get_features(vdev);
    return f;
}

bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit)
{
    return bit < 64 && (vdev->driver_features & (1ULL << bit));
}

bool virtio_queue_active(const struct virtio_device *vdev, unsigned q)
{
    if (q >= vdev->ops->num_queues)
        return false;
    if ((vdev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) != VIRTIO_STATUS_DRIVER_OK)
        return false;
    return vdev->vqs[q].ready && !vdev->vqs[q].broken;
}

int virtio_queue_pop(struct virtio_device *vdev, unsigned q, struct virtq_chain *chain)
{
    if (!virtio_queue_active(vdev, q))
        return 0;
    int r = virtqueue_pop(&vdev->vqs[q], chain);
    if (r < 0) {
        char why[128];
        snprintf(why, sizeof(why), "malformed descriptor chain on queue %u (%s)", q, strerror(-r));
        virtio_device_fail(vdev, why);
    }
    return r;
}

void virtio_queue_notify_guest(struct virtio_device *vdev, unsigned q)
{
    if (q < vdev->ops->num_queues && virtqueue_should_notify(&vdev->vqs[q]) && vdev->notify_queue)
        vdev->notify_queue(vdev, q);
}

void virtio_config_changed(struct virtio_device *vdev)
{
    vdev->config_generation++;
    if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && vdev->notify_config)
        vdev->notify_config(vdev);
}

void virtio_device_fail(struct virtio_device *vdev, const char *why)
{
    if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    /* Once per failure, so a guest cannot flood the log. */
    fprintf(stderr, "domus-vmm: %s: %s; device stopped until the driver resets it\n",
            vdev->ops->name, why);
    vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
    /* 2.1.2: with DRIVER_OK set, NEEDS_RESET is followed by a config notification. */
    if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && vdev->notify_config)
        vdev->notify_config(vdev);
}
