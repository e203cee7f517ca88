/* virtio-blk internals shared with the unit tests: the device can be built
 * without a transport and driven through vdev->ops->queue_notify on a
 * virtqueue in fake guest memory. */
#pragma once
#include "virtio.h"

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2

#define VIRTIO_BLK_ID_BYTES       20
#define VIRTIO_BLK_SECTOR         512
#define VIRTIO_BLK_DWZ_F_UNMAP    1

struct virtio_blk_outhdr {           /* le32 type, le32 reserved, le64 sector */
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct virtio_blk_dwz {              /* struct virtio_blk_discard_write_zeroes */
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

struct virtio_blk;
struct disk_config;

/* Opens and locks the disk and builds the device, not yet on any transport.
 * Returns 0 or -errno with *error (if @error) set to a malloc'ed message. */
int virtio_blk_new(const struct disk_config *disk, struct virtio_blk **out, char **error);
void virtio_blk_free(struct virtio_blk *blk);
/* Closes every disk virtio_blk_create_err() added, writing back cached
 * qcow2 metadata: a guest that powers off or reboots without a flush must
 * not lose what it wrote. Call with the vCPUs and the I/O thread stopped. */
void virtio_blk_close_all(void);
struct virtio_device *virtio_blk_device(struct virtio_blk *blk);
/* Waits for every submitted request and completes them (tests: there is
 * no I/O thread to do it). */
void virtio_blk_wait_idle(struct virtio_blk *blk);
