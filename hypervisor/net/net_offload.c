#include "net_offload.h"
#include "net.h"

#include <errno.h>
#include <string.h>

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_VLAN 0x8100
#define IPPROTO_TCP_ 6
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = sum;
    for (; len >= 2; p += 2, len -= 2)
        s += get16(p);
    if (len)
        s += (uint32_t)p[0] << 8;
    while (s >> 32)
        s = (s & 0xFFFFFFFF) + (s >> 32);
    return (uint32_t)s;
}

uint16_t net_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

/* Where the headers of a TCP frame are. */
struct tcp_frame {
    size_t ip, tcp, payload;         /* offsets */
    bool v6;
};

static int parse_tcp(const uint8_t *f, size_t len, struct tcp_frame *t)
{
    size_t l2 = 14;
    if (len < l2)
        return -EINVAL;
    uint16_t type = get16(f + 12);
    if (type == ETH_P_VLAN) {
        l2 = 18;
        if (len < l2)
            return -EINVAL;
        type = get16(f + 16);
    }
    t->ip = l2;
    if (type == ETH_P_IPV4) {
        if (len < l2 + 20 || (f[l2] >> 4) != 4)
            return -EINVAL;
        size_t ihl = (size_t)(f[l2] & 15) * 4;
        if (ihl < 20 || f[l2 + 9] != IPPROTO_TCP_)
            return -EINVAL;
        t->tcp = l2 + ihl;
        t->v6 = false;
    } else if (type == ETH_P_IPV6) {
        /* Extension headers before TCP are not something Linux segments with TSO. */
        if (len < l2 + 40 || (f[l2] >> 4) != 6 || f[l2 + 6] != IPPROTO_TCP_)
            return -EINVAL;
        t->tcp = l2 + 40;
        t->v6 = true;
    } else {
        return -EINVAL;
    }
    if (len < t->tcp + 20)
        return -EINVAL;
    size_t thl = (size_t)(f[t->tcp + 12] >> 4) * 4;
    if (thl < 20 || len < t->tcp + thl)
        return -EINVAL;
    t->payload = t->tcp + thl;
    return 0;
}

/* Fills in the IP header checksum (v4) and the TCP checksum of one segment. */
static void finish_segment(uint8_t *f, size_t len, const struct tcp_frame *t)
{
    size_t tcp_len = len - t->tcp;
    uint32_t sum;
    if (t->v6) {
        put16(f + t->ip + 4, (uint16_t)tcp_len);
        sum = net_csum_add(0, f + t->ip + 8, 32);
    } else {
        size_t ihl = t->tcp - t->ip;
        put16(f + t->ip + 2, (uint16_t)(ihl + tcp_len));
        put16(f + t->ip + 10, 0);
        put16(f + t->ip + 10, (uint16_t)~net_csum_fold(net_csum_add(0, f + t->ip, ihl)));
        sum = net_csum_add(0, f + t->ip + 12, 8);
    }
    sum += IPPROTO_TCP_ + (uint32_t)tcp_len;
    put16(f + t->tcp + 16, 0);
    sum = net_csum_add(sum, f + t->tcp, tcp_len);
    put16(f + t->tcp + 16, (uint16_t)~net_csum_fold(sum));
}

static int segment(const struct net_offload *o, const uint8_t *f, size_t len, uint8_t *scratch,
                   net_emit_fn emit, void *opaque)
{
    struct tcp_frame t;
    if (parse_tcp(f, len, &t) < 0 || o->gso_size == 0)
        return -EINVAL;
    if ((o->gso_type == NET_GSO_TCPV6) != t.v6)
        return -EINVAL;
    size_t hdr = t.payload, mss = o->gso_size, data = len - hdr;
    if (hdr + mss > NET_MAX_FRAME || (!t.v6 && hdr - t.ip + mss > 0xFFFF))
        return -EINVAL;
    uint32_t seq = get32(f + t.tcp + 4);
    uint16_t id = t.v6 ? 0 : get16(f + t.ip + 4);
    uint8_t flags = f[t.tcp + 13];
    int n = 0;
    size_t off = 0;
    do {
        size_t chunk = data - off < mss ? data - off : mss;
        bool last = off + chunk >= data;
        memcpy(scratch, f, hdr);
        memcpy(scratch + hdr, f + hdr + off, chunk);
        put32(scratch + t.tcp + 4, seq + (uint32_t)off);
        uint8_t fl = flags;
        if (!last)
            fl &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (off)
            fl &= (uint8_t)~TCP_CWR;
        scratch[t.tcp + 13] = fl;
        if (!t.v6)
            put16(scratch + t.ip + 4, (uint16_t)(id + n));
        finish_segment(scratch, hdr + chunk, &t);
        emit(opaque, scratch, hdr + chunk);
        n++;
        off += chunk;
    } while (off < data);
    return n;
}

int net_offload_emit(const struct net_offload *o, uint8_t *frame, size_t len, uint8_t *scratch,
                     net_emit_fn emit, void *opaque)
{
    if (o->gso_type == NET_GSO_TCPV4 || o->gso_type == NET_GSO_TCPV6)
        return segment(o, frame, len, scratch, emit, opaque);
    if (o->gso_type != NET_GSO_NONE)
        return -EINVAL;
    if (o->needs_csum) {
        size_t start = o->csum_start, field = start + o->csum_offset;
        if (start >= len || field + 2 > len)
            return -EINVAL;
        /* The guest stored the pseudo-header sum in the field, so summing
         * from csum_start over everything gives the final value. */
        put16(frame + field, (uint16_t)~net_csum_fold(net_csum_add(0, frame + start, len - start)));
    }
    emit(opaque, frame, len);
    return 1;
}
