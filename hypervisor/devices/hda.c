/* Intel HDA controller: CORB/RIRB and immediate command interfaces to the
 * codec, two DMA stream engines walking guest buffer descriptor lists, the
 * DMA position buffer, INTx. Streams move data when vaudio's clock says so
 * (a timerfd on the I/O thread every HDA_TICK_MS), not when the guest pokes
 * registers. Guest buffer descriptor lists are hostile: an entry outside
 * RAM, of length zero or an absurd list stops that stream with the
 * descriptor-error bit, as real hardware does. */
#include "hda_int.h"
#include "devices.h"
#include "core/event_loop.h"
#include "core/memory.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "vaudio.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint8_t *R(struct hda *h, unsigned off) { return &h->state.regs[off]; }
static void set(struct hda *h, unsigned off, uint32_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        h->state.regs[off + i] = (uint8_t)(v >> (8 * i));
}
static void mask(struct hda *h, unsigned off, uint32_t wm, uint32_t w1c, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        h->wmask[off + i] = (uint8_t)(wm >> (8 * i));
        h->w1c[off + i] = (uint8_t)(w1c >> (8 * i));
    }
}
static uint64_t addr64(const struct hda *h, unsigned lo, unsigned hi)
{
    return (uint64_t)hda_get(h, hi, 4) << 32 | hda_get(h, lo, 4);
}

/* ---- interrupts ---- */

static uint32_t hda_intsts(struct hda *h)
{
    uint32_t sts = 0;
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        uint8_t ctl = *R(h, HDA_SD(n) + HDA_SD_CTL), s = *R(h, HDA_SD(n) + HDA_SD_STS);
        /* Enables sit at the same bit positions in CTL as the causes in STS. */
        if (s & ctl & 0x1C)
            sts |= 1u << n;
    }
    uint8_t rctl = *R(h, HDA_RIRBCTL), rsts = *R(h, HDA_RIRBSTS);
    if (((rsts & 1) && (rctl & 1)) || ((rsts & 4) && (rctl & 4)))
        sts |= 1u << 30;
    if (sts)
        sts |= 1u << 31;
    return sts;
}

bool hda_irq_level(struct hda *h)
{
    uint32_t ctl = hda_get(h, HDA_INTCTL, 4), sts = hda_intsts(h);
    if (!(ctl & (1u << 31)))
        return false;
    return (sts & ctl & ((1u << 30) | ((1u << HDA_STREAMS) - 1))) != 0;
}

void hda_update_irq(struct hda *h)
{
    if (h->pci_owned)
        pci_device_set_irq(&h->pci, hda_irq_level(h));
}

/* ---- codec commands ---- */

static uint32_t hda_command(struct hda *h, uint32_t verb, bool *answered)
{
    /* Only codec address 0 exists; others never answer, as on a real link. */
    *answered = (verb >> 28) == 0;
    return *answered ? hda_codec_command(&h->state.codec, verb & 0x0FFFFFFF) : 0;
}

static void hda_corb_run(struct hda *h)
{
    if (!(*R(h, HDA_CORBCTL) & 2) || !(*R(h, HDA_RIRBCTL) & 2))
        return;
    uint64_t corb = addr64(h, HDA_CORBLBASE, HDA_CORBUBASE);
    uint64_t rirb = addr64(h, HDA_RIRBLBASE, HDA_RIRBUBASE);
    uint16_t wp = hda_get(h, HDA_CORBWP, 2) & 0xFF;
    uint16_t rp = hda_get(h, HDA_CORBRP, 2) & 0xFF;
    bool responded = false;
    while (rp != wp) {
        rp = (rp + 1) % HDA_CORB_ENTRIES;
        uint32_t verb;
        if (guest_mem_read(h->mem, corb + 4 * rp, &verb, 4) < 0) {
            *R(h, HDA_CORBCTL) &= (uint8_t)~2;   /* CORB outside RAM: stop the engine */
            break;
        }
        bool answered;
        uint32_t resp[2] = { hda_command(h, le32toh(verb), &answered), 0 };
        if (!answered)
            continue;
        uint16_t rwp = (hda_get(h, HDA_RIRBWP, 2) + 1) % HDA_RIRB_ENTRIES;
        if (guest_mem_write(h->mem, rirb + 8 * rwp, resp, 8) < 0) {
            *R(h, HDA_RIRBCTL) &= (uint8_t)~2;
            break;
        }
        set(h, HDA_RIRBWP, rwp, 2);
        responded = true;
    }
    set(h, HDA_CORBRP, rp, 2);
    if (responded)
        *R(h, HDA_RIRBSTS) |= 1;     /* response interrupt */
    hda_update_irq(h);
}

static void hda_immediate_command(struct hda *h)
{
    bool answered;
    uint32_t resp = hda_command(h, hda_get(h, HDA_ICOI, 4), &answered);
    set(h, HDA_ICII, resp, 4);
    uint16_t icis = (uint16_t)hda_get(h, HDA_ICIS, 2);
    icis &= (uint16_t)~1;            /* not busy */
    if (answered)
        icis |= 2;                   /* result valid */
    set(h, HDA_ICIS, icis, 2);
}

/* ---- streams ---- */

static void stream_timer(struct hda_stream *st, bool on)
{
    if (st->timerfd >= 0)
        event_loop_timer_periodic(st->timerfd, on ? HDA_TICK_MS : 0);
}

void hda_stream_stop(struct hda_stream *st)
{
    stream_timer(st, false);
    if (st->vs) {
        vaudio_stream_free(st->vs);
        st->vs = NULL;
    }
}

static void stream_error(struct hda_stream *st)
{
    struct hda *h = st->h;
    *R(h, HDA_SD(st->n) + HDA_SD_STS) |= HDA_SD_STS_DESE;
    *R(h, HDA_SD(st->n) + HDA_SD_CTL) &= (uint8_t)~HDA_SD_CTL_RUN;
    hda_stream_stop(st);
}

void hda_stream_run(struct hda_stream *st)
{
    unsigned channels = (hda_get(st->h, HDA_SD(st->n) + HDA_SD_FMT, 2) & 0xF) + 1;
    if (st->h->va) {
        st->vs = vaudio_stream_new(st->h->va, st->n == 0 ? VAUDIO_CAPTURE : VAUDIO_PLAYBACK, channels);
        if (st->vs)
            vaudio_stream_start(st->vs);
    }
    stream_timer(st, true);
}

bool hda_stream_startable(const struct guest_mem *mem, const uint8_t *regs, unsigned n)
{
    unsigned base = HDA_SD(n);
    uint16_t fmt = (uint16_t)hda_regs_get(regs, base + HDA_SD_FMT, 2);
    uint32_t cbl = hda_regs_get(regs, base + HDA_SD_CBL, 4);
    unsigned lvi = hda_regs_get(regs, base + HDA_SD_LVI, 2) & 0xFF;
    uint64_t bdl = (uint64_t)hda_regs_get(regs, base + HDA_SD_BDPU, 4) << 32 | hda_regs_get(regs, base + HDA_SD_BDPL, 4);
    return HDA_FMT_SUPPORTED(fmt) && (fmt & 0xF) + 1 <= 2 && cbl != 0 && lvi >= 1 &&
           guest_mem_ptr(mem, bdl, 16ULL * (lvi + 1));
}

static void stream_start(struct hda_stream *st)
{
    if (!hda_stream_startable(st->h->mem, st->h->state.regs, st->n)) {
        stream_error(st);            /* nothing this controller can play */
        return;
    }
    st->bde = 0;
    st->bde_off = 0;
    st->carry_len = 0;
    set(st->h, HDA_SD(st->n) + HDA_SD_LPIB, 0, 4);
    hda_stream_run(st);
}

/* Moves @len bytes between the guest's buffer at @p and vaudio. */
static void stream_move(struct hda_stream *st, uint8_t *p, size_t len, unsigned frame)
{
    bool out = st->n != 0;
    while (len) {
        if (st->carry_len || len < frame) {
            /* A frame straddles two descriptors: assemble it byte by byte. */
            size_t k = frame - st->carry_len < len ? frame - st->carry_len : len;
            if (out)
                memcpy(st->carry + st->carry_len, p, k);
            else {
                if (!st->carry_len && st->vs)
                    vaudio_stream_read(st->vs, (int16_t *)st->carry, 1);
                else if (!st->carry_len)
                    memset(st->carry, 0, sizeof(st->carry));
                memcpy(p, st->carry + st->carry_len, k);
            }
            st->carry_len += (unsigned)k;
            if (st->carry_len == frame) {
                if (out && st->vs)
                    vaudio_stream_write(st->vs, (int16_t *)st->carry, 1);
                st->carry_len = 0;
            }
            p += k;
            len -= k;
            continue;
        }
        size_t frames = len / frame, bytes = frames * frame;
        int16_t aligned[2 * 512];
        if (frames > 512)
            frames = 512, bytes = frames * frame;
        if (out) {
            memcpy(aligned, p, bytes);   /* guest memory may be unaligned */
            if (st->vs)
                vaudio_stream_write(st->vs, aligned, frames);
        } else {
            if (st->vs)
                vaudio_stream_read(st->vs, aligned, frames);
            else
                memset(aligned, 0, bytes);
            memcpy(p, aligned, bytes);
        }
        p += bytes;
        len -= bytes;
    }
}

void hda_stream_tick(struct hda *h, unsigned n)
{
    struct hda_stream *st = &h->streams[n];
    unsigned base = HDA_SD(n);
    pthread_mutex_lock(&h->lock);
    if (!(*R(h, base + HDA_SD_CTL) & HDA_SD_CTL_RUN)) {
        pthread_mutex_unlock(&h->lock);
        return;
    }
    uint16_t fmt = (uint16_t)hda_get(h, base + HDA_SD_FMT, 2);
    unsigned frame = 2 * ((fmt & 0xF) + 1);
    size_t due = st->vs ? vaudio_stream_frames_due(st->vs) : (size_t)(48 * HDA_TICK_MS);
    size_t bytes = due * frame;
    unsigned lvi = hda_get(h, base + HDA_SD_LVI, 2) & 0xFF;
    uint32_t cbl = hda_get(h, base + HDA_SD_CBL, 4), lpib = hda_get(h, base + HDA_SD_LPIB, 4);
    uint64_t bdl = addr64(h, base + HDA_SD_BDPL, base + HDA_SD_BDPU);
    unsigned entries_seen = 0;
    while (bytes) {
        struct { uint64_t addr; uint32_t len, flags; } e;
        if (guest_mem_read(h->mem, bdl + 16ULL * st->bde, &e, 16) < 0) {
            stream_error(st);
            break;
        }
        uint64_t addr = le64toh(e.addr);
        uint32_t elen = le32toh(e.len);
        uint8_t *p = elen ? guest_mem_ptr(h->mem, addr, elen) : NULL;
        /* An empty or out-of-RAM entry, or one longer than the whole buffer:
         * a broken list; more entries per tick than the list holds: a list
         * whose entries cannot move anything useful. */
        if (!p || elen > cbl || ++entries_seen > 2 * HDA_BDL_MAX) {
            stream_error(st);
            break;
        }
        size_t k = elen - st->bde_off < bytes ? elen - st->bde_off : bytes;
        stream_move(st, p + st->bde_off, k, frame);
        st->bde_off += (uint32_t)k;
        lpib += (uint32_t)k;
        bytes -= k;
        if (st->bde_off == elen) {
            if (le32toh(e.flags) & 1)
                *R(h, base + HDA_SD_STS) |= HDA_SD_STS_BCIS;
            st->bde_off = 0;
            if (st->bde >= lvi) {
                st->bde = 0;
                lpib = 0;
            } else {
                st->bde++;
            }
        }
        if (lpib >= cbl)
            lpib = 0;
    }
    set(h, base + HDA_SD_LPIB, lpib, 4);
    uint32_t dpl = hda_get(h, HDA_DPLBASE, 4);
    if (dpl & 1) {
        uint64_t pos = ((uint64_t)hda_get(h, HDA_DPUBASE, 4) << 32 | (dpl & ~0x7Fu)) + 8ULL * n;
        uint32_t le = htole32(lpib);
        guest_mem_write(h->mem, pos, &le, 4);
    }
    hda_update_irq(h);
    pthread_mutex_unlock(&h->lock);
}

static void stream_tick_cb(void *opaque, uint32_t events)
{
    struct hda_stream *st = opaque;
    uint64_t n;
    if (read(st->timerfd, &n, sizeof(n)) == sizeof(n))
        hda_stream_tick(st->h, st->n);
}

static void stream_reset(struct hda *h, unsigned n)
{
    hda_stream_stop(&h->streams[n]);
    unsigned base = HDA_SD(n);
    memset(R(h, base), 0, 0x20);
    set(h, base + HDA_SD_FIFOS, n == 0 ? 0x1D : 0x3C, 2);   /* FIFO sizes as on ICH6 */
    *R(h, base + HDA_SD_STS) = 0x20;                       /* FIFO ready */
}

/* ---- registers ---- */

static void hda_reset(struct hda *h)
{
    for (unsigned n = 0; n < HDA_STREAMS; n++)
        stream_reset(h, n);
    memset(h->state.regs, 0, 0x80);
    set(h, HDA_GCAP, HDA_GCAP_VALUE, 2);
    h->state.regs[0x03] = 1;                               /* VMAJ 1.0 */
    set(h, 0x04, 0x3C, 2);                                 /* OUTPAY */
    set(h, 0x06, 0x1D, 2);                                 /* INPAY */
    *R(h, HDA_CORBSIZE) = 0x42;                            /* 256 entries, only size */
    *R(h, HDA_RIRBSIZE) = 0x42;
    hda_codec_reset(&h->state.codec);
    hda_update_irq(h);
}

static void hda_init_masks(struct hda *h)
{
    mask(h, HDA_GCTL, 0x103, 0, 4);
    mask(h, 0x0C, 0x7FFF, 0, 2);                           /* WAKEEN */
    mask(h, HDA_STATESTS, 0, 0x7FFF, 2);
    mask(h, HDA_INTCTL, 0xC0000000u | ((1u << HDA_STREAMS) - 1), 0, 4);
    mask(h, HDA_CORBLBASE, 0xFFFFFF80u, 0, 4);
    mask(h, HDA_CORBUBASE, 0xFFFFFFFFu, 0, 4);
    mask(h, HDA_CORBWP, 0xFF, 0, 2);
    mask(h, HDA_CORBRP, 0x8000, 0, 2);
    mask(h, HDA_CORBCTL, 0x03, 0, 1);
    mask(h, 0x4D, 0, 0x01, 1);                             /* CORBSTS */
    mask(h, HDA_RIRBLBASE, 0xFFFFFF80u, 0, 4);
    mask(h, HDA_RIRBUBASE, 0xFFFFFFFFu, 0, 4);
    mask(h, HDA_RINTCNT, 0xFF, 0, 2);
    mask(h, HDA_RIRBCTL, 0x07, 0, 1);
    mask(h, HDA_RIRBSTS, 0, 0x05, 1);
    mask(h, HDA_ICOI, 0xFFFFFFFFu, 0, 4);
    mask(h, HDA_ICIS, 0x01, 0x02, 2);
    mask(h, HDA_DPLBASE, 0xFFFFFF81u, 0, 4);
    mask(h, HDA_DPUBASE, 0xFFFFFFFFu, 0, 4);
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        unsigned b = HDA_SD(n);
        mask(h, b + HDA_SD_CTL, 0xFF001F, 0, 3);
        mask(h, b + HDA_SD_STS, 0, 0x1C, 1);
        mask(h, b + HDA_SD_CBL, 0xFFFFFFFFu, 0, 4);
        mask(h, b + HDA_SD_LVI, 0xFF, 0, 2);
        mask(h, b + HDA_SD_FMT, 0x7F7F, 0, 2);
        mask(h, b + HDA_SD_BDPL, 0xFFFFFF80u, 0, 4);
        mask(h, b + HDA_SD_BDPU, 0xFFFFFFFFu, 0, 4);
    }
}

uint64_t hda_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hda_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct hda *h = opaque;
    if (offset + size > HDA_REGS_SIZE || size > 4)
        return 0;
    pthread_mutex_lock(&h->lock);
    set(h, HDA_INTSTS, hda_intsts(h), 4);
    set(h, HDA_WALCLK, (uint32_t)((hda_now_ns() - h->wall_start_ns) * 24 / 1000), 4);  /* 24 MHz */
    uint64_t v = hda_get(h, (unsigned)offset, size);
    pthread_mutex_unlock(&h->lock);
    return v;
}

void hda_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct hda *h = opaque;
    if (offset + size > HDA_REGS_SIZE || size > 4)
        return;
    pthread_mutex_lock(&h->lock);
    unsigned off = (unsigned)offset;
    bool in_reset = !(*R(h, HDA_GCTL) & 1);
    uint8_t old_ctl[HDA_STREAMS];
    for (unsigned n = 0; n < HDA_STREAMS; n++)
        old_ctl[n] = *R(h, HDA_SD(n) + HDA_SD_CTL);
    for (unsigned i = 0; i < size; i++) {
        unsigned o = off + i;
        uint8_t b = (uint8_t)(value >> (8 * i));
        /* In controller reset only GCTL itself can be written. */
        if (in_reset && (o < HDA_GCTL || o >= HDA_GCTL + 4))
            continue;
        h->state.regs[o] = (uint8_t)((h->state.regs[o] & ~h->wmask[o]) | (b & h->wmask[o]));
        h->state.regs[o] &= (uint8_t)~(b & h->w1c[o]);
    }
#define TOUCHES(r, len) (off < (r) + (len) && off + size > (r))
    if (TOUCHES(HDA_GCTL, 1)) {
        bool crst = *R(h, HDA_GCTL) & 1;
        if (!crst) {
            hda_reset(h);            /* keeps GCTL at 0: in reset */
        } else if (in_reset) {
            set(h, HDA_STATESTS, 1, 2);   /* codec 0 announced itself */
        }
    }
    if (TOUCHES(HDA_CORBRP, 2) && (value >> (8 * (HDA_CORBRP + 1 - off)) & 0x80))
        set(h, HDA_CORBRP, 0x8000, 2);    /* reset: RP 0, bit reads back set until cleared */
    if (TOUCHES(HDA_RIRBWP, 2) && off <= HDA_RIRBWP + 1 && (value >> (8 * (HDA_RIRBWP + 1 - off)) & 0x80))
        set(h, HDA_RIRBWP, 0, 2);
    if (TOUCHES(HDA_CORBWP, 2) || TOUCHES(HDA_CORBCTL, 1) || TOUCHES(HDA_RIRBCTL, 1))
        hda_corb_run(h);
    if (TOUCHES(HDA_ICIS, 1) && (value >> (8 * (HDA_ICIS - off)) & 1))
        hda_immediate_command(h);
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        unsigned base = HDA_SD(n);
        if (!TOUCHES(base + HDA_SD_CTL, 1))
            continue;
        uint8_t ctl = *R(h, base + HDA_SD_CTL);
        if (ctl & HDA_SD_CTL_SRST) {
            if (!(old_ctl[n] & HDA_SD_CTL_SRST)) {
                uint32_t tag = hda_get(h, base, 3) & 0xFF0000;
                stream_reset(h, n);
                set(h, base, tag | HDA_SD_CTL_SRST, 3);
            }
        } else if ((ctl & HDA_SD_CTL_RUN) && !(old_ctl[n] & HDA_SD_CTL_RUN)) {
            stream_start(&h->streams[n]);
        } else if (!(ctl & HDA_SD_CTL_RUN) && (old_ctl[n] & HDA_SD_CTL_RUN)) {
            hda_stream_stop(&h->streams[n]);
        }
    }
#undef TOUCHES
    hda_update_irq(h);
    pthread_mutex_unlock(&h->lock);
}

static const struct io_ops hda_mmio_ops = { .read = hda_mmio_read, .write = hda_mmio_write };

struct hda *hda_new(const struct guest_mem *mem, struct vaudio *va, struct event_loop *loop)
{
    struct hda *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->mem = mem;
    h->va = va;
    h->loop = loop;
    h->state.version = HDA_STATE_VERSION;
    h->wall_start_ns = hda_now_ns();
    pthread_mutex_init(&h->lock, NULL);
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        struct hda_stream *st = &h->streams[n];
        st->h = h;
        st->n = n;
        st->timerfd = -1;
        if (loop && (st->timerfd = event_loop_add_timer(loop, stream_tick_cb, st)) < 0) {
            st->timerfd = -1;
            hda_free(h);
            return NULL;
        }
    }
    hda_init_masks(h);
    hda_reset(h);
    return h;
}

void hda_free(struct hda *h)
{
    if (!h)
        return;
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        hda_stream_stop(&h->streams[n]);
        if (h->streams[n].timerfd >= 0) {
            if (h->loop)
                event_loop_del(h->loop, h->streams[n].timerfd);
            close(h->streams[n].timerfd);
        }
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int hda_create(struct vm *vm, struct vaudio *va)
{
    struct hda *h = hda_new(&vm->mem, va, vm->loop);
    if (!h)
        return -ENOMEM;
    pci_device_init(&h->pci, "hda", 0x8086, 0x2668, 0x040300, 1, 0x1AF4, 0x1100);
    pci_device_set_bar(&h->pci, 0, HDA_MMIO_SIZE, 0, &hda_mmio_ops, h);
    pci_device_set_intx(&h->pci, 1);
    h->pci.opaque = h;
    h->pci_owned = true;
    int r = pci_bus_add(vm->pci, &h->pci);
    if (r < 0) {
        hda_free(h);
        return r;
    }
    return hda_register_state(vm, h);   /* the PCI bus holds it now */
}
