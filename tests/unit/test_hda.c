/* The HDA controller on fake guest memory (no PCI, no KVM): codec commands
 * through CORB/RIRB and the immediate interface, a stream playing a buffer
 * into vaudio's WAV backend, and hostile buffer descriptor lists that stop
 * the stream with the descriptor error bit instead of anything worse.
 * Also vaudio: --audio parsing, bounded buffering, a missing sound server. */
#include "devices/hda.h"
#include "devices/hda_int.h"
#include "core/memory.h"
#include "vaudio.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE  (1u << 20)
#define CORB_GPA  0x1000
#define RIRB_GPA  0x2000
#define BDL_GPA   0x3000
#define BUF_GPA   0x10000
#define OUT       1            /* output stream index */

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct hda *h;
    struct vaudio *va;
    char *wav;
};

static void w32(struct fx *f, unsigned off, uint32_t v) { hda_mmio_write(f->h, off, v, 4); }
static void w16(struct fx *f, unsigned off, uint16_t v) { hda_mmio_write(f->h, off, v, 2); }
static void w8(struct fx *f, unsigned off, uint8_t v) { hda_mmio_write(f->h, off, v, 1); }
static uint32_t r32(struct fx *f, unsigned off) { return (uint32_t)hda_mmio_read(f->h, off, 4); }
static uint16_t r16(struct fx *f, unsigned off) { return (uint16_t)hda_mmio_read(f->h, off, 2); }
static uint8_t r8(struct fx *f, unsigned off) { return (uint8_t)hda_mmio_read(f->h, off, 1); }

/* A controller on @ram (taken over) playing into its own WAV file. */
static void fx_open(struct fx *f, uint8_t *ram, const char *tag)
{
    f->ram = ram;
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    f->wav = g_strdup_printf("%s/domus-hda-test-%d%s.wav", g_get_tmp_dir(), (int)getpid(), tag);
    struct vaudio_config c;
    char why[256], spec[512];
    snprintf(spec, sizeof(spec), "wav:%s", f->wav);
    g_assert_cmpint(vaudio_config_parse(spec, &c, why, sizeof(why)), ==, 0);
    char *err = NULL;
    f->va = vaudio_open(&c, &err);
    g_assert_nonnull(f->va);
    f->h = hda_new(&f->mem, f->va, NULL);
    g_assert_nonnull(f->h);
    /* Out of controller reset, as a driver does. */
    w32(f, HDA_GCTL, 1);
    g_assert_cmpuint(r32(f, HDA_GCTL) & 1, ==, 1);
    g_assert_cmpuint(r16(f, HDA_STATESTS), ==, 1);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    fx_open(f, g_malloc0(RAM_SIZE), "");
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    hda_free(f->h);
    vaudio_close(f->va);
    g_unlink(f->wav);
    g_free(f->wav);
    g_free(f->ram);
}

static uint32_t corb_command(struct fx *f, uint32_t verb)
{
    uint16_t wp = (r16(f, HDA_CORBWP) + 1) & 0xFF;
    memcpy(f->ram + CORB_GPA + 4 * wp, &verb, 4);
    w16(f, HDA_CORBWP, wp);
    uint16_t rwp = r16(f, HDA_RIRBWP);
    uint32_t resp;
    memcpy(&resp, f->ram + RIRB_GPA + 8 * rwp, 4);
    return resp;
}

static void test_codec_commands(struct fx *f, gconstpointer data)
{
    g_assert_cmpuint(r16(f, HDA_GCAP), ==, 0x1101);
    w32(f, HDA_CORBLBASE, CORB_GPA);
    w32(f, HDA_RIRBLBASE, RIRB_GPA);
    w16(f, HDA_CORBRP, 0x8000);                     /* CORB read pointer reset handshake */
    g_assert_cmpuint(r16(f, HDA_CORBRP), ==, 0x8000);
    w16(f, HDA_CORBRP, 0);
    g_assert_cmpuint(r16(f, HDA_CORBRP), ==, 0);
    w16(f, HDA_RIRBWP, 0x8000);
    w16(f, HDA_RINTCNT, 1);
    w8(f, HDA_RIRBCTL, 3);                          /* DMA + response interrupt */
    w8(f, HDA_CORBCTL, 2);
    w32(f, HDA_INTCTL, 0xC0000000u);
    g_assert_cmpuint(corb_command(f, 0x000F0000), ==, 0xD0D00001);   /* vendor ID */
    g_assert_cmpuint(r16(f, HDA_RIRBWP), ==, 1);
    g_assert_true(hda_irq_level(f->h));
    g_assert_cmpuint(r32(f, HDA_INTSTS), ==, 0xC0000000u);
    w8(f, HDA_RIRBSTS, 1);
    g_assert_false(hda_irq_level(f->h));
    g_assert_cmpuint(corb_command(f, 0x003F1C00), ==, 0x01014010);   /* line-out pin config */
    g_assert_cmpuint(corb_command(f, 0x004F0200), ==, 5);            /* ADC <- mic pin */
    /* Commands for absent codecs get no response. */
    corb_command(f, 0x100F0000);
    g_assert_cmpuint(r16(f, HDA_RIRBWP), ==, 3);
    /* The immediate command interface answers too. */
    w32(f, HDA_ICOI, 0x002F0009);
    w16(f, HDA_ICIS, 1);
    g_assert_cmpuint(r16(f, HDA_ICIS) & 3, ==, 2);
    g_assert_cmpuint(r32(f, HDA_ICII) >> 20, ==, 0);               /* DAC: audio output widget */
}

/* Two descriptors, IOC on both; returns the stream's SD base. */
static unsigned setup_stream(struct fx *f, uint64_t a0, uint32_t l0, uint64_t a1, uint32_t l1, uint16_t fmt)
{
    uint32_t bdl[8] = { (uint32_t)a0, (uint32_t)(a0 >> 32), l0, 1, (uint32_t)a1, (uint32_t)(a1 >> 32), l1, 1 };
    memcpy(f->ram + BDL_GPA, bdl, sizeof(bdl));
    unsigned sd = HDA_SD(OUT);
    w32(f, sd + HDA_SD_BDPL, BDL_GPA);
    w32(f, sd + HDA_SD_CBL, l0 + l1);
    w16(f, sd + HDA_SD_LVI, 1);
    w16(f, sd + HDA_SD_FMT, fmt);
    w32(f, HDA_INTCTL, 0x80000000u | (1u << OUT));
    w8(f, sd + HDA_SD_CTL, HDA_SD_CTL_RUN | HDA_SD_CTL_IOCE | HDA_SD_CTL_DEIE);
    return sd;
}

static void test_playback_to_wav(struct fx *f, gconstpointer data)
{
    int16_t *pcm = (int16_t *)(f->ram + BUF_GPA);
    for (unsigned i = 0; i < 4800 * 2; i++)
        pcm[i] = (int16_t)(i + 1);
    unsigned sd = setup_stream(f, BUF_GPA, 9600, BUF_GPA + 9600, 9600, 0x0011);
    g_assert_cmpuint(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_DESE, ==, 0);
    for (int i = 0; i < 4; i++) {
        g_usleep(20000);
        hda_stream_tick(f->h, OUT);
    }
    uint32_t lpib = r32(f, sd + HDA_SD_LPIB);
    g_assert_cmpuint(lpib, >, 0);
    g_assert_cmpuint(lpib % 4, ==, 0);
    g_assert_true(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_BCIS);   /* passed the first descriptor */
    g_assert_true(hda_irq_level(f->h));
    w8(f, sd + HDA_SD_CTL, 0);
    /* The WAV holds exactly the guest's samples, from the start of the buffer. */
    gchar *file;
    gsize len;
    g_assert_true(g_file_get_contents(f->wav, &file, &len, NULL));
    g_assert_cmpuint(len, >=, 44 + 9600);
    g_assert_cmpmem(file + 44, 9600, pcm, 9600);
    g_free(file);
}

static void expect_descriptor_error(struct fx *f, unsigned sd)
{
    g_usleep(10000);
    hda_stream_tick(f->h, OUT);
    g_assert_true(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_DESE);
    g_assert_cmpuint(r8(f, sd + HDA_SD_CTL) & HDA_SD_CTL_RUN, ==, 0);
    g_assert_true(hda_irq_level(f->h));
    /* The driver can clear the error, reset the stream and go on. */
    w8(f, sd + HDA_SD_STS, HDA_SD_STS_DESE);
    w8(f, sd + HDA_SD_CTL, HDA_SD_CTL_SRST);
    w8(f, sd + HDA_SD_CTL, 0);
    g_assert_cmpuint(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_DESE, ==, 0);
}

static void test_hostile_bdl(struct fx *f, gconstpointer data)
{
    /* An entry outside RAM */
    expect_descriptor_error(f, setup_stream(f, RAM_SIZE - 16, 4096, BUF_GPA, 4096, 0x0011));
    /* A zero-length entry */
    expect_descriptor_error(f, setup_stream(f, BUF_GPA, 0, BUF_GPA, 4096, 0x0011));
    /* An address that wraps around 64 bits */
    expect_descriptor_error(f, setup_stream(f, UINT64_MAX - 100, 4096, BUF_GPA, 4096, 0x0011));
    /* A format the codec does not offer (44.1 kHz, 24-bit): refused at start */
    unsigned sd = setup_stream(f, BUF_GPA, 4096, BUF_GPA, 4096, 0x4031);
    g_assert_true(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_DESE);
    w8(f, sd + HDA_SD_STS, HDA_SD_STS_DESE);
    /* A list that does not fit in RAM */
    w32(f, sd + HDA_SD_BDPL, RAM_SIZE - 128);
    w16(f, sd + HDA_SD_LVI, 255);
    w16(f, sd + HDA_SD_FMT, 0x0011);
    w8(f, sd + HDA_SD_CTL, HDA_SD_CTL_RUN);
    g_assert_true(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_DESE);
    /* Accesses outside the register file are ignored. */
    hda_mmio_write(f->h, 0x3FFC, 0xFFFFFFFF, 4);
    g_assert_cmpuint(hda_mmio_read(f->h, 0x3FFC, 4), ==, 0);
}

static void test_vaudio(void)
{
    struct vaudio_config c;
    char why[256];
    g_assert_cmpint(vaudio_config_parse("wav:/tmp/a.wav,in=/tmp/b.wav", &c, why, sizeof(why)), ==, 0);
    g_assert_cmpstr(c.out_path, ==, "/tmp/a.wav");
    g_assert_cmpstr(c.in_path, ==, "/tmp/b.wav");
    static const char *bad[] = { "alsa", "wav:", "wav:x,out=y", "wav:x,in=", "" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(vaudio_config_parse(bad[i], &c, why, sizeof(why)), <, 0);
        g_assert_nonnull(strstr(why, "--audio"));
    }
    /* A missing input file or one of the wrong kind is an error with its name. */
    char *err = NULL;
    g_assert_cmpint(vaudio_config_parse("wav:/tmp/domus-x.wav,in=/nonexistent.wav", &c, why, sizeof(why)), ==, 0);
    g_assert_null(vaudio_open(&c, &err));
    g_assert_nonnull(strstr(err, "/nonexistent.wav"));
    g_free(err);
    /* No sound server: the VM gets "none" and a warning, not a failure. */
    g_setenv("PULSE_SERVER", "unix:/nonexistent/pulse", TRUE);
    g_assert_cmpint(vaudio_config_parse("pulse", &c, why, sizeof(why)), ==, 0);
    struct vaudio *va = vaudio_open(&c, &err);
    g_assert_nonnull(va);
    g_assert_cmpstr(vaudio_backend_name(va), ==, "none");
    /* Buffering is bounded: a backend that never drains keeps at most 50 ms. */
    struct vaudio_stream *s = vaudio_stream_new(va, VAUDIO_PLAYBACK, 2);
    static int16_t second[48000 * 2];
    vaudio_stream_write(s, second, 48000);
    g_assert_cmpuint(vaudio_stream_latency_ns(s), <=, 50000000u);
    /* The clock, not the caller, decides how much is due. */
    vaudio_stream_start(s);
    g_usleep(20000);
    size_t due = vaudio_stream_frames_due(s);
    g_assert_cmpuint(due, >=, 900);
    g_assert_cmpuint(due, <=, 960);
    g_assert_cmpuint(vaudio_stream_frames_due(s), <, 200);
    vaudio_stream_free(s);
    vaudio_close(va);
    g_unlink("/tmp/domus-x.wav");
}

/* ---- snapshots ---- */

static uint8_t *save_blob(struct hda *h)
{
    uint8_t *b = g_malloc(sizeof(struct hda_saved));
    g_assert_cmpint(hda_state_save(h, b, sizeof(struct hda_saved) - 1), ==, -ENOSPC);
    g_assert_cmpint(hda_state_save(h, b, sizeof(struct hda_saved)), ==, sizeof(struct hda_saved));
    return b;
}

/* Refused, and nothing changed (the wall clock moves on by itself). */
static void expect_refused(struct hda *h, const void *blob, size_t len)
{
    g_autofree uint8_t *before = save_blob(h);
    g_assert_cmpint(hda_state_load(h, blob, len), ==, -EINVAL);
    g_autofree uint8_t *after = save_blob(h);
    g_assert_cmpmem(before, offsetof(struct hda_saved, wallclock_ns), after, offsetof(struct hda_saved, wallclock_ns));
}

static gchar *wav_data(struct fx *f, gsize *len)
{
    gchar *file;
    g_assert_true(g_file_get_contents(f->wav, &file, len, NULL));
    g_assert_cmpuint(*len, >=, 44);
    *len -= 44;
    memmove(file, file + 44, *len);
    return file;
}

/* Saved mid-stream (in the second descriptor, a converter format set over
 * CORB, a buffer-complete interrupt pending); restored into a fresh
 * controller on a copy of the RAM with a WAV of its own: the position,
 * format, codec setting and interrupt are there, and playback goes on
 * from exactly the saved position. */
static void test_snapshot(struct fx *f, gconstpointer data)
{
    int16_t *pcm = (int16_t *)(f->ram + BUF_GPA);
    for (unsigned i = 0; i < 4800 * 2; i++)
        pcm[i] = (int16_t)(3 * i + 7);
    w32(f, HDA_CORBLBASE, CORB_GPA);
    w32(f, HDA_RIRBLBASE, RIRB_GPA);
    w8(f, HDA_RIRBCTL, 2);
    w8(f, HDA_CORBCTL, 2);
    corb_command(f, 0x00220011);     /* DAC format: 48 kHz 16-bit stereo */
    unsigned sd = setup_stream(f, BUF_GPA, 9600, BUF_GPA + 9600, 9600, 0x0011);
    for (int i = 0; i < 4 && !(r8(f, sd + HDA_SD_STS) & HDA_SD_STS_BCIS); i++) {
        g_usleep(20000);
        hda_stream_tick(f->h, OUT);
    }
    uint32_t lpib = r32(f, sd + HDA_SD_LPIB);
    g_assert_cmpuint(lpib, >, 9600);  /* in the second descriptor */
    g_assert_true(hda_irq_level(f->h));
    g_autofree uint8_t *blob = save_blob(f->h);
    size_t len = sizeof(struct hda_saved);

    struct fx g;
    fx_open(&g, g_memdup2(f->ram, RAM_SIZE), "-restored");
    g_autofree uint8_t *bad = g_memdup2(blob, len);
    struct hda_saved *s = (struct hda_saved *)bad;
    expect_refused(g.h, bad, len - 4);
    s->version = 2;
    expect_refused(g.h, bad, len);
    s->version = HDA_SAVED_VERSION;
    s->regs[HDA_GCAP] = 0x02;        /* another controller */
    expect_refused(g.h, bad, len);
    s->regs[HDA_GCAP] = blob[HDA_GCAP];
    s->streams[OUT].bde = 5;         /* past the last valid index */
    expect_refused(g.h, bad, len);
    s->streams[OUT].bde = 1;
    s->streams[OUT].carry_len = 4;
    expect_refused(g.h, bad, len);
    s->streams[OUT].carry_len = 0;
    s->regs[sd + HDA_SD_FMT + 1] = 0x40;   /* 44.1 kHz while running */
    expect_refused(g.h, bad, len);
    s->regs[sd + HDA_SD_FMT + 1] = 0;
    s->regs[sd + HDA_SD_BDPL + 2] = 0xF0;  /* list outside RAM while running */
    expect_refused(g.h, bad, len);
    s->regs[sd + HDA_SD_BDPL + 2] = 0;
    s->codec.power[2] = 9;
    expect_refused(g.h, bad, len);
    s->codec.power[2] = blob[offsetof(struct hda_saved, codec.power[2])];
    g_assert_cmpmem(bad, len, blob, len);
    g_assert_false(hda_irq_level(g.h));

    g_assert_cmpint(hda_state_load(g.h, blob, len), ==, 0);
    g_assert_cmpuint(r32(&g, sd + HDA_SD_LPIB), ==, lpib);
    g_assert_cmphex(r16(&g, sd + HDA_SD_FMT), ==, 0x0011);
    g_assert_cmphex(r8(&g, sd + HDA_SD_CTL) & HDA_SD_CTL_RUN, ==, HDA_SD_CTL_RUN);
    g_assert_true(hda_irq_level(g.h));
    g_assert_cmphex(corb_command(&g, 0x002A0000), ==, 0x0011);
    w8(&g, sd + HDA_SD_STS, HDA_SD_STS_BCIS);
    g_assert_false(hda_irq_level(g.h));
    for (int i = 0; i < 3; i++) {
        g_usleep(20000);
        hda_stream_tick(g.h, OUT);
    }
    uint32_t lpib2 = r32(&g, sd + HDA_SD_LPIB);
    g_assert_cmpuint(lpib2 < lpib ? lpib2 + 19200 : lpib2, >, lpib);
    gsize n;
    g_autofree gchar *out = wav_data(&g, &n);
    g_assert_cmpuint(n, >=, 4 * 480);
    g_assert_cmpuint(n, <=, 19200);
    /* What the restored controller played starts where the saved one stopped. */
    for (gsize i = 0; i < n; i++)
        g_assert_cmpuint((uint8_t)out[i], ==, f->ram[BUF_GPA + (lpib + i) % 19200]);
    fx_teardown(&g, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/hda/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    T("codec-commands", test_codec_commands);
    T("playback-to-wav", test_playback_to_wav);
    T("hostile-bdl", test_hostile_bdl);
    T("snapshot", test_snapshot);
    g_test_add_func("/vaudio/basics", test_vaudio);
    return g_test_run();
}
