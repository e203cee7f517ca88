/* Between hda.c (registers, codec link, stream engines) and hda_state.c
 * (live snapshots); the unit tests forge saved states with it. */
#pragma once
#include "hda.h"
#include "hda_codec.h"
#include "pci/pci.h"

#include <pthread.h>
#include <stdbool.h>

struct guest_mem;

#define HDA_TICK_MS        5
#define HDA_GCAP_VALUE     0x1101          /* 1 output, 1 input stream, 64-bit OK */
#define HDA_CORB_ENTRIES   256
#define HDA_RIRB_ENTRIES   256
#define HDA_BDL_MAX        256
#define HDA_FMT_SUPPORTED(f) (((f) & 0x7F70) == 0x0010)   /* 48 kHz, 16-bit */

#define HDA_STATE_VERSION  1
struct hda_state {
    uint32_t version;
    uint8_t regs[HDA_REGS_SIZE];
    struct hda_codec codec;
};

struct hda_stream {
    struct hda *h;
    unsigned n;
    int timerfd;
    struct vaudio_stream *vs;
    unsigned bde;                    /* current descriptor */
    uint32_t bde_off;                /* bytes done in it */
    uint8_t carry[4];                /* a frame split across descriptors */
    unsigned carry_len;
};

struct hda {
    struct pci_device pci;
    const struct guest_mem *mem;
    struct vaudio *va;
    struct event_loop *loop;
    pthread_mutex_t lock;
    struct hda_state state;          /* regs + codec: what save/restore carries */
    uint8_t wmask[HDA_REGS_SIZE], w1c[HDA_REGS_SIZE];
    struct hda_stream streams[HDA_STREAMS];
    uint64_t wall_start_ns;
    bool pci_owned;
};

static inline uint32_t hda_regs_get(const uint8_t *regs, unsigned off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)regs[off + i] << (8 * i);
    return v;
}
static inline uint32_t hda_get(const struct hda *h, unsigned off, unsigned size)
{
    return hda_regs_get(h->state.regs, off, size);
}

/* Lock held for all of these. */
void hda_update_irq(struct hda *h);
/* Whether stream @n's registers in @regs describe something it can play or record. */
bool hda_stream_startable(const struct guest_mem *mem, const uint8_t *regs, unsigned n);
uint64_t hda_now_ns(void);
/* Opens the stream's vaudio stream and starts its clock, from wherever its
 * position is (a fresh start or a restored snapshot). */
void hda_stream_run(struct hda_stream *st);
void hda_stream_stop(struct hda_stream *st);

/* hda_state.c */
#define HDA_SAVED_VERSION 1
struct hda_saved_stream {
    uint32_t bde, bde_off;
    uint8_t carry[4];
    uint32_t carry_len;
};
struct hda_saved {
    uint32_t version;
    uint8_t regs[HDA_REGS_SIZE];
    struct hda_codec codec;
    struct hda_saved_stream streams[HDA_STREAMS];
    uint64_t wallclock_ns;           /* WALCLK goes on from here */
};
int hda_register_state(struct vm *vm, struct hda *h);
