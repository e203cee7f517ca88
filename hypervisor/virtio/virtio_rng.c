/* virtio-rng / entropy device (virtio 1.x 5.4): one request queue whose
 * device-writable buffers are filled from the host's getrandom(). */
#include "virtio.h"
#include "core/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RNG_QUEUE_SIZE   64
/* Bytes per request at most: the spec lets the device write fewer than
 * offered, and this bounds the I/O thread's time on one buffer. */
#define RNG_MAX_REQUEST  65536

#define VIRTIO_RNG_STATE_VERSION 1
struct virtio_rng_state {
    uint32_t version;
    uint64_t bytes_served;
};

struct virtio_rng {
    struct virtio_device vdev;
    struct virtio_rng_state state;
    struct virtq_chain chain;        /* I/O thread scratch, under vdev.lock */
};

/* Fills up to @max bytes of the chain's writable buffers; returns the count. */
static size_t rng_fill(const struct virtq_chain *c, size_t max)
{
    size_t done = 0;
    for (unsigned i = 0; i < c->nin && done < max; i++) {
        size_t want = c->in[i].iov_len < max - done ? c->in[i].iov_len : max - done;
        size_t got = 0;
        while (got < want) {
            ssize_t r = getrandom((uint8_t *)c->in[i].iov_base + got, want - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return done + got;
            got += (size_t)r;
        }
        done += got;
    }
    return done;
}

static void rng_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_rng *rng = vdev->priv;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (virtio_queue_pop(vdev, q, &rng->chain) > 0) {
        size_t n = rng_fill(&rng->chain, RNG_MAX_REQUEST);
        rng->state.bytes_served += n;
        virtqueue_push(&vdev->vqs[q], rng->chain.head, (uint32_t)n);
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, q);
    pthread_mutex_unlock(&vdev->lock);
}

static long rng_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_rng *rng = ((struct virtio_device *)opaque)->priv;
    return state_save_struct(buf, max, &rng->state, sizeof(rng->state));
}

static int rng_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_rng *rng = ((struct virtio_device *)opaque)->priv;
    struct virtio_rng_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.version != VIRTIO_RNG_STATE_VERSION)
        return -EINVAL;
    rng->state = st;
    return 0;
}

static const struct state_ops rng_state_ops = {
    .version = VIRTIO_RNG_STATE_VERSION, .save = rng_state_save, .load = rng_state_load,
};

static const struct virtio_device_ops virtio_rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max_size = RNG_QUEUE_SIZE,
    .queue_notify = rng_queue_notify,
    .state = &rng_state_ops,
};

int virtio_rng_create(struct vm *vm)
{
    struct virtio_rng *rng = calloc(1, sizeof(*rng));
    if (!rng)
        return -ENOMEM;
    rng->state.version = VIRTIO_RNG_STATE_VERSION;
    virtio_device_init(&rng->vdev, &virtio_rng_ops, rng);
    int r = virtio_pci_create(vm, &rng->vdev);
    if (r < 0) {
        pthread_mutex_destroy(&rng->vdev.lock);
        free(rng);
    }
    return r;
}
