/* A virtio device, independent of its transport (kvmtool's split): the
 * device supplies an ops struct; virtio_pci.c carries it over PCI.
 *
 * Locking: vdev->lock guards the queues, status, features and the
 * transport's registers. The transport calls config_read/config_write,
 * start and reset with the lock held; queue_notify is called WITHOUT it
 * (on the I/O thread), and the device takes it around ring access, checking
 * virtio_queue_active() first since a reset may have happened meanwhile.
 * notify_queue/notify_config (and so virtio_queue_notify_guest,
 * virtio_config_changed and virtio_device_fail) need the lock held. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "virtqueue.h"

struct vm;
struct virtio_device;
struct state_ops;

#define VIRTIO_MAX_QUEUES 8

/* Feature bits common to all devices */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

/* Offered for every device on top of ops->get_features(): virtqueue.c
 * implements indirect descriptors and event-index suppression for all. */
#define VIRTIO_COMMON_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | \
                                (1ULL << VIRTIO_F_RING_INDIRECT_DESC) | \
                                (1ULL << VIRTIO_F_RING_EVENT_IDX))

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE   1
#define VIRTIO_STATUS_DRIVER        2
#define VIRTIO_STATUS_DRIVER_OK     4
#define VIRTIO_STATUS_FEATURES_OK   8
#define VIRTIO_STATUS_NEEDS_RESET   64
#define VIRTIO_STATUS_FAILED        128

/* Virtio device types (5 Device Types) */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

struct virtio_device_ops {
    const char *name;
    uint16_t device_id;              /* virtio device type: 2 blk, 3 console, 4 rng */
    unsigned num_queues;
    uint16_t queue_max_size;
    /* Device-specific feature bits (VIRTIO_COMMON_FEATURES are added). */
    uint64_t (*get_features)(struct virtio_device *vdev);
    /* Device-specific config space; offset+len <= config_size is checked by the transport. */
    unsigned config_size;
    void (*config_read)(struct virtio_device *vdev, unsigned offset, void *data, unsigned len);
    void (*config_write)(struct virtio_device *vdev, unsigned offset, const void *data, unsigned len);
    /* Called on the I/O thread, without vdev->lock, when the guest kicks queue @q. */
    void (*queue_notify)(struct virtio_device *vdev, unsigned q);
    /* Called when the driver sets DRIVER_OK (start) and on device reset (stop). May be NULL. */
    void (*start)(struct virtio_device *vdev);
    void (*reset)(struct virtio_device *vdev);
    /* The device's own saved state beyond queues and features (core/state.h;
     * opaque is the virtio_device), loaded after the transport's. NULL:
     * the device cannot be saved and snapshots are refused. */
    const struct state_ops *state;
};

struct virtio_device {
    const struct virtio_device_ops *ops;
    void *priv;                      /* the device's own state */
    struct vm *vm;
    pthread_mutex_t lock;            /* guards queues and transport state */
    uint64_t driver_features;
    uint8_t status;
    uint8_t config_generation;       /* bumped by virtio_config_changed() */
    struct virtqueue vqs[VIRTIO_MAX_QUEUES];
    void *transport;                 /* struct virtio_pci * */
    /* Transport callbacks, filled in by the transport */
    void (*notify_queue)(struct virtio_device *vdev, unsigned q);   /* interrupt for used buffers */
    void (*notify_config)(struct virtio_device *vdev);              /* config change interrupt */
};

/* Zeroes @vdev, binds it to @ops/@priv and puts it in the reset state.
 * Devices call it before handing the device to a transport (or, in unit
 * tests, driving it directly). */
void virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops, void *priv);
/* Device reset (status 0 written): ops->reset, then status, features and
 * queues back to power-on values. Lock held. */
void virtio_device_reset(struct virtio_device *vdev);
/* Everything offered: the device's bits plus VIRTIO_COMMON_FEATURES. */
uint64_t virtio_device_features(struct virtio_device *vdev);
bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit);
/* Whether the device should process queue @q now: DRIVER_OK, not failed,
 * the queue enabled and not broken. Lock held. */
bool virtio_queue_active(const struct virtio_device *vdev, unsigned q);
/* virtqueue_pop() for an active queue that fails the device on a malformed
 * chain. Returns 1 (popped), 0 (nothing to do) or -errno (device failed). Lock held. */
int virtio_queue_pop(struct virtio_device *vdev, unsigned q, struct virtq_chain *chain);
/* Signals the guest if the queue wants it. Lock held. */
void virtio_queue_notify_guest(struct virtio_device *vdev, unsigned q);
/* The device changed its config space: bump config_generation and raise a
 * config interrupt. Lock held. */
void virtio_config_changed(struct virtio_device *vdev);
/* Marks the device broken after a hostile request: NEEDS_RESET + config interrupt;
 * the device stops processing until the driver resets it. Lock held. */
void virtio_device_fail(struct virtio_device *vdev, const char *why);

/* Saved state common to every virtio device (see virtio_state.c). */
struct virtio_queue_state {
    uint64_t desc, avail, used;
    uint16_t size, last_avail, used_idx, signalled_used;
    uint8_t ready, event_idx, signalled_used_valid, broken;
    uint32_t pad;
};
struct virtio_common_state {
    uint64_t driver_features;
    uint8_t status, config_generation;
    uint16_t num_queues;
    uint32_t pad;
    struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
};
void virtio_common_save(const struct virtio_device *vdev, struct virtio_common_state *s);
/* 0 if @s fits this device and its rings lie in @mem, else -EINVAL. */
int virtio_common_check(const struct virtio_device *vdev, const struct virtio_common_state *s,
                        const struct guest_mem *mem);
void virtio_common_load(struct virtio_device *vdev, const struct virtio_common_state *s,
                        const struct guest_mem *mem);

/* virtio-pci modern transport: creates the PCI function for @vdev (already
 * set up by virtio_device_init) and plugs it into vm->pci. Returns -errno. */
int virtio_pci_create(struct vm *vm, struct virtio_device *vdev);

/* Devices */
struct disk_config;
struct chardev;
int virtio_blk_create(struct vm *vm, const struct disk_config *disk);
/* As virtio_blk_create; on failure *error (if @error) gets a malloc'ed
 * message such as "cannot open disk PATH: it is in use by another process". */
int virtio_blk_create_err(struct vm *vm, const struct disk_config *disk, char **error);
int virtio_rng_create(struct vm *vm);
struct net_backend;
struct event_loop;
/* The guest's NIC on @nb (NULL: a NIC with no cable). */
int virtio_net_create(struct vm *vm, struct net_backend *nb, struct event_loop *loop, const uint8_t mac[6]);
/* @backend may be NULL: guest output is then discarded and there is no input. */
int virtio_console_create(struct vm *vm, struct chardev *backend);
struct vaudio;
/* virtio-snd on @va (NULL: silent). */
int virtio_snd_create(struct vm *vm, struct vaudio *va);
