/* A virtio device, independent of its transport (kvmtool's split): the
 * device supplies an ops struct; virtio_pci.c carries it over PCI. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "virtqueue.h"

struct vm;
struct virtio_device;

#define VIRTIO_MAX_QUEUES 8

/* Feature bits common to all devices */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE   1
#define VIRTIO_STATUS_DRIVER        2
#define VIRTIO_STATUS_DRIVER_OK     4
#define VIRTIO_STATUS_FEATURES_OK   8
#define VIRTIO_STATUS_NEEDS_RESET   64
#define VIRTIO_STATUS_FAILED        128

struct virtio_device_ops {
    const char *name;
    uint16_t device_id;              /* virtio device type: 2 blk, 3 console, 4 rng */
    unsigned num_queues;
    uint16_t queue_max_size;
    uint64_t (*get_features)(struct virtio_device *vdev);
    /* Device-specific config space */
    unsigned config_size;
    void (*config_read)(struct virtio_device *vdev, unsigned offset, void *data, unsigned len);
    void (*config_write)(struct virtio_device *vdev, unsigned offset, const void *data, unsigned len);
    /* Called on the I/O thread when the guest kicks queue @q. */
    void (*queue_notify)(struct virtio_device *vdev, unsigned q);
    /* Called when the driver sets DRIVER_OK (start) and on device reset (stop). */
    void (*start)(struct virtio_device *vdev);
    void (*reset)(struct virtio_device *vdev);
};

struct virtio_device {
    const struct virtio_device_ops *ops;
    void *priv;                      /* the device's own state */
    struct vm *vm;
    pthread_mutex_t lock;            /* guards queues and transport state */
    uint64_t driver_features;
    uint8_t status;
    struct virtqueue vqs[VIRTIO_MAX_QUEUES];
    void *transport;                 /* struct virtio_pci * */
    /* Transport callbacks, filled in by the transport */
    void (*notify_queue)(struct virtio_device *vdev, unsigned q);   /* interrupt for used buffers */
    void (*notify_config)(struct virtio_device *vdev);              /* config change interrupt */
};

/* Signals the guest if the queue wants it. */
void virtio_queue_notify_guest(struct virtio_device *vdev, unsigned q);
/* Marks the device broken after a hostile request: NEEDS_RESET + config interrupt;
 * the device stops processing until the driver resets it. */
void virtio_device_fail(struct virtio_device *vdev, const char *why);
bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit);

/* virtio-pci modern transport: creates the PCI function and plugs it in. */
int virtio_pci_create(struct vm *vm, struct virtio_device *vdev, const struct virtio_device_ops *ops, void *priv);

/* Devices */
struct disk_config;
struct chardev;
int virtio_blk_create(struct vm *vm, const struct disk_config *disk);
int virtio_rng_create(struct vm *vm);
int virtio_console_create(struct vm *vm, struct chardev *backend);
