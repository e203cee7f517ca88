/* virtio-console (virtio 1.x 5.3) with a single port, no MULTIPORT: queue 0
 * receives (host -> guest), queue 1 transmits. The guest's hvc0 is wired to
 * a chardev backend, the same kinds the serial port uses. */
#include "virtio.h"
#include "core/state.h"
#include "devices/chardev.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_QUEUE_SIZE           128
#define CONSOLE_RXQ                  0
#define CONSOLE_TXQ                  1
#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define CONSOLE_COLS                 80
#define CONSOLE_ROWS                 24

struct virtio_console_config {       /* 5.3.4 */
    uint16_t cols, rows;
    uint32_t max_nr_ports;
    uint32_t emerg_wr;
} __attribute__((packed));

#define VIRTIO_CONSOLE_STATE_VERSION 1
struct virtio_console_state {
    uint32_t version;
    uint16_t cols, rows;
};

struct virtio_console {
    struct virtio_device vdev;
    struct chardev *backend;         /* NULL: output discarded, no input */
    struct chardev_frontend fe;
    struct virtio_console_config config;
    struct virtio_console_state state;
    /* Under vdev.lock: a receive buffer popped when the backend asked how
     * much it may send, kept for the receive() that follows. */
    struct virtq_chain rx;
    bool rx_held;
    struct virtq_chain tx;
};

/* Makes sure a receive buffer is held; false when the guest has none. */
static bool console_rx_buffer(struct virtio_console *con)
{
    struct virtio_device *vdev = &con->vdev;
    if (!virtio_queue_active(vdev, CONSOLE_RXQ))
        con->rx_held = false;
    while (!con->rx_held) {
        if (virtio_queue_pop(vdev, CONSOLE_RXQ, &con->rx) <= 0)
            return false;
        if (con->rx.in_len) {
            con->rx_held = true;
        } else {
            /* Nothing writable in it: give it straight back. */
            virtqueue_push(&vdev->vqs[CONSOLE_RXQ], con->rx.head, 0);
            virtio_queue_notify_guest(vdev, CONSOLE_RXQ);
        }
    }
    return true;
}

static size_t console_can_receive(void *opaque)
{
    struct virtio_console *con = opaque;
    pthread_mutex_lock(&con->vdev.lock);
    size_t n = console_rx_buffer(con) ? (size_t)con->rx.in_len : 0;
    pthread_mutex_unlock(&con->vdev.lock);
    return n;
}

/* Input from the backend; bytes beyond the guest's buffers are dropped
 * (the backend was told how much fits by can_receive). */
static void console_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct virtio_console *con = opaque;
    struct virtio_device *vdev = &con->vdev;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (len && console_rx_buffer(con)) {
        size_t n = iov_from_buf(con->rx.in, con->rx.nin, 0, buf, len);
        /* Each buffer goes back at once: keystrokes must not wait for a full one. */
        virtqueue_push(&vdev->vqs[CONSOLE_RXQ], con->rx.head, (uint32_t)n);
        con->rx_held = false;
        pushed = true;
        buf += n;
        len -= n;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, CONSOLE_RXQ);
    pthread_mutex_unlock(&vdev->lock);
}

static void console_transmit(struct virtio_console *con)
{
    struct virtio_device *vdev = &con->vdev;
    bool pushed = false;
    pthread_mutex_lock(&vdev->lock);
    while (virtio_queue_pop(vdev, CONSOLE_TXQ, &con->tx) > 0) {
        for (unsigned i = 0; i < con->tx.nout && con->backend; i++)
            chardev_write(con->backend, con->tx.out[i].iov_base, con->tx.out[i].iov_len);
        virtqueue_push(&vdev->vqs[CONSOLE_TXQ], con->tx.head, 0);
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, CONSOLE_TXQ);
    pthread_mutex_unlock(&vdev->lock);
}

static void console_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_console *con = vdev->priv;
    if (q == CONSOLE_TXQ) {
        console_transmit(con);
    } else if (q == CONSOLE_RXQ && con->backend) {
        /* New receive buffers: let paused input flow again. Called without
         * the lock, since the backend may ask can_receive() right away. */
        chardev_accept_input(con->backend);
    }
}

static uint64_t console_get_features(struct virtio_device *vdev)
{
    return (1ULL << VIRTIO_CONSOLE_F_SIZE) | (1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
}

static void console_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_console *con = vdev->priv;
    memcpy(data, (const uint8_t *)&con->config + offset, len);
}

static void console_config_write(struct virtio_device *vdev, unsigned offset, const void *data, unsigned len)
{
    struct virtio_console *con = vdev->priv;
    /* emerg_wr: one character out, usable before the queues are set up. */
    if (offset == offsetof(struct virtio_console_config, emerg_wr) && con->backend) {
        uint8_t c = *(const uint8_t *)data;
        chardev_write(con->backend, &c, 1);
    }
}

static void console_reset(struct virtio_device *vdev)
{
    struct virtio_console *con = vdev->priv;
    con->rx_held = false;            /* the buffer belonged to the old rings */
}

/* A held receive buffer goes back to the ring: the snapshot's rings then
 * say it is still the guest's, and it is popped again when input comes. */
static int console_quiesce(void *opaque)
{
    struct virtio_device *vdev = opaque;
    struct virtio_console *con = vdev->priv;
    pthread_mutex_lock(&vdev->lock);
    if (con->rx_held && virtio_queue_active(vdev, CONSOLE_RXQ))
        virtqueue_unpop(&vdev->vqs[CONSOLE_RXQ], 1);
    con->rx_held = false;
    pthread_mutex_unlock(&vdev->lock);
    return 0;
}

static long console_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_console *con = ((struct virtio_device *)opaque)->priv;
    return state_save_struct(buf, max, &con->state, sizeof(con->state));
}

static int console_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_console *con = ((struct virtio_device *)opaque)->priv;
    struct virtio_console_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.version != VIRTIO_CONSOLE_STATE_VERSION || st.cols != con->state.cols || st.rows != con->state.rows)
        return -EINVAL;
    pthread_mutex_lock(&con->vdev.lock);
    con->rx_held = false;
    pthread_mutex_unlock(&con->vdev.lock);
    return 0;
}

static const struct state_ops console_state_ops = {
    .version = VIRTIO_CONSOLE_STATE_VERSION, .save = console_state_save, .load = console_state_load,
    .quiesce = console_quiesce,
};

static const struct virtio_device_ops virtio_console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max_size = CONSOLE_QUEUE_SIZE,
    .get_features = console_get_features,
    .config_size = sizeof(struct virtio_console_config),
    .config_read = console_config_read,
    .config_write = console_config_write,
    .queue_notify = console_queue_notify,
    .reset = console_reset,
    .state = &console_state_ops,
};

int virtio_console_create(struct vm *vm, struct chardev *backend)
{
    struct virtio_console *con = calloc(1, sizeof(*con));
    if (!con)
        return -ENOMEM;
    con->backend = backend;
    con->config.cols = htole16(CONSOLE_COLS);
    con->config.rows = htole16(CONSOLE_ROWS);
    con->state = (struct virtio_console_state){ .version = VIRTIO_CONSOLE_STATE_VERSION,
                                                .cols = CONSOLE_COLS, .rows = CONSOLE_ROWS };
    virtio_device_init(&con->vdev, &virtio_console_ops, con);
    int r = virtio_pci_create(vm, &con->vdev);
    if (r < 0) {
        pthread_mutex_destroy(&con->vdev.lock);
        free(con);
        return r;
    }
    if (backend) {
        con->fe = (struct chardev_frontend){ .can_receive = console_can_receive,
                                             .receive = console_receive, .opaque = con };
        chardev_set_frontend(backend, &con->fe);
    }
    return 0;
}
