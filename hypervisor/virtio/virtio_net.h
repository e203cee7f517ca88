/* virtio-net internals shared with the unit tests: the device can be built
 * without a transport and driven through vdev->ops->queue_notify. */
#pragma once
#include "virtio.h"

#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16

#define VIRTIO_NET_S_LINK_UP     1
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_ECN   0x80

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* Frames one transmit run handles before yielding the I/O thread, so a
 * guest flooding the network cannot starve disks, consoles or timers. */
#define VIRTIO_NET_TX_BUDGET 128

struct virtio_net_hdr {              /* 5.1.6, with VERSION_1 always 12 bytes */
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} __attribute__((packed));

struct virtio_net_config {           /* 5.1.4 */
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
} __attribute__((packed));

struct virtio_net;
struct net_backend;
struct event_loop;

/* Builds the device on @nb (which it attaches to as the NIC), not yet on a
 * transport. @loop may be NULL (unit tests: transmit then never defers). */
int virtio_net_new(struct net_backend *nb, struct event_loop *loop, const uint8_t mac[6],
                   struct virtio_net **out);
void virtio_net_free(struct virtio_net *net);
struct virtio_device *virtio_net_device(struct virtio_net *net);
/* Link up/down as the guest sees it (config change interrupt). */
void virtio_net_set_link(struct virtio_net *net, bool up);
