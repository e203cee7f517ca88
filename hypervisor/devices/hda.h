/* Intel High Definition Audio controller (ICH6, 8086:2668) with one input
 * and one output stream and the codec of hda_codec.c; internals shared with
 * the unit tests, which drive the registers on fake guest memory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HDA_MMIO_SIZE   0x4000
#define HDA_REGS_SIZE   0xC0      /* global registers + 2 stream descriptors */
#define HDA_STREAMS     2         /* 0: input (mic), 1: output (line out) */

/* Register offsets (HDA spec 3.3) */
#define HDA_GCAP        0x00
#define HDA_GCTL        0x08
#define HDA_STATESTS    0x0E
#define HDA_INTCTL      0x20
#define HDA_INTSTS      0x24
#define HDA_WALCLK      0x30
#define HDA_CORBLBASE   0x40
#define HDA_CORBUBASE   0x44
#define HDA_CORBWP      0x48
#define HDA_CORBRP      0x4A
#define HDA_CORBCTL     0x4C
#define HDA_CORBSIZE    0x4E
#define HDA_RIRBLBASE   0x50
#define HDA_RIRBUBASE   0x54
#define HDA_RIRBWP      0x58
#define HDA_RINTCNT     0x5A
#define HDA_RIRBCTL     0x5C
#define HDA_RIRBSTS     0x5D
#define HDA_RIRBSIZE    0x5E
#define HDA_ICOI        0x60
#define HDA_ICII        0x64
#define HDA_ICIS        0x68
#define HDA_DPLBASE     0x70
#define HDA_DPUBASE     0x74
#define HDA_SD(n)       (0x80 + 0x20 * (n))
#define HDA_SD_CTL      0x00      /* 3 bytes, then STS */
#define HDA_SD_STS      0x03
#define HDA_SD_LPIB     0x04
#define HDA_SD_CBL      0x08
#define HDA_SD_LVI      0x0C
#define HDA_SD_FIFOS    0x10
#define HDA_SD_FMT      0x12
#define HDA_SD_BDPL     0x18
#define HDA_SD_BDPU     0x1C

#define HDA_SD_CTL_SRST 0x01
#define HDA_SD_CTL_RUN  0x02
#define HDA_SD_CTL_IOCE 0x04
#define HDA_SD_CTL_DEIE 0x10
#define HDA_SD_STS_BCIS 0x04
#define HDA_SD_STS_DESE 0x10

struct hda;
struct vm;
struct vaudio;
struct guest_mem;
struct event_loop;

/* Builds the controller without PCI (unit tests): @loop may be NULL, then
 * streams move data only when hda_stream_tick() is called. */
struct hda *hda_new(const struct guest_mem *mem, struct vaudio *va, struct event_loop *loop);
void hda_free(struct hda *h);
uint64_t hda_mmio_read(void *opaque, uint64_t offset, unsigned size);
void hda_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);
/* Moves the frames due on stream @n now (what the stream's timer does). */
void hda_stream_tick(struct hda *h, unsigned n);
/* Whether the controller asserts its interrupt line. */
bool hda_irq_level(struct hda *h);
/* Live snapshots ("hda" in the state registry): save() writes the state to
 * @buf (-ENOSPC below its size); load() refuses an inconsistent state with
 * -EINVAL and changes nothing, else applies it, reopens the host streams of
 * running streams (which go on from the saved position) and re-drives INTx. */
long hda_state_save(struct hda *h, void *buf, size_t max);
int hda_state_load(struct hda *h, const void *buf, size_t len);
