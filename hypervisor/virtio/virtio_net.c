/* virtio-net (virtio 1.x 5.1): one receive and one transmit queue, mergeable
 * receive buffers, checksum and TSO offloads from the guest (resolved in
 * software, net_offload.c), link status and the VM's MAC.
 *
 * Runs on the I/O thread. The transmit handler copies each frame out and
 * releases vdev->lock before handing it to the backend, because a backend
 * (slirp answering ARP or DHCP) may deliver a reply synchronously, which
 * takes the lock again on the receive side. */
#include "virtio_net.h"
#include "core/event_loop.h"
#include "core/state.h"
#include "net/net.h"
#include "net/net_offload.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NET_QUEUE_SIZE   256
#define NET_HDR_LEN      ((unsigned)sizeof(struct virtio_net_hdr))

#define VIRTIO_NET_STATE_VERSION 1
struct virtio_net_state {
    uint32_t version;
    uint8_t mac[6];
    uint16_t status;
    uint64_t tx_frames, rx_frames, tx_bad;
};

struct virtio_net {
    struct virtio_device vdev;
    struct net_backend *nb;
    struct event_loop *loop;
    struct virtio_net_config config;
    struct virtio_net_state state;
    bool tx_deferred;                /* a continuation is queued on the loop */
    struct virtq_chain rx_chain, tx_chain;
    uint8_t tx_buf[sizeof(struct virtio_net_hdr) + NET_MAX_FRAME];
    uint8_t seg_buf[NET_MAX_FRAME];
};

/* ---- receive: backend -> guest ---- */

/* Writes bytes [off, off+len) of header+frame into @iov. */
static void rx_copy(const struct iovec *iov, unsigned n, size_t off, size_t len,
                    const struct virtio_net_hdr *hdr, const uint8_t *frame)
{
    size_t done = 0;
    if (off < NET_HDR_LEN) {
        size_t k = NET_HDR_LEN - off < len ? NET_HDR_LEN - off : len;
        iov_from_buf(iov, n, 0, (const uint8_t *)hdr + off, k);
        done = k;
    }
    if (done < len)
        iov_from_buf(iov, n, done, frame + (off + done - NET_HDR_LEN), len - done);
}

static bool virtio_net_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *net = opaque;
    struct virtio_device *vdev = &net->vdev;
    struct virtqueue *vq = &vdev->vqs[VIRTIO_NET_RXQ];
    bool taken = true;
    pthread_mutex_lock(&vdev->lock);
    if (!virtio_queue_active(vdev, VIRTIO_NET_RXQ) || !(net->config.status & htole16(VIRTIO_NET_S_LINK_UP)))
        goto out;                    /* no driver or link down: the frame is lost, as on a wire */
    bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
    struct virtio_net_hdr hdr = {
        .flags = virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM) ? VIRTIO_NET_HDR_F_DATA_VALID : 0,
    };
    struct iovec hdr_iov[NET_HDR_LEN];
    unsigned hdr_niov = 0, used = 0;
    size_t total = NET_HDR_LEN + len, off = 0;
    while (off < total) {
        int r = virtio_queue_pop(vdev, VIRTIO_NET_RXQ, &net->rx_chain);
        if (r < 0)
            goto out;                /* device failed; the frame goes with it */
        if (r == 0 || used == UINT16_MAX) {
            virtqueue_unpop(vq, used);
            taken = false;           /* not enough buffers posted: backlog it */
            goto out;
        }
        struct virtq_chain *c = &net->rx_chain;
        size_t k = total - off < c->in_len ? total - off : c->in_len;
        if ((used == 0 && c->in_len < NET_HDR_LEN) || (!mrg && k < total)) {
            /* Too small for the header, or for a whole frame without
             * merging: the driver broke the size rules (5.1.6.3.1). */
            virtqueue_unpop(vq, used + 1);
            virtio_device_fail(vdev, "receive buffer smaller than the frame");
            goto out;
        }
        if (used == 0)
            hdr_niov = iov_slice(c->in, c->nin, 0, NET_HDR_LEN, hdr_iov, NET_HDR_LEN);
        rx_copy(c->in, c->nin, off, k, &hdr, frame);
        virtqueue_fill(vq, used++, c->head, (uint32_t)k);
        off += k;
    }
    hdr.num_buffers = htole16((uint16_t)used);
    iov_from_buf(hdr_iov, hdr_niov, 0, &hdr, NET_HDR_LEN);
    virtqueue_flush(vq, used);
    net->state.rx_frames++;
    virtio_queue_notify_guest(vdev, VIRTIO_NET_RXQ);
out:
    pthread_mutex_unlock(&vdev->lock);
    return taken;
}

/* ---- transmit: guest -> backend ---- */

static void tx_emit(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *net = opaque;
    /* Unlocked: the link only changes on this (the I/O) thread. */
    if (!(net->state.status & VIRTIO_NET_S_LINK_UP))
        return;                      /* no cable: the frame goes nowhere */
    net->state.tx_frames++;
    net_backend_send(net->nb, frame, len);
}

static void virtio_net_tx_continue(void *opaque);

static void virtio_net_transmit(struct virtio_net *net)
{
    struct virtio_device *vdev = &net->vdev;
    unsigned done = 0;
    bool more = true;
    while (done < VIRTIO_NET_TX_BUDGET) {
        pthread_mutex_lock(&vdev->lock);
        if (virtio_queue_pop(vdev, VIRTIO_NET_TXQ, &net->tx_chain) <= 0) {
            pthread_mutex_unlock(&vdev->lock);
            more = false;
            break;
        }
        struct virtq_chain *c = &net->tx_chain;
        size_t len = c->out_len <= sizeof(net->tx_buf) ? iov_to_buf(c->out, c->nout, 0, net->tx_buf, c->out_len) : 0;
        virtqueue_push(&vdev->vqs[VIRTIO_NET_TXQ], c->head, 0);
        pthread_mutex_unlock(&vdev->lock);
        done++;

        struct virtio_net_hdr *h = (struct virtio_net_hdr *)net->tx_buf;
        struct net_offload o = {
            .needs_csum = len >= NET_HDR_LEN && (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM),
            .csum_start = le16toh(h->csum_start), .csum_offset = le16toh(h->csum_offset),
            .gso_type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN,
            .gso_size = le16toh(h->gso_size),
        };
        if (len < NET_HDR_LEN + 14 ||
            net_offload_emit(&o, net->tx_buf + NET_HDR_LEN, len - NET_HDR_LEN, net->seg_buf, tx_emit, net) < 0)
            net->state.tx_bad++;     /* dropped; the guest's stack will retransmit or give up */
    }
    pthread_mutex_lock(&vdev->lock);
    if (done)
        virtio_queue_notify_guest(vdev, VIRTIO_NET_TXQ);
    if (more && net->loop && !net->tx_deferred) {
        /* Budget spent: come back after the other ready file descriptors. */
        net->tx_deferred = true;
        event_loop_call(net->loop, virtio_net_tx_continue, net);
    }
    pthread_mutex_unlock(&vdev->lock);
}

static void virtio_net_tx_continue(void *opaque)
{
    struct virtio_net *net = opaque;
    pthread_mutex_lock(&net->vdev.lock);
    net->tx_deferred = false;
    pthread_mutex_unlock(&net->vdev.lock);
    virtio_net_transmit(net);
}

static void virtio_net_rx_resume(void *opaque)
{
    struct virtio_net *net = opaque;
    net_backend_resume(net->nb);
}

static void virtio_net_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_net *net = vdev->priv;
    if (q == VIRTIO_NET_TXQ)
        virtio_net_transmit(net);
    else if (q == VIRTIO_NET_RXQ)
        net_backend_resume(net->nb);  /* new buffers: held frames can go in now */
}

static uint64_t virtio_net_get_features(struct virtio_device *vdev)
{
    return (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
           (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
           (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
           (1ULL << VIRTIO_NET_F_STATUS);
}

static void virtio_net_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_net *net = vdev->priv;
    memcpy(data, (const uint8_t *)&net->config + offset, len);
}

static void virtio_net_start(struct virtio_device *vdev)
{
    struct virtio_net *net = vdev->priv;
    /* Frames held from before a reset can go once the driver is up. The
     * lock is held here, and delivery takes it, so this is deferred. */
    if (net->loop)
        event_loop_call(net->loop, virtio_net_rx_resume, net);
}

static void virtio_net_link_cb(void *opaque, bool up)
{
    virtio_net_set_link(opaque, up);
}

/* The NIC's own state; the backend's (user networking's connections) is
 * not saved: after a revert the guest's TCP connections through it reset. */
static long net_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_net *net = ((struct virtio_device *)opaque)->priv;
    pthread_mutex_lock(&net->vdev.lock);
    struct virtio_net_state st = net->state;
    pthread_mutex_unlock(&net->vdev.lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static int net_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_net *net = ((struct virtio_device *)opaque)->priv;
    struct virtio_net_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.version != VIRTIO_NET_STATE_VERSION || memcmp(st.mac, net->state.mac, sizeof(st.mac)))
        return -EINVAL;              /* another NIC */
    pthread_mutex_lock(&net->vdev.lock);
    st.status = net->state.status;   /* the link (cable in or out) is the host's, now */
    net->state = st;
    pthread_mutex_unlock(&net->vdev.lock);
    return 0;
}

static const struct state_ops net_state_ops = {
    .version = VIRTIO_NET_STATE_VERSION, .save = net_state_save, .load = net_state_load,
};

static const struct virtio_device_ops virtio_net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .queue_max_size = NET_QUEUE_SIZE,
    .get_features = virtio_net_get_features,
    .config_size = sizeof(struct virtio_net_config),
    .config_read = virtio_net_config_read,
    .queue_notify = virtio_net_queue_notify,
    .start = virtio_net_start,
    .state = &net_state_ops,
};

int virtio_net_new(struct net_backend *nb, struct event_loop *loop, const uint8_t mac[6],
                   struct virtio_net **out)
{
    struct virtio_net *net = calloc(1, sizeof(*net));
    if (!net)
        return -ENOMEM;
    net->nb = nb;
    net->loop = loop;
    memcpy(net->config.mac, mac, 6);
    net->config.status = htole16(VIRTIO_NET_S_LINK_UP);
    net->config.max_virtqueue_pairs = htole16(1);
    net->state = (struct virtio_net_state){ .version = VIRTIO_NET_STATE_VERSION,
                                            .status = VIRTIO_NET_S_LINK_UP };
    memcpy(net->state.mac, mac, 6);
    virtio_device_init(&net->vdev, &virtio_net_ops, net);
    if (nb)
        net_backend_set_client(nb, &(struct net_client){ .receive = virtio_net_receive,
                                                         .set_link = virtio_net_link_cb, .opaque = net });
    *out = net;
    return 0;
}

void virtio_net_free(struct virtio_net *net)
{
    if (!net)
        return;
    pthread_mutex_destroy(&net->vdev.lock);
    free(net);
}

struct virtio_device *virtio_net_device(struct virtio_net *net)
{
    return &net->vdev;
}

void virtio_net_set_link(struct virtio_net *net, bool up)
{
    pthread_mutex_lock(&net->vdev.lock);
    net->state.status = up ? VIRTIO_NET_S_LINK_UP : 0;
    net->config.status = htole16(net->state.status);
    virtio_config_changed(&net->vdev);
    pthread_mutex_unlock(&net->vdev.lock);
}

int virtio_net_create(struct vm *vm, struct net_backend *nb, struct event_loop *loop, const uint8_t mac[6])
{
    struct virtio_net *net;
    int r = virtio_net_new(nb, loop, mac, &net);
    if (r < 0)
        return r;
    r = virtio_pci_create(vm, &net->vdev);
    if (r < 0) {
        net_backend_set_client(nb, &(struct net_client){ 0 });
        virtio_net_free(net);
    }
    return r;
}
