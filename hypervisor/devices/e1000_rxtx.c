/* e1000 descriptor rings. Transmit walks TDH..TDT gathering a frame from
 * legacy or data descriptors until EOP, applies the last context
 * descriptor's checksum / TCP segmentation offload (net_offload.c) and
 * hands the frame to the backend with the lock dropped (slirp may answer
 * at once, into receive). Receive writes a frame, padded to the Ethernet
 * minimum and followed by its FCS as the 82540 does, across as many
 * receive buffers as it needs.
 *
 * Rings and buffers are guest input: a ring or buffer outside RAM, or a
 * head/tail past the ring's end, stops the device (e1000_fail) until the
 * guest resets it; an oversized or malformed frame is dropped and counted. */
#include "e1000_int.h"
#include "core/memory.h"
#include "net/net_offload.h"

#include <endian.h>
#include <string.h>

#define ETH_MIN_FRAME    60          /* without FCS */
#define FCS_LEN          4

struct ring {
    uint64_t base;
    uint32_t n, head, tail;
};

/* The ring @base_reg describes, or false (device stopped) when it is unusable. */
static bool ring_get(struct e1000 *e, unsigned base_reg, struct ring *rg)
{
    rg->base = (uint64_t)*e1000_reg(e, base_reg + 4) << 32 | *e1000_reg(e, base_reg);
    rg->n = *e1000_reg(e, base_reg + 8) / 16;
    rg->head = *e1000_reg(e, base_reg + 0x10);
    rg->tail = *e1000_reg(e, base_reg + 0x18);
    if (rg->n == 0)
        return false;                /* no ring yet: nothing to do, not an error */
    if (!guest_mem_ptr(e->mem, rg->base, 16ULL * rg->n) || rg->head >= rg->n || rg->tail >= rg->n) {
        e1000_fail(e, "descriptor ring outside RAM or head/tail past its end");
        return false;
    }
    return true;
}

static void stat_add(struct e1000 *e, unsigned pkts_reg, unsigned total_reg, unsigned octets_reg, size_t len)
{
    (*e1000_reg(e, pkts_reg))++;
    (*e1000_reg(e, total_reg))++;
    uint64_t o = (uint64_t)*e1000_reg(e, octets_reg + 4) << 32 | *e1000_reg(e, octets_reg);
    o += len;
    *e1000_reg(e, octets_reg) = (uint32_t)o;
    *e1000_reg(e, octets_reg + 4) = (uint32_t)(o >> 32);
}

/* ---- receive ---- */

static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    uint32_t c = 0xFFFFFFFFu;
    while (len--)
        c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

/* Unicast to one of our receive addresses, broadcast (BAM), multicast in
 * the table (the hash RCTL.MO selects), or promiscuous modes. */
static bool rx_accept(struct e1000 *e, const uint8_t *f)
{
    uint32_t rctl = *e1000_reg(e, E1000_RCTL);
    static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    if (!memcmp(f, bcast, 6))
        return rctl & E1000_RCTL_BAM;
    if (f[0] & 1) {
        if (rctl & E1000_RCTL_MPE)
            return true;
        unsigned mo = (rctl >> 12) & 3;
        unsigned hash = ((f[4] >> (4 - mo)) | (unsigned)f[5] << (4 + mo)) & 0xFFF;
        return *e1000_reg(e, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31) & 1;
    }
    if (rctl & E1000_RCTL_UPE)
        return true;
    for (unsigned i = 0; i < 16; i++) {
        uint32_t lo = *e1000_reg(e, E1000_RAL0 + 8 * i), hi = *e1000_reg(e, E1000_RAH0 + 8 * i);
        uint8_t ra[6] = { (uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16), (uint8_t)(lo >> 24),
                          (uint8_t)hi, (uint8_t)(hi >> 8) };
        if ((hi & E1000_RAH_AV) && !memcmp(f, ra, 6))
            return true;
    }
    return false;
}

static uint32_t rx_buffer_size(uint32_t rctl)
{
    unsigned bsize = (rctl >> 16) & 3;
    if (rctl & (1u << 25))           /* BSEX: 16384, 8192, 4096 */
        return bsize ? 32768u >> bsize : 2048;
    return 2048u >> bsize;
}

bool e1000_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct e1000 *e = opaque;
    bool taken = true;
    pthread_mutex_lock(&e->lock);
    uint32_t rctl = *e1000_reg(e, E1000_RCTL);
    struct ring rg;
    if (e->state.failed || !e->state.link_up || !(rctl & E1000_RCTL_EN) || !e1000_dma_allowed(e) ||
        len < 14 || len > NET_MAX_FRAME || !rx_accept(e, frame) || !ring_get(e, E1000_RDBAL, &rg))
        goto out;                    /* not for us, or nobody listening: lost, as on a wire */

    uint8_t *f = e->rx_buf;
    uint16_t vlan = 0;
    uint8_t status = E1000_RXD_STA_IXSM;   /* the guest verifies checksums itself */
    size_t flen = len;
    uint32_t vet = *e1000_reg(e, E1000_VET) & 0xFFFF;
    if ((*e1000_reg(e, E1000_CTRL) & E1000_CTRL_VME) && len >= 18 && (uint32_t)(frame[12] << 8 | frame[13]) == vet) {
        vlan = (uint16_t)(frame[14] << 8 | frame[15]);
        status |= E1000_RXD_STA_VP;
        memcpy(f, frame, 12);
        memcpy(f + 12, frame + 16, len - 16);
        flen = len - 4;
    } else {
        memcpy(f, frame, len);
    }
    if (flen < ETH_MIN_FRAME) {
        memset(f + flen, 0, ETH_MIN_FRAME - flen);
        flen = ETH_MIN_FRAME;
    }
    if (!(rctl & E1000_RCTL_SECRC)) {
        uint32_t fcs = htole32(crc32_eth(f, flen));
        memcpy(f + flen, &fcs, FCS_LEN);
        flen += FCS_LEN;
    }

    uint32_t bufsz = rx_buffer_size(rctl);
    uint32_t need = (uint32_t)((flen + bufsz - 1) / bufsz);
    uint32_t avail = (rg.tail + rg.n - rg.head) % rg.n;
    if (need >= rg.n)
        goto out;                    /* could never fit this ring: dropped, not held */
    if (avail < need) {
        taken = false;               /* no room now: the backend holds it for RDT */
        goto out;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < need; i++) {
        uint64_t da = rg.base + 16ULL * rg.head;
        uint8_t d[16];
        guest_mem_read(e->mem, da, d, 16);
        uint64_t addr;
        memcpy(&addr, d, 8);
        size_t k = flen - off < bufsz ? flen - off : bufsz;
        if (guest_mem_write(e->mem, le64toh(addr), f + off, k) < 0) {
            e1000_fail(e, "receive buffer outside RAM");
            goto out;
        }
        off += k;
        uint16_t l16 = htole16((uint16_t)k), sp = htole16(vlan);
        memcpy(d + 8, &l16, 2);
        memset(d + 10, 0, 2);        /* packet checksum: not offered */
        d[12] = (uint8_t)(status | E1000_RXD_STA_DD | (off == flen ? E1000_RXD_STA_EOP : 0));
        d[13] = 0;                   /* no errors */
        memcpy(d + 14, &sp, 2);
        guest_mem_write(e->mem, da, d, 16);
        rg.head = (rg.head + 1) % rg.n;
    }
    *e1000_reg(e, E1000_RDH) = rg.head;
    stat_add(e, E1000_GPRC, E1000_TPR, E1000_GORCL, flen);
    uint32_t icr = E1000_ICR_RXT0;
    unsigned rdmts = (rctl >> 8) & 3;
    if (rdmts < 3 && avail - need <= rg.n >> (rdmts + 1))
        icr |= E1000_ICR_RXDMT0;     /* running low on buffers */
    e1000_set_icr(e, icr);
out:
    pthread_mutex_unlock(&e->lock);
    return taken;
}

/* ---- transmit ---- */

/* Inserts the ones'-complement sum of [start, end] (end 0: to the frame's
 * end) at @at, as the IC / IXSM / TXSM requests ask. */
static bool tx_insert_csum(uint8_t *f, size_t len, unsigned start, unsigned at, unsigned end)
{
    size_t stop = end ? (size_t)end + 1 : len;
    if (stop > len || start >= stop || (size_t)at + 2 > len)
        return false;
    uint16_t c = (uint16_t)~net_csum_fold(net_csum_add(0, f + start, stop - start));
    f[at] = (uint8_t)(c >> 8);
    f[at + 1] = (uint8_t)c;
    return true;
}

static void tx_emit(void *opaque, const uint8_t *frame, size_t len)
{
    struct e1000 *e = opaque;
    net_backend_send(e->nb, frame, len);
}

/* Applies the offloads a finished frame asked for, then sends it. Lock NOT held. */
static void tx_send(struct e1000 *e, size_t len, bool tse, bool legacy_ic, uint8_t cso, uint8_t css,
                    bool vle, uint16_t vlan, uint16_t vet, const struct e1000_tx_ctx *ctx)
{
    uint8_t *f = e->tx_buf;
    bool ok = true;
    if (!tse && legacy_ic)
        ok = tx_insert_csum(f, len, css, cso, 0);
    if (!tse && (e->tx_popts & E1000_TXD_POPTS_IXSM))
        ok = ok && tx_insert_csum(f, len, ctx->ipcss, ctx->ipcso, ctx->ipcse);
    if (!tse && (e->tx_popts & E1000_TXD_POPTS_TXSM))
        ok = ok && tx_insert_csum(f, len, ctx->tucss, ctx->tucso, ctx->tucse);
    if (ok && vle && len + 4 <= NET_MAX_FRAME) {
        memmove(f + 16, f + 12, len - 12);
        f[12] = (uint8_t)(vet >> 8);
        f[13] = (uint8_t)vet;
        f[14] = (uint8_t)(vlan >> 8);
        f[15] = (uint8_t)vlan;
        len += 4;
    }
    struct net_offload o = { 0 };
    if (tse) {
        if (!(ctx->tucmd & E1000_TUCMD_TCP))
            ok = false;              /* UDP segmentation: not an 82540 feature */
        o.gso_type = (ctx->tucmd & E1000_TUCMD_IP) ? NET_GSO_TCPV4 : NET_GSO_TCPV6;
        o.gso_size = ctx->mss;
    }
    if (!ok || !e->nb || net_offload_emit(&o, f, len, e->seg_buf, tx_emit, e) < 0)
        return;                      /* dropped: the guest's stack retransmits or gives up */
    pthread_mutex_lock(&e->lock);
    stat_add(e, E1000_GPTC, E1000_TPT, E1000_GOTCL, len);
    pthread_mutex_unlock(&e->lock);
}

void e1000_transmit(struct e1000 *e)
{
    unsigned frames = 0;
    pthread_mutex_lock(&e->lock);
    struct ring rg;
    if (e->state.failed || !(*e1000_reg(e, E1000_TCTL) & E1000_TCTL_EN) || !e1000_dma_allowed(e) ||
        !ring_get(e, E1000_TDBAL, &rg)) {
        pthread_mutex_unlock(&e->lock);
        return;
    }
    uint32_t icr = 0, seen = 0;
    /* At most one lap: a tail the guest keeps moving is picked up next run. */
    for (; rg.head != rg.tail && seen < rg.n && frames < E1000_TX_BUDGET; seen++) {
        uint64_t da = rg.base + 16ULL * rg.head;
        uint8_t d[16];
        guest_mem_read(e->mem, da, d, 16);
        uint8_t cmd = d[11];
        bool dext = cmd & E1000_TXD_CMD_DEXT;
        unsigned dtyp = d[10] >> 4;
        rg.head = (rg.head + 1) % rg.n;
        if (dext && dtyp == 0) {     /* context descriptor */
            struct e1000_tx_ctx *c = &e->state.ctx;
            c->ipcss = d[0];
            c->ipcso = d[1];
            c->ipcse = (uint16_t)(d[2] | d[3] << 8);
            c->tucss = d[4];
            c->tucso = d[5];
            c->tucse = (uint16_t)(d[6] | d[7] << 8);
            c->paylen = (uint32_t)(d[8] | d[9] << 8 | (d[10] & 0xF) << 16);
            c->tucmd = cmd;
            c->hdr_len = d[13];
            c->mss = (uint16_t)(d[14] | d[15] << 8);
        } else if (dext && dtyp != 1) {
            e->tx_bad = true;        /* unknown descriptor type: drop the frame it is part of */
        } else {
            uint64_t addr;
            memcpy(&addr, d, 8);
            addr = le64toh(addr);
            size_t blen = dext ? (size_t)(d[8] | d[9] << 8 | (d[10] & 0xF) << 16) : (size_t)(d[8] | d[9] << 8);
            if (e->tx_len == 0 && dext)
                e->tx_popts = d[13];  /* options come from a frame's first descriptor */
            if (e->tx_len + blen > NET_MAX_FRAME - 4) {
                e->tx_bad = true;
            } else if (blen && !e->tx_bad) {
                if (guest_mem_read(e->mem, addr, e->tx_buf + e->tx_len, blen) < 0) {
                    e1000_fail(e, "transmit buffer outside RAM");
                    break;
                }
                e->tx_len += blen;
            }
            if (cmd & E1000_TXD_CMD_EOP) {
                size_t len = e->tx_len;
                bool bad = e->tx_bad || !e->state.link_up, tse = dext && (cmd & E1000_TXD_CMD_TSE);
                struct e1000_tx_ctx ctx = e->state.ctx;
                uint16_t vlan = (uint16_t)(d[14] | d[15] << 8), vet = (uint16_t)*e1000_reg(e, E1000_VET);
                bool vle = (cmd & E1000_TXD_CMD_VLE) && (*e1000_reg(e, E1000_CTRL) & E1000_CTRL_VME);
                e->tx_len = 0;
                e->tx_bad = false;
                if (!dext)
                    e->tx_popts = 0;
                if (cmd & E1000_TXD_CMD_RS) {
                    d[12] |= E1000_TXD_STA_DD;
                    guest_mem_write(e->mem, da, d, 16);
                    icr |= E1000_ICR_TXDW;
                }
                *e1000_reg(e, E1000_TDH) = rg.head;
                pthread_mutex_unlock(&e->lock);
                if (!bad)
                    tx_send(e, len, tse, !dext && (cmd & E1000_TXD_CMD_IC), d[10], d[13], vle, vlan, vet, &ctx);
                frames++;
                pthread_mutex_lock(&e->lock);
                if (e->state.failed || !ring_get(e, E1000_TDBAL, &rg))
                    break;           /* reset or reprogrammed meanwhile */
                continue;
            }
        }
        if (cmd & E1000_TXD_CMD_RS) {
            d[12] |= E1000_TXD_STA_DD;
            guest_mem_write(e->mem, da, d, 16);
            icr |= E1000_ICR_TXDW;
        }
        *e1000_reg(e, E1000_TDH) = rg.head;
    }
    if (seen && rg.head == rg.tail)
        icr |= E1000_ICR_TXQE;
    if (rg.head != rg.tail && !e->state.failed)
        e1000_schedule_tx(e);        /* budget spent: the rest after the other ready fds */
    if (icr)
        e1000_set_icr(e, icr);
    pthread_mutex_unlock(&e->lock);
}
