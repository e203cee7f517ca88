/* virtio-snd (virtio 1.2 5.14): two jacks (line out, mic in), two PCM
 * streams (0 output, 1 input; 48 kHz S16, mono or stereo) and their
 * channel maps, on vaudio. Internals shared between virtio_snd.c (control
 * queue, device) and virtio_snd_pcm.c (I/O messages), and with the unit
 * tests, which drive the device without a transport. Protocol structures
 * come from the kernel's UAPI header. */
#pragma once
#include "virtio.h"

#include <linux/virtio_snd.h>
#include <sys/uio.h>

#define VIRTIO_ID_SOUND       25
#define VIRTIO_SND_STREAMS    2      /* 0: playback (line out), 1: capture (mic) */
#define VIRTIO_SND_JACKS      2
#define VIRTIO_SND_CHMAPS     2
#define VIRTIO_SND_QUEUE_SIZE 64
#define VIRTIO_SND_TICK_MS    5

struct vaudio;
struct vaudio_stream;
struct event_loop;
struct virtio_snd;

/* The stream state machine of 5.14.6.6.1. */
enum virtio_snd_pcm_state {
    SND_PCM_INITIAL, SND_PCM_PARAMS, SND_PCM_PREPARED, SND_PCM_RUNNING, SND_PCM_STOPPED, SND_PCM_RELEASED,
};

/* An I/O message the device holds until its frames are played or captured:
 * the chain's head, its PCM bytes (a copy of the guest's iovecs) and where
 * the status goes. */
struct virtio_snd_msg {
    uint16_t head;
    unsigned niov;
    struct iovec *iov;               /* PCM payload (guest memory) */
    size_t len, done;                /* payload bytes, bytes moved */
    struct iovec status[8];          /* struct virtio_snd_pcm_status, maybe split */
    unsigned nstatus;
};

/* A stream's negotiated part: what save/restore carries. */
struct virtio_snd_stream_state {
    uint32_t state;                  /* enum virtio_snd_pcm_state */
    uint32_t buffer_bytes, period_bytes;
    uint8_t channels;                /* from SET_PARAMS */
    uint8_t pad[3];
    /* Bytes of the oldest message already moved when a snapshot gave its
     * messages back to the queue: skipped when it is taken again. */
    uint32_t resume_skip;
};

#define VIRTIO_SND_STATE_VERSION 1
struct virtio_snd_state {
    uint32_t version;
    struct virtio_snd_stream_state streams[VIRTIO_SND_STREAMS];
};

struct virtio_snd_stream {
    struct virtio_snd *snd;
    unsigned id;
    struct virtio_snd_stream_state *ss;   /* in snd->state */
    struct vaudio_stream *vs;
    int timerfd;
    /* Pending messages, oldest first (a ring of the queue's size). */
    struct virtio_snd_msg msgs[VIRTIO_SND_QUEUE_SIZE];
    unsigned msg_head, msg_count;
    /* A refused message was taken after the oldest held one, so the held
     * ones are not the last ones taken and cannot be given back. */
    bool refused_behind;
    bool requeue;                    /* take given-back messages on the next tick */
};

struct virtio_snd {
    struct virtio_device vdev;
    struct virtio_snd_config config;
    struct vaudio *va;
    struct event_loop *loop;
    struct virtio_snd_state state;
    struct virtio_snd_stream streams[VIRTIO_SND_STREAMS];
    struct virtq_chain chain;        /* scratch for popping */
};

/* Builds the device on @va (NULL: silent), not yet on a transport. @loop
 * may be NULL (unit tests): streams then move frames only in virtio_snd_tick(). */
int virtio_snd_new(struct vaudio *va, struct event_loop *loop, struct virtio_snd **out);
void virtio_snd_free(struct virtio_snd *snd);
/* Moves the frames due on stream @id now (what its timer does). */
void virtio_snd_tick(struct virtio_snd *snd, unsigned id);

/* Live snapshots (the device's part; virtio_pci saves the transport and
 * the queues). quiesce() gives held messages back to their queue (they
 * are taken again, from where they were, by the next tick or kick), or
 * completes them when it cannot; save() then has no message to carry.
 * load() refuses an inconsistent state with -EINVAL and changes nothing,
 * else reopens the host streams and restarts running ones. */
int virtio_snd_quiesce(struct virtio_snd *snd);
long virtio_snd_state_save(struct virtio_snd *snd, void *buf, size_t max);
int virtio_snd_state_load(struct virtio_snd *snd, const void *buf, size_t len);
extern const struct state_ops virtio_snd_state_ops;

/* virtio_snd.c; lock held. Stops the stream's clock and closes its vaudio stream. */
void virtio_snd_stream_close(struct virtio_snd_stream *st);

/* virtio_snd_pcm.c; lock held. */
/* Takes the I/O messages queued on the tx (q = VIRTIO_SND_VQ_TX) or rx queue. */
void virtio_snd_pcm_queue(struct virtio_snd *snd, unsigned q);
/* Completes every held message of @st with @status (RELEASE, reset). */
void virtio_snd_pcm_flush(struct virtio_snd_stream *st, uint32_t status);
/* Quiesce: gives the held messages back to the queue, or completes them
 * with their remaining frames moved at once. */
void virtio_snd_pcm_give_back(struct virtio_snd_stream *st);
/* Takes the given-back messages again, if there are any (before the next
 * tick or control request, so RELEASE returns them too). */
void virtio_snd_pcm_requeue(struct virtio_snd_stream *st);
/* Starts / stops moving frames (START, STOP). */
void virtio_snd_pcm_run(struct virtio_snd_stream *st, bool on);
