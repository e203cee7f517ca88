/* HDA state for live snapshots: the registers (CORB/RIRB pointers, stream
 * descriptors with their position in buffer), the codec's settings, where
 * each stream engine is in its buffer descriptor list (and a frame split
 * across two descriptors), and the wall clock. Not saved: the host side.
 * A stream that was running gets a new vaudio stream and its clock again,
 * and carries on from the saved position. */
#include "hda_int.h"
#include "core/state.h"

#include <errno.h>
#include <string.h>

long hda_state_save(struct hda *h, void *buf, size_t max)
{
    struct hda_saved s;
    memset(&s, 0, sizeof(s));
    s.version = HDA_SAVED_VERSION;
    pthread_mutex_lock(&h->lock);
    memcpy(s.regs, h->state.regs, sizeof(s.regs));
    s.codec = h->state.codec;
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        const struct hda_stream *st = &h->streams[n];
        s.streams[n] = (struct hda_saved_stream){ .bde = st->bde, .bde_off = st->bde_off,
                                                  .carry_len = st->carry_len };
        memcpy(s.streams[n].carry, st->carry, sizeof(st->carry));
    }
    s.wallclock_ns = hda_now_ns() - h->wall_start_ns;
    pthread_mutex_unlock(&h->lock);
    return state_save_struct(buf, max, &s, sizeof(s));
}

/* The stream engine's own bookkeeping must fit its registers: a running
 * stream one this controller could have started, a descriptor inside the
 * list, a split frame shorter than a frame. */
static bool stream_ok(const struct hda *h, const struct hda_saved *s, unsigned n)
{
    const struct hda_saved_stream *ss = &s->streams[n];
    unsigned base = HDA_SD(n);
    if (ss->bde >= HDA_BDL_MAX || ss->carry_len >= sizeof(ss->carry))
        return false;
    if (!(s->regs[base + HDA_SD_CTL] & HDA_SD_CTL_RUN))
        return true;
    unsigned frame = 2 * ((hda_regs_get(s->regs, base + HDA_SD_FMT, 2) & 0xF) + 1);
    return hda_stream_startable(h->mem, s->regs, n) && ss->bde <= (hda_regs_get(s->regs, base + HDA_SD_LVI, 2) & 0xFF) &&
           ss->bde_off < hda_regs_get(s->regs, base + HDA_SD_CBL, 4) && ss->carry_len < frame;
}

static int check(const struct hda *h, const struct hda_saved *s)
{
    if (s->version != HDA_SAVED_VERSION)
        return -EINVAL;
    /* The read-only identity: another controller's state does not fit. */
    if (hda_regs_get(s->regs, HDA_GCAP, 2) != hda_get(h, HDA_GCAP, 2) ||
        s->regs[HDA_CORBSIZE] != h->state.regs[HDA_CORBSIZE] || s->regs[HDA_RIRBSIZE] != h->state.regs[HDA_RIRBSIZE])
        return -EINVAL;
    for (unsigned n = 0; n < HDA_STREAMS; n++)
        if (!stream_ok(h, s, n))
            return -EINVAL;
    for (unsigned i = 0; i < HDA_CODEC_NODES; i++)
        if (s->codec.power[i] > 3)
            return -EINVAL;
    return 0;
}

int hda_state_load(struct hda *h, const void *buf, size_t len)
{
    struct hda_saved s;
    if (state_check_size(len, sizeof(s)) < 0)
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    pthread_mutex_lock(&h->lock);
    int r = check(h, &s);
    if (r < 0) {
        pthread_mutex_unlock(&h->lock);
        return r;
    }
    for (unsigned n = 0; n < HDA_STREAMS; n++)
        hda_stream_stop(&h->streams[n]);
    memcpy(h->state.regs, s.regs, sizeof(s.regs));
    h->state.codec = s.codec;
    h->wall_start_ns = hda_now_ns() - s.wallclock_ns;
    for (unsigned n = 0; n < HDA_STREAMS; n++) {
        struct hda_stream *st = &h->streams[n];
        st->bde = s.streams[n].bde;
        st->bde_off = s.streams[n].bde_off;
        st->carry_len = s.streams[n].carry_len;
        memcpy(st->carry, s.streams[n].carry, sizeof(st->carry));
        if (s.regs[HDA_SD(n) + HDA_SD_CTL] & HDA_SD_CTL_RUN)
            hda_stream_run(st);
    }
    hda_update_irq(h);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static long save_cb(void *opaque, void *buf, size_t max) { return hda_state_save(opaque, buf, max); }
static int load_cb(void *opaque, const void *buf, size_t len) { return hda_state_load(opaque, buf, len); }

static const struct state_ops hda_state_ops = {
    .version = HDA_SAVED_VERSION, .save = save_cb, .load = load_cb,
};

int hda_register_state(struct vm *vm, struct hda *h)
{
    return vm_state_register(vm, "hda", &hda_state_ops, h);
}
