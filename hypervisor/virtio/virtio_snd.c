/* virtio-snd device: configuration, the control queue (jack, PCM and
 * channel map information; the PCM stream state machine) and the streams'
 * timers. Frames move in virtio_snd_pcm.c at vaudio's clock, never at the
 * pace the guest queues them.
 *
 * Control requests are hostile input: a reply buffer too small for a status
 * stops the device (NEEDS_RESET); anything else malformed (short request,
 * unknown IDs, a transition the state machine forbids, absurd sizes) gets
 * VIRTIO_SND_S_BAD_MSG, and unsupported formats VIRTIO_SND_S_NOT_SUPP. */
#include "virtio_snd.h"
#include "core/event_loop.h"
#include "core/vm.h"
#include "vaudio.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SND_INFO_MAX_SIZE 1024       /* bytes per item a driver may ask for */
#define SND_FORMATS       (1ULL << VIRTIO_SND_PCM_FMT_S16)
#define SND_RATES         (1ULL << VIRTIO_SND_PCM_RATE_48000)
/* Pin configuration defaults and capabilities (HDA 7.3.3.31, 7.3.4.9),
 * the same jacks as the HDA codec: green line out, pink mic in. */
#define SND_JACK_OUT_DEFCONF 0x01014010u
#define SND_JACK_IN_DEFCONF  0x01A19020u
#define SND_JACK_OUT_CAPS    0x00000014u   /* output, presence detect */
#define SND_JACK_IN_CAPS     0x00000024u   /* input, presence detect */

static uint8_t stream_direction(unsigned id)
{
    return id == 0 ? VIRTIO_SND_D_OUTPUT : VIRTIO_SND_D_INPUT;
}

/* ---- information queries ---- */

/* Fills item @id of @code into @item (zeroed, @size bytes). */
static void info_item(uint32_t code, unsigned id, uint8_t *item)
{
    if (code == VIRTIO_SND_R_JACK_INFO) {
        struct virtio_snd_jack_info j = {
            .hda_reg_defconf = htole32(id == 0 ? SND_JACK_OUT_DEFCONF : SND_JACK_IN_DEFCONF),
            .hda_reg_caps = htole32(id == 0 ? SND_JACK_OUT_CAPS : SND_JACK_IN_CAPS),
            .connected = 1,
        };
        memcpy(item, &j, sizeof(j));
    } else if (code == VIRTIO_SND_R_PCM_INFO) {
        struct virtio_snd_pcm_info p = {
            .formats = htole64(SND_FORMATS), .rates = htole64(SND_RATES),
            .direction = stream_direction(id), .channels_min = 1, .channels_max = 2,
        };
        memcpy(item, &p, sizeof(p));
    } else {
        struct virtio_snd_chmap_info c = {
            .direction = stream_direction(id), .channels = 2,
            .positions = { VIRTIO_SND_CHMAP_FL, VIRTIO_SND_CHMAP_FR },
        };
        memcpy(item, &c, sizeof(c));
    }
}

/* A *_INFO request: items [start_id, start_id + count) after the status.
 * Returns the status; *written grows by the items' bytes. */
static uint32_t query_info(struct virtq_chain *c, const uint8_t *req, size_t rlen, uint32_t code,
                           uint32_t *written)
{
    struct virtio_snd_query_info q;
    if (rlen < sizeof(q))
        return VIRTIO_SND_S_BAD_MSG;
    memcpy(&q, req, sizeof(q));
    uint64_t start = le32toh(q.start_id), count = le32toh(q.count), size = le32toh(q.size);
    unsigned items = code == VIRTIO_SND_R_JACK_INFO ? VIRTIO_SND_JACKS
                   : code == VIRTIO_SND_R_PCM_INFO ? VIRTIO_SND_STREAMS : VIRTIO_SND_CHMAPS;
    size_t need = code == VIRTIO_SND_R_JACK_INFO ? sizeof(struct virtio_snd_jack_info)
                : code == VIRTIO_SND_R_PCM_INFO ? sizeof(struct virtio_snd_pcm_info)
                : sizeof(struct virtio_snd_chmap_info);
    if (start + count > items || size < need || size > SND_INFO_MAX_SIZE ||
        sizeof(struct virtio_snd_hdr) + count * size > c->in_len)
        return VIRTIO_SND_S_BAD_MSG;
    uint8_t item[SND_INFO_MAX_SIZE];
    for (unsigned i = 0; i < count; i++) {
        memset(item, 0, size);
        info_item(code, (unsigned)start + i, item);
        iov_from_buf(c->in, c->nin, sizeof(struct virtio_snd_hdr) + i * size, item, size);
    }
    *written += (uint32_t)(count * size);
    return VIRTIO_SND_S_OK;
}

/* ---- PCM control ---- */

void virtio_snd_stream_close(struct virtio_snd_stream *st)
{
    virtio_snd_pcm_run(st, false);
    if (st->vs) {
        vaudio_stream_free(st->vs);
        st->vs = NULL;
    }
}

static uint32_t set_params(struct virtio_snd_stream *st, const uint8_t *req, size_t rlen)
{
    struct virtio_snd_pcm_set_params p;
    if (rlen < sizeof(p))
        return VIRTIO_SND_S_BAD_MSG;
    memcpy(&p, req, sizeof(p));
    uint32_t buffer = le32toh(p.buffer_bytes), period = le32toh(p.period_bytes);
    if (p.channels < 1 || p.channels > 2 || p.format != VIRTIO_SND_PCM_FMT_S16 ||
        p.rate != VIRTIO_SND_PCM_RATE_48000 || le32toh(p.features))
        return VIRTIO_SND_S_NOT_SUPP;
    if (period == 0 || period % (2u * p.channels) || buffer < period)
        return VIRTIO_SND_S_BAD_MSG;
    virtio_snd_stream_close(st);     /* a new format needs a new vaudio stream */
    st->ss->channels = p.channels;
    st->ss->buffer_bytes = buffer;
    st->ss->period_bytes = period;
    st->ss->state = SND_PCM_PARAMS;
    return VIRTIO_SND_S_OK;
}

/* The transitions 5.14.6.6.1 allows: bit s of the mask = from state s. */
#define FROM(s) (1u << (s))
static const uint32_t allowed_from[] = {
    [VIRTIO_SND_R_PCM_SET_PARAMS - VIRTIO_SND_R_PCM_INFO] =
        FROM(SND_PCM_INITIAL) | FROM(SND_PCM_PARAMS) | FROM(SND_PCM_PREPARED) | FROM(SND_PCM_RELEASED),
    [VIRTIO_SND_R_PCM_PREPARE - VIRTIO_SND_R_PCM_INFO] =
        FROM(SND_PCM_PARAMS) | FROM(SND_PCM_PREPARED) | FROM(SND_PCM_RELEASED),
    [VIRTIO_SND_R_PCM_RELEASE - VIRTIO_SND_R_PCM_INFO] = FROM(SND_PCM_PREPARED) | FROM(SND_PCM_STOPPED),
    [VIRTIO_SND_R_PCM_START - VIRTIO_SND_R_PCM_INFO] = FROM(SND_PCM_PREPARED) | FROM(SND_PCM_STOPPED),
    [VIRTIO_SND_R_PCM_STOP - VIRTIO_SND_R_PCM_INFO] = FROM(SND_PCM_RUNNING),
};

static uint32_t pcm_control(struct virtio_snd *snd, uint32_t code, const uint8_t *req, size_t rlen)
{
    struct virtio_snd_pcm_hdr h;
    if (rlen < sizeof(h))
        return VIRTIO_SND_S_BAD_MSG;
    memcpy(&h, req, sizeof(h));
    uint32_t id = le32toh(h.stream_id);
    if (id >= VIRTIO_SND_STREAMS)
        return VIRTIO_SND_S_BAD_MSG;
    struct virtio_snd_stream *st = &snd->streams[id];
    if (!(allowed_from[code - VIRTIO_SND_R_PCM_INFO] & FROM(st->ss->state)))
        return VIRTIO_SND_S_BAD_MSG;
    switch (code) {
    case VIRTIO_SND_R_PCM_SET_PARAMS:
        return set_params(st, req, rlen);
    case VIRTIO_SND_R_PCM_PREPARE:
        if (!st->vs && snd->va) {
            st->vs = vaudio_stream_new(snd->va, id == 0 ? VAUDIO_PLAYBACK : VAUDIO_CAPTURE, st->ss->channels);
            if (!st->vs)
                return VIRTIO_SND_S_IO_ERR;
        }
        st->ss->state = SND_PCM_PREPARED;
        return VIRTIO_SND_S_OK;
    case VIRTIO_SND_R_PCM_START:
        virtio_snd_pcm_run(st, true);
        st->ss->state = SND_PCM_RUNNING;
        return VIRTIO_SND_S_OK;
    case VIRTIO_SND_R_PCM_STOP:
        virtio_snd_pcm_run(st, false);
        st->ss->state = SND_PCM_STOPPED;
        return VIRTIO_SND_S_OK;
    default:                         /* RELEASE: every held message comes back */
        virtio_snd_stream_close(st);
        virtio_snd_pcm_flush(st, VIRTIO_SND_S_OK);
        st->ss->state = SND_PCM_RELEASED;
        return VIRTIO_SND_S_OK;
    }
}

/* ---- the control queue ---- */

static void control_request(struct virtio_snd *snd, struct virtq_chain *c)
{
    struct virtio_device *vdev = &snd->vdev;
    uint8_t req[64];
    size_t rlen = iov_to_buf(c->out, c->nout, 0, req, sizeof(req));
    uint32_t written = sizeof(struct virtio_snd_hdr), status = VIRTIO_SND_S_BAD_MSG;
    uint32_t code = 0;
    if (rlen >= sizeof(code)) {
        memcpy(&code, req, sizeof(code));
        code = le32toh(code);
    }
    if (rlen < sizeof(code)) {
        /* BAD_MSG */
    } else if (code == VIRTIO_SND_R_JACK_INFO || code == VIRTIO_SND_R_PCM_INFO || code == VIRTIO_SND_R_CHMAP_INFO) {
        status = query_info(c, req, rlen, code, &written);
    } else if (code == VIRTIO_SND_R_JACK_REMAP) {
        struct virtio_snd_jack_remap r;
        if (rlen >= sizeof(r)) {
            memcpy(&r, req, sizeof(r));
            /* No jack offers VIRTIO_SND_JACK_F_REMAP. */
            status = le32toh(r.hdr.jack_id) < VIRTIO_SND_JACKS ? VIRTIO_SND_S_NOT_SUPP : VIRTIO_SND_S_BAD_MSG;
        }
    } else if (code > VIRTIO_SND_R_PCM_INFO && code <= VIRTIO_SND_R_PCM_STOP) {
        status = pcm_control(snd, code, req, rlen);
    } else {
        status = VIRTIO_SND_S_NOT_SUPP;
    }
    struct virtio_snd_hdr reply = { .code = htole32(status) };
    iov_from_buf(c->in, c->nin, 0, &reply, sizeof(reply));
    virtqueue_push(&vdev->vqs[VIRTIO_SND_VQ_CONTROL], c->head, written);
}

static void control_queue(struct virtio_snd *snd)
{
    struct virtio_device *vdev = &snd->vdev;
    bool any = false;
    while (virtio_queue_pop(vdev, VIRTIO_SND_VQ_CONTROL, &snd->chain) > 0) {
        if (snd->chain.in_len < sizeof(struct virtio_snd_hdr)) {
            virtio_device_fail(vdev, "control request without room for its status");
            return;
        }
        control_request(snd, &snd->chain);
        any = true;
    }
    if (any)
        virtio_queue_notify_guest(vdev, VIRTIO_SND_VQ_CONTROL);
}

/* ---- device ---- */

static void virtio_snd_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_snd *snd = vdev->priv;
    pthread_mutex_lock(&vdev->lock);
    if (q == VIRTIO_SND_VQ_CONTROL) {
        /* Before the request takes the scratch chain: RELEASE must see them. */
        for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++)
            virtio_snd_pcm_requeue(&snd->streams[i]);
        control_queue(snd);
    }
    else if (q == VIRTIO_SND_VQ_TX || q == VIRTIO_SND_VQ_RX)
        virtio_snd_pcm_queue(snd, q);
    /* The event queue only holds buffers: no jack ever changes, and
     * without VIRTIO_SND_PCM_F_EVT_XRUNS no stream reports underruns. */
    pthread_mutex_unlock(&vdev->lock);
}

static void virtio_snd_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_snd *snd = vdev->priv;
    memcpy(data, (const uint8_t *)&snd->config + offset, len);
}

/* Device reset: streams back to their initial state. The queues are reset
 * too, so held messages are dropped, not completed. Lock held. */
static void virtio_snd_reset(struct virtio_device *vdev)
{
    struct virtio_snd *snd = vdev->priv;
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++) {
        struct virtio_snd_stream *st = &snd->streams[i];
        virtio_snd_stream_close(st);
        virtio_snd_pcm_flush(st, 0);
        *st->ss = (struct virtio_snd_stream_state){ .state = SND_PCM_INITIAL };
    }
}

static const struct virtio_device_ops virtio_snd_ops = {
    .name = "virtio-snd",
    .device_id = VIRTIO_ID_SOUND,
    .num_queues = VIRTIO_SND_VQ_MAX,
    .queue_max_size = VIRTIO_SND_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_snd_config),
    .config_read = virtio_snd_config_read,
    .queue_notify = virtio_snd_queue_notify,
    .reset = virtio_snd_reset,
    .state = &virtio_snd_state_ops,
};

static void stream_timer_cb(void *opaque, uint32_t events)
{
    struct virtio_snd_stream *st = opaque;
    uint64_t n;
    if (read(st->timerfd, &n, sizeof(n)) == sizeof(n))
        virtio_snd_tick(st->snd, st->id);
}

void virtio_snd_pcm_run(struct virtio_snd_stream *st, bool on)
{
    if (st->vs) {
        if (on)
            vaudio_stream_start(st->vs);
        else
            vaudio_stream_stop(st->vs);
    }
    if (st->timerfd >= 0)
        event_loop_timer_periodic(st->timerfd, on ? VIRTIO_SND_TICK_MS : 0);
}

int virtio_snd_new(struct vaudio *va, struct event_loop *loop, struct virtio_snd **out)
{
    struct virtio_snd *snd = calloc(1, sizeof(*snd));
    if (!snd)
        return -ENOMEM;
    snd->va = va;
    snd->loop = loop;
    snd->config = (struct virtio_snd_config){ .jacks = htole32(VIRTIO_SND_JACKS),
                                              .streams = htole32(VIRTIO_SND_STREAMS),
                                              .chmaps = htole32(VIRTIO_SND_CHMAPS) };
    snd->state.version = VIRTIO_SND_STATE_VERSION;
    virtio_device_init(&snd->vdev, &virtio_snd_ops, snd);
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++) {
        struct virtio_snd_stream *st = &snd->streams[i];
        st->snd = snd;
        st->id = i;
        st->ss = &snd->state.streams[i];
        st->timerfd = -1;
    }
    for (unsigned i = 0; loop && i < VIRTIO_SND_STREAMS; i++) {
        int fd = event_loop_add_timer(loop, stream_timer_cb, &snd->streams[i]);
        if (fd < 0) {
            virtio_snd_free(snd);
            return fd;
        }
        snd->streams[i].timerfd = fd;
    }
    *out = snd;
    return 0;
}

void virtio_snd_free(struct virtio_snd *snd)
{
    if (!snd)
        return;
    pthread_mutex_lock(&snd->vdev.lock);
    virtio_snd_reset(&snd->vdev);
    pthread_mutex_unlock(&snd->vdev.lock);
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++) {
        int fd = snd->streams[i].timerfd;
        if (fd >= 0) {
            event_loop_del(snd->loop, fd);
            close(fd);
        }
    }
    pthread_mutex_destroy(&snd->vdev.lock);
    free(snd);
}

int virtio_snd_create(struct vm *vm, struct vaudio *va)
{
    struct virtio_snd *snd;
    int r = virtio_snd_new(va, vm->loop, &snd);
    if (r < 0)
        return r;
    r = virtio_pci_create(vm, &snd->vdev);
    if (r < 0)
        virtio_snd_free(snd);
    return r;
}
