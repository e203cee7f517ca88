/* virtio-snd I/O messages (5.14.6.8): the driver queues one message per
 * period on the tx queue (header + frames in, status out) or the rx queue
 * (header in, frames + status out). The device holds them and, on each
 * tick of its stream's timer, moves as many frames as vaudio's clock says
 * are due; a message whose frames are all played (or captured) is
 * completed, which is the driver's period notification.
 *
 * A message without room for its status, or more messages held than the
 * queue has entries (a driver reusing heads), stops the device; one for an
 * unknown stream, the wrong direction, a stream not prepared or a length
 * that is not whole frames is completed at once with BAD_MSG. */
#include "virtio_snd.h"
#include "vaudio.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

static unsigned frame_bytes(const struct virtio_snd_stream *st)
{
    return 2u * st->ss->channels;
}

static unsigned stream_queue(const struct virtio_snd_stream *st)
{
    return st->id == 0 ? VIRTIO_SND_VQ_TX : VIRTIO_SND_VQ_RX;
}

/* Writes the status and returns the message to the driver. */
static void msg_complete(struct virtio_snd_stream *st, struct virtio_snd_msg *m, uint32_t status)
{
    uint64_t latency = st->vs ? vaudio_stream_latency_ns(st->vs) * VAUDIO_RATE / 1000000000u * frame_bytes(st) : 0;
    struct virtio_snd_pcm_status s = { .status = htole32(status), .latency_bytes = htole32((uint32_t)latency) };
    iov_from_buf(m->status, m->nstatus, 0, &s, sizeof(s));
    bool capture = st->id != 0;
    virtqueue_push(&st->snd->vdev.vqs[stream_queue(st)], m->head,
                   (uint32_t)((capture ? m->done : 0) + sizeof(s)));
    free(m->iov);
    m->iov = NULL;
}

void virtio_snd_pcm_flush(struct virtio_snd_stream *st, uint32_t status)
{
    bool any = st->msg_count > 0;
    while (st->msg_count) {
        struct virtio_snd_msg *m = &st->msgs[st->msg_head];
        if (status)
            msg_complete(st, m, status);
        free(m->iov);
        m->iov = NULL;
        st->msg_head = (st->msg_head + 1) % VIRTIO_SND_QUEUE_SIZE;
        st->msg_count--;
    }
    st->refused_behind = false;
    if (any && status)
        virtio_queue_notify_guest(&st->snd->vdev, stream_queue(st));
}

/* Parses one popped chain into @m. Returns the stream it is for, NULL with
 * *status set when it is to be refused, or NULL with the device failed. */
static struct virtio_snd_stream *msg_parse(struct virtio_snd *snd, unsigned q, struct virtq_chain *c,
                                           struct virtio_snd_msg *m, uint32_t *status)
{
    struct virtio_snd_pcm_xfer x;
    struct virtio_snd_pcm_status s;
    if (c->out_len < sizeof(x) || c->in_len < sizeof(s)) {
        virtio_device_fail(&snd->vdev, "I/O message without its header or status");
        return NULL;
    }
    bool tx = q == VIRTIO_SND_VQ_TX;
    *m = (struct virtio_snd_msg){ .head = c->head };
    /* The status is the last bytes the device may write. */
    m->nstatus = iov_slice(c->in, c->nin, c->in_len - sizeof(s), sizeof(s), m->status, 8);
    iov_to_buf(c->out, c->nout, 0, &x, sizeof(x));
    uint32_t id = le32toh(x.stream_id);
    m->len = tx ? c->out_len - sizeof(x) : c->in_len - sizeof(s);
    *status = VIRTIO_SND_S_BAD_MSG;
    if (id >= VIRTIO_SND_STREAMS || (id == 0) != tx || (tx && c->in_len != sizeof(s)))
        return NULL;
    struct virtio_snd_stream *st = &snd->streams[id];
    uint32_t state = st->ss->state;
    if ((state != SND_PCM_PREPARED && state != SND_PCM_RUNNING && state != SND_PCM_STOPPED) ||
        m->len == 0 || m->len % frame_bytes(st))
        return NULL;
    unsigned n = tx ? c->nout : c->nin;
    m->iov = malloc(n * sizeof(struct iovec));
    if (!m->iov) {
        *status = VIRTIO_SND_S_IO_ERR;
        return NULL;
    }
    m->niov = tx ? iov_slice(c->out, c->nout, sizeof(x), m->len, m->iov, n)
                 : iov_slice(c->in, c->nin, 0, m->len, m->iov, n);
    return st;
}

void virtio_snd_pcm_queue(struct virtio_snd *snd, unsigned q)
{
    struct virtio_device *vdev = &snd->vdev;
    bool refused = false;
    while (virtio_queue_pop(vdev, q, &snd->chain) > 0) {
        struct virtio_snd_msg m;
        uint32_t status = VIRTIO_SND_S_BAD_MSG;
        struct virtio_snd_stream *st = msg_parse(snd, q, &snd->chain, &m, &status);
        if (!st && (vdev->status & VIRTIO_STATUS_NEEDS_RESET))
            return;
        if (!st) {
            /* Refused: complete it now, with nothing moved. */
            struct virtio_snd_pcm_status s = { .status = htole32(status) };
            iov_from_buf(m.status, m.nstatus, 0, &s, sizeof(s));
            virtqueue_push(&vdev->vqs[q], m.head, sizeof(s));
            refused = true;
            struct virtio_snd_stream *own = &snd->streams[q == VIRTIO_SND_VQ_TX ? 0 : 1];
            own->refused_behind |= own->msg_count > 0;
            continue;
        }
        if (st->msg_count == VIRTIO_SND_QUEUE_SIZE) {
            free(m.iov);
            virtio_device_fail(vdev, "more I/O messages held than the queue has entries");
            return;
        }
        if (!st->msg_count && st->ss->resume_skip) {
            /* Given back by a snapshot: its first bytes were moved already. */
            m.done = st->ss->resume_skip < m.len ? st->ss->resume_skip : m.len;
            st->ss->resume_skip = 0;
        }
        st->msgs[(st->msg_head + st->msg_count++) % VIRTIO_SND_QUEUE_SIZE] = m;
    }
    if (refused)
        virtio_queue_notify_guest(vdev, q);
}

/* Moves @len bytes between message @m (from m->done on) and vaudio. */
static void msg_move(struct virtio_snd_stream *st, struct virtio_snd_msg *m, size_t len)
{
    int16_t buf[2 * 512];
    unsigned frame = frame_bytes(st);
    while (len) {
        size_t k = len < sizeof(buf) ? len : sizeof(buf) / frame * frame;
        if (st->id == 0) {
            iov_to_buf(m->iov, m->niov, m->done, buf, k);
            if (st->vs)
                vaudio_stream_write(st->vs, buf, k / frame);
        } else {
            if (st->vs)
                vaudio_stream_read(st->vs, buf, k / frame);
            else
                memset(buf, 0, k);
            iov_from_buf(m->iov, m->niov, m->done, buf, k);
        }
        m->done += k;
        len -= k;
    }
}

void virtio_snd_pcm_requeue(struct virtio_snd_stream *st)
{
    if (st->requeue) {
        st->requeue = false;
        virtio_snd_pcm_queue(st->snd, stream_queue(st));
    }
}

void virtio_snd_tick(struct virtio_snd *snd, unsigned id)
{
    struct virtio_snd_stream *st = &snd->streams[id];
    struct virtio_device *vdev = &snd->vdev;
    pthread_mutex_lock(&vdev->lock);
    if (st->ss->state != SND_PCM_RUNNING || !virtio_queue_active(vdev, stream_queue(st))) {
        pthread_mutex_unlock(&vdev->lock);
        return;
    }
    virtio_snd_pcm_requeue(st);
    size_t due = st->vs ? vaudio_stream_frames_due(st->vs) : (size_t)(VAUDIO_RATE / 1000 * VIRTIO_SND_TICK_MS);
    size_t bytes = due * frame_bytes(st);
    bool completed = false;
    /* Frames due while no message is queued are lost: an underrun, as on hardware. */
    while (bytes && st->msg_count) {
        struct virtio_snd_msg *m = &st->msgs[st->msg_head];
        size_t k = m->len - m->done < bytes ? m->len - m->done : bytes;
        msg_move(st, m, k);
        bytes -= k;
        if (m->done == m->len) {
            msg_complete(st, m, VIRTIO_SND_S_OK);
            st->msg_head = (st->msg_head + 1) % VIRTIO_SND_QUEUE_SIZE;
            st->refused_behind &= --st->msg_count > 0;
            completed = true;
        }
    }
    if (completed)
        virtio_queue_notify_guest(vdev, stream_queue(st));
    pthread_mutex_unlock(&vdev->lock);
}

void virtio_snd_pcm_give_back(struct virtio_snd_stream *st)
{
    struct virtio_device *vdev = &st->snd->vdev;
    unsigned q = stream_queue(st);
    if (!st->msg_count)
        return;
    if (!st->refused_behind) {
        st->ss->resume_skip = (uint32_t)st->msgs[st->msg_head].done;
        virtqueue_unpop(&vdev->vqs[q], st->msg_count);
        virtio_snd_pcm_flush(st, 0);
        st->requeue = true;
        return;
    }
    while (st->msg_count) {
        struct virtio_snd_msg *m = &st->msgs[st->msg_head];
        msg_move(st, m, m->len - m->done);
        msg_complete(st, m, VIRTIO_SND_S_OK);
        st->msg_head = (st->msg_head + 1) % VIRTIO_SND_QUEUE_SIZE;
        st->msg_count--;
    }
    st->refused_behind = false;
    virtio_queue_notify_guest(vdev, q);
}
