/* virtio-snd state for live snapshots: each stream's place in the PCM state
 * machine and its parameters. Messages the device held are given back to
 * their queue first (quiesce), so they live in guest RAM with the rings,
 * and the number of bytes already moved of the oldest goes with the state:
 * after a restore the stream takes them again and plays (or records) on
 * from exactly there, on a vaudio stream opened anew. */
#include "virtio_snd.h"
#include "core/state.h"
#include "vaudio.h"

#include <errno.h>
#include <string.h>

int virtio_snd_quiesce(struct virtio_snd *snd)
{
    pthread_mutex_lock(&snd->vdev.lock);
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++)
        virtio_snd_pcm_give_back(&snd->streams[i]);
    pthread_mutex_unlock(&snd->vdev.lock);
    return 0;
}

long virtio_snd_state_save(struct virtio_snd *snd, void *buf, size_t max)
{
    pthread_mutex_lock(&snd->vdev.lock);
    bool held = false;
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++)
        held |= snd->streams[i].msg_count > 0;
    struct virtio_snd_state s = snd->state;
    pthread_mutex_unlock(&snd->vdev.lock);
    if (held)
        return -EBUSY;               /* not quiesced: messages would be lost */
    return state_save_struct(buf, max, &s, sizeof(s));
}

/* What SET_PARAMS would have accepted, in a state the machine can reach. */
static bool stream_ok(const struct virtio_snd_stream_state *ss)
{
    if (ss->state > SND_PCM_RELEASED || ss->pad[0] || ss->pad[1] || ss->pad[2])
        return false;
    if (ss->state == SND_PCM_INITIAL)
        return ss->channels == 0 && ss->buffer_bytes == 0 && ss->period_bytes == 0 && ss->resume_skip == 0;
    unsigned frame = 2u * ss->channels;
    return ss->channels >= 1 && ss->channels <= 2 && ss->period_bytes && ss->period_bytes % frame == 0 &&
           ss->buffer_bytes >= ss->period_bytes && ss->resume_skip % frame == 0;
}

int virtio_snd_state_load(struct virtio_snd *snd, const void *buf, size_t len)
{
    struct virtio_snd_state s;
    if (state_check_size(len, sizeof(s)) < 0)
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    if (s.version != VIRTIO_SND_STATE_VERSION)
        return -EINVAL;
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++)
        if (!stream_ok(&s.streams[i]))
            return -EINVAL;
    pthread_mutex_lock(&snd->vdev.lock);
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++) {
        virtio_snd_stream_close(&snd->streams[i]);
        virtio_snd_pcm_flush(&snd->streams[i], 0);   /* the old RAM's messages */
    }
    snd->state = s;
    for (unsigned i = 0; i < VIRTIO_SND_STREAMS; i++) {
        struct virtio_snd_stream *st = &snd->streams[i];
        uint32_t state = st->ss->state;
        bool open = state == SND_PCM_PREPARED || state == SND_PCM_RUNNING || state == SND_PCM_STOPPED;
        if (open && snd->va)         /* a host stream that cannot open plays silence */
            st->vs = vaudio_stream_new(snd->va, i == 0 ? VAUDIO_PLAYBACK : VAUDIO_CAPTURE, st->ss->channels);
        if (state == SND_PCM_RUNNING)
            virtio_snd_pcm_run(st, true);
        st->requeue = true;
    }
    pthread_mutex_unlock(&snd->vdev.lock);
    return 0;
}

static struct virtio_snd *snd_of(void *opaque)
{
    return ((struct virtio_device *)opaque)->priv;
}

static int quiesce_cb(void *opaque) { return virtio_snd_quiesce(snd_of(opaque)); }
static long save_cb(void *opaque, void *buf, size_t max) { return virtio_snd_state_save(snd_of(opaque), buf, max); }
static int load_cb(void *opaque, const void *buf, size_t len)
{
    return virtio_snd_state_load(snd_of(opaque), buf, len);
}

const struct state_ops virtio_snd_state_ops = {
    .version = VIRTIO_SND_STATE_VERSION, .save = save_cb, .load = load_cb, .quiesce = quiesce_cb,
};
