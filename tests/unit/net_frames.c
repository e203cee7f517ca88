#include "net_frames.h"
#include "net/net_offload.h"

#include <string.h>

static void fake_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    g_ptr_array_add(((struct fake_nb *)nb)->frames, g_bytes_new(frame, len));
}

static void fake_free(struct net_backend *nb) { }

static const struct net_backend_ops fake_ops = { .name = "fake", .send = fake_send, .free = fake_free };

void fake_nb_init(struct fake_nb *f)
{
    memset(f, 0, sizeof(*f));
    f->nb.ops = &fake_ops;
    f->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
}

void fake_nb_clear(struct fake_nb *f)
{
    for (unsigned i = 0; i < f->nb.backlog_count; i++)
        g_free(f->nb.backlog[(f->nb.backlog_head + i) % NET_BACKLOG]);
    g_ptr_array_unref(f->frames);
}

const uint8_t *fake_nb_frame(struct fake_nb *f, unsigned i, size_t *len)
{
    return g_bytes_get_data(g_ptr_array_index(f->frames, i), len);
}

void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

size_t build_ipv4(uint8_t *f, bool tcp, size_t payload, uint8_t tcp_flags)
{
    memset(f, 0, 14 + 20 + 20 + payload);
    memcpy(f, "\x02\xd0\x00\x00\x00\x02\x02\xd0\x01\x02\x03\x04\x08\x00", 14);
    uint8_t *ip = f + 14, *l4 = ip + 20;
    size_t l4len = (tcp ? 20 : 8) + payload;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4len));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = tcp ? 6 : 17;
    memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
    put16(l4, 40000);
    put16(l4 + 2, 80);
    uint8_t *data = l4 + (tcp ? 20 : 8);
    for (size_t i = 0; i < payload; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    uint32_t pseudo = net_csum_add(0, ip + 12, 8) + ip[9] + (uint32_t)l4len;
    if (tcp) {
        put16(l4 + 4, 0x1000);       /* seq 0x10000000 */
        l4[12] = 5 << 4;
        l4[13] = tcp_flags;
        put16(l4 + 14, 65535);
        put16(l4 + 16, net_csum_fold(pseudo));
    } else {
        put16(l4 + 4, (uint16_t)l4len);
        put16(l4 + 6, net_csum_fold(pseudo));
    }
    return 14 + 20 + l4len;
}

bool ipv4_valid(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + 14;
    size_t tot = get16(ip + 2);
    if (14 + tot != len || net_csum_fold(net_csum_add(0, ip, 20)) != 0xFFFF)
        return false;
    uint32_t s = net_csum_add(0, ip + 12, 8) + ip[9] + (uint32_t)(tot - 20);
    return net_csum_fold(net_csum_add(s, ip + 20, tot - 20)) == 0xFFFF;
}
