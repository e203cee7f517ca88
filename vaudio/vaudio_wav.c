/* WAV backend: playback is appended to a 48 kHz 16-bit stereo WAV file
 * (only what the guest plays, no silence between streams), and capture
 * hears a WAV file in a loop (or silence). The header's sizes are kept
 * current after every write, so the file is valid even if the VMM is killed. */
#include "vaudio_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAV_HEADER      44
#define WAV_MAX_INPUT   (64u << 20)

struct wav {
    int out_fd;
    uint32_t data_bytes;
    pthread_mutex_t lock;            /* the output file is shared by playback streams */
    int16_t *in;                     /* capture source, stereo */
    size_t in_frames, in_pos;
};

static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }

static void wav_header(uint8_t h[WAV_HEADER], uint32_t data_bytes)
{
    memcpy(h, "RIFF", 4);
    put32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, 1);                /* PCM */
    put16(h + 22, 2);
    put32(h + 24, VAUDIO_RATE);
    put32(h + 28, VAUDIO_RATE * 4);
    put16(h + 32, 4);
    put16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put32(h + 40, data_bytes);
}

static void wav_written(struct vaudio_stream *s)
{
    struct wav *w = s->va->priv;
    int16_t buf[2 * 1024];
    pthread_mutex_lock(&w->lock);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t n = vaudio_ring_pop(&s->ring, buf, 1024);
        pthread_mutex_unlock(&s->lock);
        if (!n)
            break;
        size_t bytes = n * 4;
        if (w->data_bytes > UINT32_MAX - 36 - bytes)
            break;                   /* 4 GiB is all a WAV file can say */
        if (pwrite(w->out_fd, buf, bytes, WAV_HEADER + (off_t)w->data_bytes) != (ssize_t)bytes)
            break;
        w->data_bytes += (uint32_t)bytes;
    }
    uint8_t h[WAV_HEADER];
    wav_header(h, w->data_bytes);
    if (pwrite(w->out_fd, h, WAV_HEADER, 0) != WAV_HEADER)
        { /* a full disk loses the tail of the recording, nothing else */ }
    pthread_mutex_unlock(&w->lock);
}

static void wav_fill(struct vaudio_stream *s, size_t n)
{
    struct wav *w = s->va->priv;
    if (!w->in_frames)
        return;                      /* silence */
    pthread_mutex_lock(&s->lock);
    while (n) {
        size_t k = w->in_frames - w->in_pos < n ? w->in_frames - w->in_pos : n;
        vaudio_ring_push(&s->ring, w->in + 2 * w->in_pos, k);
        w->in_pos = (w->in_pos + k) % w->in_frames;
        n -= k;
    }
    pthread_mutex_unlock(&s->lock);
}

static int wav_stream_open(struct vaudio_stream *s) { return 0; }
static void wav_noop(struct vaudio_stream *s) { }

static void wav_close(struct vaudio *va)
{
    struct wav *w = va->priv;
    if (w->out_fd >= 0)
        close(w->out_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->in);
    free(w);
}

static const struct vaudio_backend_ops wav_ops = {
    .name = "wav",
    .stream_open = wav_stream_open,
    .stream_start = wav_noop,
    .stream_stop = wav_noop,
    .stream_close = wav_noop,
    .stream_written = wav_written,
    .stream_fill = wav_fill,
    .close = wav_close,
};

/* Loads a 16-bit PCM WAV at 48 kHz, mono or stereo, as stereo frames. */
static int wav_load(struct wav *w, const char *path, char **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (asprintf(error, "--audio wav: cannot read %s: %s", path, strerror(errno)) < 0)
            *error = NULL;
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    size_t size = st.st_size > WAV_MAX_INPUT ? WAV_MAX_INPUT : (size_t)st.st_size;
    uint8_t *file = malloc(size ? size : 1);
    ssize_t got = file ? read(fd, file, size) : -1;
    close(fd);
    const char *why = NULL;
    unsigned channels = 0;
    const uint8_t *data = NULL;
    uint32_t data_len = 0;
    if (got < 12 || memcmp(file, "RIFF", 4) || memcmp(file + 8, "WAVE", 4)) {
        why = "not a WAV file";
    } else {
        size_t off = 12;
        while (off + 8 <= (size_t)got && !data) {
            uint32_t len = get32(file + off + 4);
            const uint8_t *body = file + off + 8;
            size_t avail = (size_t)got - off - 8;
            if (!memcmp(file + off, "fmt ", 4) && len >= 16 && avail >= 16) {
                channels = get16(body + 2);
                if (get16(body) != 1 || get16(body + 14) != 16 || get32(body + 4) != VAUDIO_RATE ||
                    channels < 1 || channels > 2)
                    why = "must be 16-bit PCM at 48000 Hz, mono or stereo";
            } else if (!memcmp(file + off, "data", 4)) {
                data = body;
                data_len = len < avail ? len : (uint32_t)avail;
            }
            off += 8 + (size_t)len + (len & 1);
        }
        if (!why && (!channels || !data))
            why = "has no fmt or data chunk";
    }
    if (why) {
        if (asprintf(error, "--audio wav: input %s %s", path, why) < 0)
            *error = NULL;
        free(file);
        return -EINVAL;
    }
    w->in_frames = data_len / (2 * channels);
    w->in = malloc(w->in_frames * 4 + 4);
    for (size_t i = 0; w->in && i < w->in_frames; i++) {
        int16_t l = (int16_t)get16(data + 2 * channels * i);
        int16_t r = channels == 2 ? (int16_t)get16(data + 4 * i + 2) : l;
        w->in[2 * i] = l;
        w->in[2 * i + 1] = r;
    }
    free(file);
    return w->in ? 0 : -ENOMEM;
}

int vaudio_wav_open(struct vaudio *va, char **error)
{
    struct wav *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    w->out_fd = -1;
    va->priv = w;
    va->ops = &wav_ops;
    if (va->cfg.in_path[0] && wav_load(w, va->cfg.in_path, error) < 0) {
        wav_close(va);
        return -EINVAL;
    }
    w->out_fd = open(va->cfg.out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->out_fd < 0) {
        if (asprintf(error, "--audio wav: cannot write %s: %s", va->cfg.out_path, strerror(errno)) < 0)
            *error = NULL;
        wav_close(va);
        return -EINVAL;
    }
    uint8_t h[WAV_HEADER];
    wav_header(h, 0);
    if (write(w->out_fd, h, WAV_HEADER) != WAV_HEADER) {
        if (asprintf(error, "--audio wav: cannot write %s: %s", va->cfg.out_path, strerror(errno)) < 0)
            *error = NULL;
        wav_close(va);
        return -EIO;
    }
    return 0;
}
