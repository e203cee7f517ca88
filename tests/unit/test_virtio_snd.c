/* virtio-snd with the test playing the driver (what Linux's virtio_snd
 * does: query, SET_PARAMS, PREPARE, queue one message per period, START)
 * over real virtqueues in fake guest RAM, with vaudio's WAV backend behind
 * it: what the "guest" plays lands in the file sample for sample, capture
 * delivers the input file's samples, and hostile requests are refused or
 * stop the device while the VMM goes on. No guest kernel here has a
 * virtio-snd driver (Debian 12 lacks CONFIG_SND_VIRTIO), so this is the
 * device's only driver. */
#include "virtio/virtio_snd.h"
#include "fake_virtq.h"
#include "vaudio.h"

#include <endian.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    return -ENOSYS;
}

#define QSZ      VIRTIO_SND_QUEUE_SIZE
#define RAM_SIZE (4u << 20)
#define Q_BASE   0x10000             /* queue q at Q_BASE + q * 0x4000 */
#define BUF_GPA  0x100000
#define PERIOD   4800                /* bytes: 1200 stereo frames, 25 ms */

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct vaudio *va;
    struct virtio_snd *snd;
    struct virtio_device *vdev;
    struct fake_vq vq[VIRTIO_SND_VQ_MAX];
    unsigned irqs[VIRTIO_SND_VQ_MAX], config_irqs;
    uint64_t next_buf;
    char *dir, *out_path, *in_path;
};

static void count_irq(struct virtio_device *vdev, unsigned q) { ((struct fx *)vdev->transport)->irqs[q]++; }
static void count_cfg(struct virtio_device *vdev) { ((struct fx *)vdev->transport)->config_irqs++; }

static uint64_t alloc(struct fx *f, size_t len)
{
    uint64_t g = f->next_buf;
    f->next_buf += (len + 4095) & ~4095ul;
    g_assert_cmpuint(f->next_buf, <=, RAM_SIZE);
    return g;
}

/* A 48 kHz stereo WAV of @frames frames, left = right = sample i. */
static void write_wav(const char *path, const int16_t *mono, size_t frames)
{
    size_t bytes = frames * 4;
    uint8_t *w = g_malloc0(44 + bytes);
    uint32_t v;
    memcpy(w, "RIFF", 4);
    v = htole32(36 + bytes); memcpy(w + 4, &v, 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    const uint16_t fmt[] = { htole16(1), htole16(2) };
    v = htole32(16); memcpy(w + 16, &v, 4);
    memcpy(w + 20, fmt, 4);
    v = htole32(48000); memcpy(w + 24, &v, 4);
    v = htole32(192000); memcpy(w + 28, &v, 4);
    const uint16_t blk[] = { htole16(4), htole16(16) };
    memcpy(w + 32, blk, 4);
    memcpy(w + 36, "data", 4);
    v = htole32(bytes); memcpy(w + 40, &v, 4);
    for (size_t i = 0; i < frames; i++) {
        int16_t s = (int16_t)htole16(mono[i]);
        memcpy(w + 44 + 4 * i, &s, 2);
        memcpy(w + 46 + 4 * i, &s, 2);
    }
    g_assert_true(g_file_set_contents(path, (char *)w, (gssize)(44 + bytes), NULL));
    g_free(w);
}

static int16_t pattern(size_t i) { return (int16_t)(i * 37 % 30000 - 15000); }

static void stereo_pattern(int16_t *pcm, size_t frames)
{
    for (size_t i = 0; i < frames; i++) {
        pcm[2 * i] = pattern(i);
        pcm[2 * i + 1] = (int16_t)-pattern(i);
    }
}

/* A device on @ram (taken over) with WAV files in a folder of its own. */
static void fx_open(struct fx *f, uint8_t *ram)
{
    f->ram = ram;
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    f->dir = g_dir_make_tmp("domus-snd-XXXXXX", NULL);
    f->out_path = g_build_filename(f->dir, "out.wav", NULL);
    f->in_path = g_build_filename(f->dir, "in.wav", NULL);
    int16_t in[9600];
    for (size_t i = 0; i < G_N_ELEMENTS(in); i++)
        in[i] = pattern(i);
    write_wav(f->in_path, in, G_N_ELEMENTS(in));
    struct vaudio_config cfg;
    char *spec = g_strdup_printf("wav:%s,in=%s", f->out_path, f->in_path), why[256];
    g_assert_cmpint(vaudio_config_parse(spec, &cfg, why, sizeof(why)), ==, 0);
    g_free(spec);
    char *err = NULL;
    f->va = vaudio_open(&cfg, &err);
    g_assert_null(err);
    g_assert_nonnull(f->va);
    g_assert_cmpint(virtio_snd_new(f->va, NULL, &f->snd), ==, 0);
    f->vdev = &f->snd->vdev;
    f->vdev->transport = f;
    f->vdev->notify_queue = count_irq;
    f->vdev->notify_config = count_cfg;
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    fx_open(f, g_malloc0(RAM_SIZE));
    fake_driver_ok(f->vdev, 0);
    for (unsigned q = 0; q < VIRTIO_SND_VQ_MAX; q++)
        fake_vq_enable(&f->vq[q], f->vdev, &f->mem, q, Q_BASE + q * 0x4000, QSZ);
    f->next_buf = BUF_GPA;
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    virtio_snd_free(f->snd);
    vaudio_close(f->va);
    g_unlink(f->out_path);
    g_unlink(f->in_path);
    g_rmdir(f->dir);
    g_free(f->out_path);
    g_free(f->in_path);
    g_free(f->dir);
    g_free(f->ram);
}

/* ---- the driver's requests ---- */

/* One control request; returns the status, the reply's items in @items. */
static uint32_t control(struct fx *f, const void *req, size_t len, void *items, size_t items_len)
{
    uint64_t rg = alloc(f, len), sg = alloc(f, 4 + items_len);
    memcpy(f->ram + rg, req, len);
    memset(f->ram + sg, 0xEE, 4 + items_len);
    struct fake_seg segs[] = { { rg, (uint32_t)len, false }, { sg, (uint32_t)(4 + items_len), true } };
    fake_vq_offer(&f->vq[0], segs, 2);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_CONTROL);
    uint32_t head, used;
    g_assert_true(fake_vq_take_used(&f->vq[0], &head, &used));
    g_assert_cmpuint(used, >=, 4);
    if (items)
        memcpy(items, f->ram + sg + 4, items_len);
    uint32_t status;
    memcpy(&status, f->ram + sg, 4);
    return le32toh(status);
}

static uint32_t query(struct fx *f, uint32_t code, uint32_t start, uint32_t count, uint32_t size, void *items)
{
    struct virtio_snd_query_info q = { { htole32(code) }, htole32(start), htole32(count), htole32(size) };
    return control(f, &q, sizeof(q), items, (size_t)count * size);
}

static uint32_t pcm(struct fx *f, uint32_t code, uint32_t stream)
{
    struct virtio_snd_pcm_hdr h = { { htole32(code) }, htole32(stream) };
    return control(f, &h, sizeof(h), NULL, 0);
}

static uint32_t set_params(struct fx *f, uint32_t stream, uint8_t channels, uint8_t format, uint8_t rate,
                           uint32_t period)
{
    struct virtio_snd_pcm_set_params p = {
        .hdr = { { htole32(VIRTIO_SND_R_PCM_SET_PARAMS) }, htole32(stream) },
        .buffer_bytes = htole32(4 * period), .period_bytes = htole32(period),
        .channels = channels, .format = format, .rate = rate,
    };
    return control(f, &p, sizeof(p), NULL, 0);
}

/* SET_PARAMS (stereo, 25 ms periods) and PREPARE on the playback stream. */
static void prepare_playback(struct fx *f)
{
    g_assert_cmphex(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, PERIOD), ==,
                    VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), ==, VIRTIO_SND_S_OK);
}

/* Queues one I/O message: header, @len bytes of frames (written by the
 * device for capture), status. Returns the guest address of the frames. */
static uint64_t xfer(struct fx *f, unsigned q, uint32_t stream, const void *frames, size_t len)
{
    uint64_t hg = alloc(f, 4), dg = alloc(f, len), sg = alloc(f, 8);
    uint32_t id = htole32(stream);
    memcpy(f->ram + hg, &id, 4);
    if (frames)
        memcpy(f->ram + dg, frames, len);
    memset(f->ram + sg, 0xEE, 8);
    bool tx = q == VIRTIO_SND_VQ_TX;
    struct fake_seg segs[] = { { hg, 4, false }, { dg, (uint32_t)len, !tx }, { sg, 8, true } };
    fake_vq_offer(&f->vq[q], segs, 3);
    return dg;
}

/* Takes the next completed I/O message: its status (from guest RAM) and used length. */
static bool take_io(struct fx *f, unsigned q, uint32_t *status, uint32_t *len)
{
    uint32_t head;
    if (!fake_vq_take_used(&f->vq[q], &head, len))
        return false;
    /* The status descriptor is the chain's third: head + 2. */
    struct virtq_desc *d = fake_vq_desc(&f->vq[q]);
    uint32_t s;
    memcpy(&s, f->ram + d[(head + 2) % QSZ].addr, 4);
    *status = le32toh(s);
    return true;
}

/* Runs stream @id's timer until @n messages completed (at most 5 s). */
static void tick_until(struct fx *f, unsigned id, unsigned q, unsigned n)
{
    for (unsigned i = 0; i < 1000 && (uint16_t)(fake_vq_used(&f->vq[q])->idx - f->vq[q].used_seen) < n; i++) {
        g_usleep(VIRTIO_SND_TICK_MS * 1000);
        virtio_snd_tick(f->snd, id);
    }
    g_assert_cmpuint((uint16_t)(fake_vq_used(&f->vq[q])->idx - f->vq[q].used_seen), >=, n);
}

/* ---- tests ---- */

static void test_info(struct fx *f, gconstpointer data)
{
    struct virtio_snd_config cfg;
    f->vdev->ops->config_read(f->vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(le32toh(cfg.jacks), ==, 2);
    g_assert_cmpuint(le32toh(cfg.streams), ==, 2);
    g_assert_cmpuint(le32toh(cfg.chmaps), ==, 2);

    struct virtio_snd_pcm_info p[2];
    g_assert_cmphex(query(f, VIRTIO_SND_R_PCM_INFO, 0, 2, sizeof(p[0]), p), ==, VIRTIO_SND_S_OK);
    g_assert_cmpuint(p[0].direction, ==, VIRTIO_SND_D_OUTPUT);
    g_assert_cmpuint(p[1].direction, ==, VIRTIO_SND_D_INPUT);
    g_assert_cmphex(le64toh(p[0].formats), ==, 1ULL << VIRTIO_SND_PCM_FMT_S16);
    g_assert_cmphex(le64toh(p[1].rates), ==, 1ULL << VIRTIO_SND_PCM_RATE_48000);
    g_assert_cmpuint(p[0].channels_min, ==, 1);
    g_assert_cmpuint(p[0].channels_max, ==, 2);

    struct virtio_snd_jack_info j[2];
    g_assert_cmphex(query(f, VIRTIO_SND_R_JACK_INFO, 0, 2, sizeof(j[0]), j), ==, VIRTIO_SND_S_OK);
    g_assert_true(j[0].connected && j[1].connected);
    g_assert_cmphex(le32toh(j[0].hda_reg_defconf) >> 20 & 0xF, ==, 0);    /* line out */
    g_assert_cmphex(le32toh(j[1].hda_reg_defconf) >> 20 & 0xF, ==, 0xA);  /* mic in */

    /* A newer driver may ask for bigger items: ours come zero-padded. */
    uint8_t big[2 * 40];
    g_assert_cmphex(query(f, VIRTIO_SND_R_CHMAP_INFO, 0, 2, 40, big), ==, VIRTIO_SND_S_OK);
    struct virtio_snd_chmap_info c;
    memcpy(&c, big + 40, sizeof(c));
    g_assert_cmpuint(c.direction, ==, VIRTIO_SND_D_INPUT);
    g_assert_cmpuint(c.channels, ==, 2);
    g_assert_cmpuint(c.positions[0], ==, VIRTIO_SND_CHMAP_FL);
    g_assert_cmpuint(c.positions[1], ==, VIRTIO_SND_CHMAP_FR);
    g_assert_cmpuint(big[40 + sizeof(c)], ==, 0);

    /* Past the end, items too small, absurd sizes, unknown codes. */
    g_assert_cmphex(query(f, VIRTIO_SND_R_PCM_INFO, 1, 2, sizeof(p[0]), NULL), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(query(f, VIRTIO_SND_R_PCM_INFO, 0xFFFFFFFF, 2, sizeof(p[0]), NULL), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(query(f, VIRTIO_SND_R_JACK_INFO, 0, 1, 8, NULL), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(query(f, VIRTIO_SND_R_JACK_INFO, 0, 1, 1 << 20, NULL), ==, VIRTIO_SND_S_BAD_MSG);
    struct virtio_snd_query_info q = { { htole32(VIRTIO_SND_R_PCM_INFO) }, 0, htole32(2), htole32(sizeof(p[0])) };
    g_assert_cmphex(control(f, &q, sizeof(q), NULL, sizeof(p[0])), ==, VIRTIO_SND_S_BAD_MSG);  /* reply too short */
    g_assert_cmphex(control(f, &q, 6, NULL, 0), ==, VIRTIO_SND_S_BAD_MSG);                        /* request too short */
    uint32_t code = htole32(0x7777);
    g_assert_cmphex(control(f, &code, 4, NULL, 0), ==, VIRTIO_SND_S_NOT_SUPP);
    struct virtio_snd_jack_remap r = { { { htole32(VIRTIO_SND_R_JACK_REMAP) }, htole32(0) }, 0, 0 };
    g_assert_cmphex(control(f, &r, sizeof(r), NULL, 0), ==, VIRTIO_SND_S_NOT_SUPP);
    g_assert_false(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(f->irqs[VIRTIO_SND_VQ_CONTROL], >, 0);
}

static void test_state_machine(struct fx *f, gconstpointer data)
{
    const uint8_t S16 = VIRTIO_SND_PCM_FMT_S16, R48 = VIRTIO_SND_PCM_RATE_48000;
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), ==, VIRTIO_SND_S_BAD_MSG);   /* no parameters yet */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 9), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_FLOAT, R48, PERIOD), ==, VIRTIO_SND_S_NOT_SUPP);
    g_assert_cmphex(set_params(f, 0, 2, S16, VIRTIO_SND_PCM_RATE_44100, PERIOD), ==, VIRTIO_SND_S_NOT_SUPP);
    g_assert_cmphex(set_params(f, 0, 6, S16, R48, PERIOD), ==, VIRTIO_SND_S_NOT_SUPP);
    g_assert_cmphex(set_params(f, 0, 2, S16, R48, 0), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(set_params(f, 0, 2, S16, R48, 4802), ==, VIRTIO_SND_S_BAD_MSG);    /* not whole frames */
    g_assert_cmphex(set_params(f, 0, 2, S16, R48, PERIOD), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_BAD_MSG);      /* not prepared */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(set_params(f, 0, 2, S16, R48, PERIOD), ==, VIRTIO_SND_S_BAD_MSG);  /* while running */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), ==, VIRTIO_SND_S_BAD_MSG);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);           /* pause and resume */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), ==, VIRTIO_SND_S_OK);         /* again, same params */
    /* The other stream is independent. */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 1), ==, VIRTIO_SND_S_BAD_MSG);
}

/* Playback as Linux's driver does it: a buffer's periods queued before
 * START, then one message per period as each completes. The WAV file gets
 * exactly the samples, and no message completes faster than vaudio's clock. */
static void test_playback(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    enum { PERIODS = 6, FRAMES = PERIODS * PERIOD / 4 };
    static int16_t pcm_data[2 * FRAMES];
    stereo_pattern(pcm_data, FRAMES);
    for (unsigned p = 0; p < 4; p++)
        xfer(f, VIRTIO_SND_VQ_TX, 0, (uint8_t *)pcm_data + p * PERIOD, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    virtio_snd_tick(f->snd, 0);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 0);  /* held until START */
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);
    /* One tick moves at most 20 ms: never a whole 25 ms period. */
    virtio_snd_tick(f->snd, 0);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 0);
    unsigned queued = 4, done = 0;
    while (done < PERIODS) {
        tick_until(f, 0, VIRTIO_SND_VQ_TX, 1);
        uint32_t status, len;
        while (take_io(f, VIRTIO_SND_VQ_TX, &status, &len)) {
            g_assert_cmphex(status, ==, VIRTIO_SND_S_OK);
            g_assert_cmpuint(len, ==, sizeof(struct virtio_snd_pcm_status));
            done++;
            if (queued < PERIODS) {
                xfer(f, VIRTIO_SND_VQ_TX, 0, (uint8_t *)pcm_data + queued++ * PERIOD, PERIOD);
                f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
            }
        }
    }
    g_assert_cmpuint(f->irqs[VIRTIO_SND_VQ_TX], >=, 1);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), ==, VIRTIO_SND_S_OK);

    gchar *wav;
    gsize len;
    g_assert_true(g_file_get_contents(f->out_path, &wav, &len, NULL));
    g_assert_cmpuint(len, ==, 44 + sizeof(pcm_data));
    g_assert_cmpmem(wav + 44, len - 44, pcm_data, sizeof(pcm_data));
    g_free(wav);
}

/* Mono capture: the input file's samples, in order, in the guest's buffers. */
static void test_capture(struct fx *f, gconstpointer data)
{
    g_assert_cmphex(set_params(f, 1, 1, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 2400), ==, VIRTIO_SND_S_OK);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 1), ==, VIRTIO_SND_S_OK);
    uint64_t buf[3];
    for (unsigned i = 0; i < 3; i++)
        buf[i] = xfer(f, VIRTIO_SND_VQ_RX, 1, NULL, 2400);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_RX);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 1), ==, VIRTIO_SND_S_OK);
    tick_until(f, 1, VIRTIO_SND_VQ_RX, 3);
    for (unsigned i = 0; i < 3; i++) {
        uint32_t status = 0, len = 0;
        g_assert_true(take_io(f, VIRTIO_SND_VQ_RX, &status, &len));
        g_assert_cmphex(status, ==, VIRTIO_SND_S_OK);
        g_assert_cmpuint(len, ==, 2400 + sizeof(struct virtio_snd_pcm_status));
        for (unsigned k = 0; k < 1200; k++) {
            int16_t s;
            memcpy(&s, f->ram + buf[i] + 2 * k, 2);
            g_assert_cmpint((int16_t)le16toh(s), ==, pattern(i * 1200 + k));
        }
    }
}

/* RELEASE hands back every message still held (the driver waits for them). */
static void test_release_returns_held(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    for (unsigned i = 0; i < 3; i++)
        xfer(f, VIRTIO_SND_VQ_TX, 0, NULL, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 0);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 3);
}

/* Malformed I/O messages a driver could recover from are refused one by
 * one; the stream keeps working. */
static void test_bad_messages(struct fx *f, gconstpointer data)
{
    uint8_t frames[PERIOD] = { 0 };
    xfer(f, VIRTIO_SND_VQ_TX, 0, frames, PERIOD);                /* stream not prepared */
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    prepare_playback(f);
    xfer(f, VIRTIO_SND_VQ_TX, 1, frames, PERIOD);                /* the capture stream on tx */
    xfer(f, VIRTIO_SND_VQ_TX, 7, frames, PERIOD);                /* no such stream */
    xfer(f, VIRTIO_SND_VQ_TX, 0, frames, 6);                     /* a frame and a half */
    xfer(f, VIRTIO_SND_VQ_RX, 0, NULL, PERIOD);                  /* playback on rx */
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_RX);
    for (unsigned q = VIRTIO_SND_VQ_TX; q <= VIRTIO_SND_VQ_RX; q++) {
        uint32_t status = 0, len;
        while (take_io(f, q, &status, &len))
            g_assert_cmphex(status, ==, VIRTIO_SND_S_BAD_MSG);
    }
    g_assert_cmpuint(f->vq[VIRTIO_SND_VQ_TX].used_seen, ==, 4);
    g_assert_cmpuint(f->vq[VIRTIO_SND_VQ_RX].used_seen, ==, 1);
    g_assert_false(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    xfer(f, VIRTIO_SND_VQ_TX, 0, frames, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);
    tick_until(f, 0, VIRTIO_SND_VQ_TX, 1);
}

/* What no driver may send stops the device (NEEDS_RESET and a config
 * interrupt); the VMM goes on, and a device reset brings it back. */
static void expect_failed_then_reset(struct fx *f)
{
    g_assert_true(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(f->config_irqs, ==, 1);
    virtio_device_reset(f->vdev);
    f->config_irqs = 0;
    memset(f->ram + Q_BASE, 0, VIRTIO_SND_VQ_MAX * 0x4000);
    fake_driver_ok(f->vdev, 0);
    for (unsigned q = 0; q < VIRTIO_SND_VQ_MAX; q++)
        fake_vq_enable(&f->vq[q], f->vdev, &f->mem, q, Q_BASE + q * 0x4000, QSZ);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), ==, VIRTIO_SND_S_BAD_MSG);  /* back to initial */
    g_assert_false(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_hostile(struct fx *f, gconstpointer data)
{
    /* A control request with no room for the status. */
    uint64_t g = alloc(f, 64);
    struct virtio_snd_pcm_hdr h = { { htole32(VIRTIO_SND_R_PCM_START) }, 0 };
    memcpy(f->ram + g, &h, sizeof(h));
    fake_vq_offer(&f->vq[0], (struct fake_seg[]){ { g, sizeof(h), false }, { g + 32, 2, true } }, 2);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_CONTROL);
    expect_failed_then_reset(f);

    /* A control request outside guest RAM. */
    fake_vq_offer(&f->vq[0], (struct fake_seg[]){ { RAM_SIZE - 2, 64, false }, { g, 4, true } }, 2);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_CONTROL);
    expect_failed_then_reset(f);

    /* An I/O message without a status. */
    prepare_playback(f);
    fake_vq_offer(&f->vq[VIRTIO_SND_VQ_TX], (struct fake_seg[]){ { g, 4, false }, { g + 8, 16, false } }, 2);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    expect_failed_then_reset(f);

    /* More messages held than the queue has entries: one chain offered over and over. */
    prepare_playback(f);
    xfer(f, VIRTIO_SND_VQ_TX, 0, NULL, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    struct virtq_avail *a = fake_vq_avail(&f->vq[VIRTIO_SND_VQ_TX]);
    for (unsigned round = 0; round < 2 && !(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET); round++) {
        for (unsigned i = 0; i < QSZ - 1; i++) {
            a->ring[a->idx % QSZ] = 0;
            a->idx++;
        }
        f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    }
    expect_failed_then_reset(f);
}

/* A device reset with a stream running and messages held: nothing leaks,
 * nothing completes into the reset queues, the stream starts over. */
static void test_reset_while_running(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    for (unsigned i = 0; i < 3; i++)
        xfer(f, VIRTIO_SND_VQ_TX, 0, NULL, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);
    virtio_snd_tick(f->snd, 0);
    pthread_mutex_lock(&f->vdev->lock);
    virtio_device_reset(f->vdev);
    pthread_mutex_unlock(&f->vdev->lock);
    virtio_snd_tick(f->snd, 0);
    g_assert_cmpuint(f->snd->streams[0].msg_count, ==, 0);
    g_assert_cmpuint(f->snd->state.streams[0].state, ==, SND_PCM_INITIAL);
}

/* ---- snapshots ---- */

static gchar *wav_data(const char *path, gsize *len)
{
    gchar *wav;
    g_assert_true(g_file_get_contents(path, &wav, len, NULL));
    g_assert_cmpuint(*len, >=, 44);
    *len -= 44;
    memmove(wav, wav + 44, *len);
    return wav;
}

/* What the transport (virtio_pci) and the device save, and a fresh device
 * on a copy of the RAM that loads both. */
struct saved {
    struct virtio_common_state common;
    struct virtio_snd_state dev;
};

static void snapshot_take(struct fx *f, struct saved *s)
{
    g_assert_cmpint(virtio_snd_quiesce(f->snd), ==, 0);
    virtio_common_save(f->vdev, &s->common);
    g_assert_cmpint(virtio_snd_state_save(f->snd, &s->dev, sizeof(s->dev) - 1), ==, -ENOSPC);
    g_assert_cmpint(virtio_snd_state_save(f->snd, &s->dev, sizeof(s->dev)), ==, sizeof(s->dev));
}

static void snapshot_restore(struct fx *g, const struct fx *f, const struct saved *s)
{
    fx_open(g, g_memdup2(f->ram, RAM_SIZE));
    for (unsigned q = 0; q < VIRTIO_SND_VQ_MAX; q++) {
        g->vq[q] = f->vq[q];
        g->vq[q].ram = g->ram;
    }
    g->next_buf = f->next_buf;
    g_assert_cmpint(virtio_common_check(g->vdev, &s->common, &g->mem), ==, 0);
    pthread_mutex_lock(&g->vdev->lock);
    virtio_common_load(g->vdev, &s->common, &g->mem);
    pthread_mutex_unlock(&g->vdev->lock);
    g_assert_cmpint(virtio_snd_state_load(g->snd, &s->dev, sizeof(s->dev)), ==, 0);
}

/* Refused, nothing changed. */
static void expect_refused(struct fx *f, const struct virtio_snd_state *bad, size_t len)
{
    struct virtio_snd_state before, after;
    g_assert_cmpint(virtio_snd_state_save(f->snd, &before, sizeof(before)), ==, sizeof(before));
    g_assert_cmpint(virtio_snd_state_load(f->snd, bad, len), ==, -EINVAL);
    g_assert_cmpint(virtio_snd_state_save(f->snd, &after, sizeof(after)), ==, sizeof(after));
    g_assert_cmpmem(&before, sizeof(before), &after, sizeof(after));
}

/* Saved while playing, with four periods queued and the oldest part
 * played: the device hands its messages back to the queue, the running VM
 * plays on without a gap or a repeat, and a fresh device restored from the
 * state and a copy of the RAM plays exactly the rest, from the saved byte,
 * into its own (reopened) WAV. */
static void test_snapshot_mid_stream(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    enum { PERIODS = 4, FRAMES = PERIODS * PERIOD / 4 };
    static int16_t pcm_data[2 * FRAMES];
    stereo_pattern(pcm_data, FRAMES);
    for (unsigned p = 0; p < PERIODS; p++)
        xfer(f, VIRTIO_SND_VQ_TX, 0, (uint8_t *)pcm_data + p * PERIOD, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_START, 0), ==, VIRTIO_SND_S_OK);
    tick_until(f, 0, VIRTIO_SND_VQ_TX, 1);
    gsize played;
    g_free(wav_data(f->out_path, &played));
    struct saved s;
    snapshot_take(f, &s);
    g_assert_cmpuint(f->snd->streams[0].msg_count, ==, 0);
    g_assert_cmpuint(s.dev.streams[0].state, ==, SND_PCM_RUNNING);
    g_assert_cmpuint(played, >, PERIOD);
    g_assert_cmpuint(played, <, PERIODS * PERIOD);
    g_assert_cmpuint(s.dev.streams[0].resume_skip, ==, played % PERIOD);

    struct fx g;
    snapshot_restore(&g, f, &s);
    /* The running VM goes on as if nothing happened. */
    tick_until(f, 0, VIRTIO_SND_VQ_TX, PERIODS);
    gsize len;
    g_autofree gchar *all = wav_data(f->out_path, &len);
    g_assert_cmpmem(all, len, pcm_data, sizeof(pcm_data));
    /* The restored one plays the rest. */
    tick_until(&g, 0, VIRTIO_SND_VQ_TX, PERIODS);
    uint32_t status = 0, ulen = 0;
    for (unsigned i = 0; i < PERIODS; i++) {
        g_assert_true(take_io(&g, VIRTIO_SND_VQ_TX, &status, &ulen));
        g_assert_cmphex(status, ==, VIRTIO_SND_S_OK);
    }
    g_assert_false(take_io(&g, VIRTIO_SND_VQ_TX, &status, &ulen));
    g_assert_cmpuint(g.irqs[VIRTIO_SND_VQ_TX], >=, 1);
    g_autofree gchar *rest = wav_data(g.out_path, &len);
    g_assert_cmpmem(rest, len, (uint8_t *)pcm_data + played, sizeof(pcm_data) - played);
    fx_teardown(&g, NULL);
}

/* Messages given back at a snapshot still come back to a driver that
 * releases the stream before the next tick. */
static void test_snapshot_then_release(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    for (unsigned i = 0; i < 3; i++)
        xfer(f, VIRTIO_SND_VQ_TX, 0, NULL, PERIOD);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_SND_VQ_TX);
    struct saved s;
    snapshot_take(f, &s);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 0);
    g_assert_cmphex(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), ==, VIRTIO_SND_S_OK);
    g_assert_cmpuint(fake_vq_used(&f->vq[VIRTIO_SND_VQ_TX])->idx, ==, 3);
}

/* States no device could be in are refused whole. */
static void test_snapshot_hostile(struct fx *f, gconstpointer data)
{
    prepare_playback(f);
    struct saved s;
    snapshot_take(f, &s);
    struct virtio_snd_state bad = s.dev;
    expect_refused(f, &bad, sizeof(bad) - 1);
    bad.version = 99;
    expect_refused(f, &bad, sizeof(bad));
    bad = s.dev;
    bad.streams[0].state = SND_PCM_RELEASED + 1;
    expect_refused(f, &bad, sizeof(bad));
    bad = s.dev;
    bad.streams[0].channels = 3;
    expect_refused(f, &bad, sizeof(bad));
    bad = s.dev;
    bad.streams[0].period_bytes = 4801;
    expect_refused(f, &bad, sizeof(bad));
    bad = s.dev;
    bad.streams[0].resume_skip = 2;  /* half a stereo frame */
    expect_refused(f, &bad, sizeof(bad));
    bad = s.dev;
    bad.streams[1].resume_skip = 4;  /* the capture stream never ran */
    expect_refused(f, &bad, sizeof(bad));
    g_assert_cmpint(virtio_snd_state_load(f->snd, &s.dev, sizeof(s.dev)), ==, 0);
    g_assert_cmpuint(f->snd->state.streams[0].state, ==, SND_PCM_PREPARED);
}

#define T(name, fn) g_test_add("/virtio-snd/" name, struct fx, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    T("info", test_info);
    T("state-machine", test_state_machine);
    T("playback", test_playback);
    T("capture", test_capture);
    T("release-returns-held", test_release_returns_held);
    T("bad-messages", test_bad_messages);
    T("hostile", test_hostile);
    T("reset-while-running", test_reset_while_running);
    T("snapshot-mid-stream", test_snapshot_mid_stream);
    T("snapshot-hostile", test_snapshot_hostile);
    T("snapshot-then-release", test_snapshot_then_release);
    return g_test_run();
}
