/* virtio-net driven directly on fake guest memory with a recording backend:
 * transmit offloads (checksum, TSO) produce frames a network accepts, the
 * receive side merges buffers and holds frames while the guest has none,
 * and hostile buffers stop the device, not the VMM. Also --net parsing. */
#include "virtio/virtio_net.h"
#include "core/event_loop.h"
#include "net/net.h"
#include "net/net_config.h"
#include "net/net_offload.h"
#include "net_frames.h"
#include "fake_virtq.h"

#include <endian.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    return -ENOSYS;
}

#define QSZ      16
#define RAM_SIZE (4u << 20)
#define RXQ_GPA  0x1000                /* desc, avail +0x1000, used +0x2000 */
#define TXQ_GPA  0x8000
#define BUF_GPA  0x100000


struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct fake_nb fnb;
    struct virtio_net *net;
    struct virtio_device *vdev;
    unsigned irqs[2], config_irqs;
    struct fake_vq vq[2];
    uint64_t next_buf;
    struct event_loop *loop;         /* with test data 1: a real I/O loop */
    int other_fd;                    /* another device's eventfd on that loop */
    unsigned other_saw;              /* frames sent when it ran */
};

static void count_irq(struct virtio_device *vdev, unsigned q) { ((struct fx *)vdev->transport)->irqs[q]++; }
static void count_cfg(struct virtio_device *vdev) { ((struct fx *)vdev->transport)->config_irqs++; }

static uint64_t qbase(unsigned q) { return q == VIRTIO_NET_RXQ ? RXQ_GPA : TXQ_GPA; }
static struct virtq_used *used(struct fx *f, unsigned q) { return fake_vq_used(&f->vq[q]); }

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    fake_nb_init(&f->fnb);
    static const uint8_t mac[6] = { 0x02, 0xd0, 1, 2, 3, 4 };
    f->loop = data ? event_loop_new() : NULL;
    g_assert_cmpint(virtio_net_new(&f->fnb.nb, f->loop, mac, &f->net), ==, 0);
    f->vdev = virtio_net_device(f->net);
    f->vdev->transport = f;
    f->vdev->notify_queue = count_irq;
    f->vdev->notify_config = count_cfg;
    fake_driver_ok(f->vdev, (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CSUM) |
                            (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                            (1ULL << VIRTIO_NET_F_STATUS));
    for (unsigned q = 0; q < 2; q++)
        fake_vq_enable(&f->vq[q], f->vdev, &f->mem, q, qbase(q), data && q == VIRTIO_NET_TXQ ? 256 : QSZ);
    f->next_buf = BUF_GPA;
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    virtio_net_free(f->net);
    event_loop_free(f->loop);
    fake_nb_clear(&f->fnb);
    g_free(f->ram);
}

/* Posts a one-descriptor buffer on queue q; returns its guest address. */
static uint64_t post(struct fx *f, unsigned q, uint64_t gpa, uint32_t len, bool writable)
{
    fake_vq_offer(&f->vq[q], &(struct fake_seg){ gpa, len, writable }, 1);
    return gpa;
}

static uint64_t alloc(struct fx *f, size_t len)
{
    uint64_t g = f->next_buf;
    f->next_buf += (len + 4095) & ~4095ul;
    return g;
}

/* ---- frames ---- */

/* Sends header+frame as a two-descriptor chain and runs the device. */
static void transmit(struct fx *f, const struct virtio_net_hdr *h, const uint8_t *frame, size_t len)
{
    uint64_t hg = alloc(f, sizeof(*h)), fg = alloc(f, len);
    memcpy(f->ram + hg, h, sizeof(*h));
    memcpy(f->ram + fg, frame, len);
    struct fake_seg segs[] = { { hg, sizeof(*h), false }, { fg, (uint32_t)len, false } };
    fake_vq_offer(&f->vq[1], segs, 2);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_NET_TXQ);
}

static const uint8_t *frame_at(struct fx *f, unsigned i, size_t *len)
{
    return fake_nb_frame(&f->fnb, i, len);
}

/* ---- tests ---- */

static void test_tx_checksum(struct fx *f, gconstpointer data)
{
    uint8_t frame[200];
    size_t len = build_ipv4(frame, false, 100, 0);
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(34),
                                .csum_offset = htole16(6) };
    put16(frame + 14 + 10, (uint16_t)~net_csum_fold(net_csum_add(0, frame + 14, 20)));
    transmit(f, &h, frame, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    size_t got;
    const uint8_t *out = frame_at(f, 0, &got);
    g_assert_cmpuint(got, ==, len);
    g_assert_true(ipv4_valid(out, got));
    g_assert_cmpuint(used(f, 1)->idx, ==, 1);
    g_assert_cmpuint(f->irqs[1], ==, 1);
}

static void test_tx_tso(struct fx *f, gconstpointer data)
{
    static uint8_t frame[14 + 40 + 3000];
    size_t len = build_ipv4(frame, true, 3000, 0x19 /* FIN PSH ACK */);
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = NET_GSO_TCPV4,
                                .hdr_len = htole16(54), .gso_size = htole16(1448),
                                .csum_start = htole16(34), .csum_offset = htole16(16) };
    transmit(f, &h, frame, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 3);
    size_t expect[3] = { 1448, 1448, 104 };
    uint32_t seq = 0x10000000;
    for (unsigned i = 0; i < 3; i++) {
        size_t got;
        const uint8_t *out = frame_at(f, i, &got);
        g_assert_cmpuint(got, ==, 54 + expect[i]);
        g_assert_true(ipv4_valid(out, got));
        const uint8_t *tcp = out + 34;
        g_assert_cmpuint((uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6), ==, seq);
        g_assert_cmpuint(tcp[13], ==, i == 2 ? 0x19 : 0x10);   /* FIN/PSH only on the last */
        g_assert_cmpuint(get16(out + 14 + 4), ==, 0x1234 + i);  /* IP IDs count up */
        g_assert_cmpmem(out + 54, expect[i], frame + 54 + (seq - 0x10000000), expect[i]);
        seq += (uint32_t)expect[i];
    }
}

/* A GSO request on something that is not TCP is dropped, and the device goes on. */
static void test_tx_bad_gso(struct fx *f, gconstpointer data)
{
    uint8_t frame[200];
    size_t len = build_ipv4(frame, false, 100, 0);
    struct virtio_net_hdr h = { .gso_type = NET_GSO_TCPV4, .gso_size = htole16(10) };
    transmit(f, &h, frame, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
    g_assert_cmpuint(used(f, 1)->idx, ==, 1);
    h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(190),
                                 .csum_offset = htole16(100) };
    transmit(f, &h, frame, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
    h = (struct virtio_net_hdr){ 0 };
    transmit(f, &h, frame, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    g_assert_false(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_rx_mergeable(struct fx *f, gconstpointer data)
{
    uint64_t b[4];
    for (unsigned i = 0; i < 4; i++)
        b[i] = post(f, 0, alloc(f, 1024), 1024, true);
    uint8_t frame[3000];
    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7);
    g_assert_true(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    struct virtq_used *u = used(f, 0);
    g_assert_cmpuint(u->idx, ==, 3);     /* 12 + 3000 bytes in three 1024-byte buffers */
    g_assert_cmpuint(u->ring[0].len, ==, 1024);
    g_assert_cmpuint(u->ring[2].len, ==, 3012 - 2048);
    struct virtio_net_hdr h;
    memcpy(&h, f->ram + b[0], sizeof(h));
    g_assert_cmpuint(le16toh(h.num_buffers), ==, 3);
    g_assert_cmpuint(h.flags, ==, VIRTIO_NET_HDR_F_DATA_VALID);
    g_assert_cmpmem(f->ram + b[0] + 12, 1012, frame, 1012);
    g_assert_cmpmem(f->ram + b[1], 1024, frame + 1012, 1024);
    g_assert_cmpmem(f->ram + b[2], 3000 - 2036, frame + 2036, 3000 - 2036);
    g_assert_cmpuint(f->irqs[0], ==, 1);
}

/* No buffers: the frame waits (nothing half-delivered); posting buffers and
 * kicking the receive queue lets it in. */
static void test_rx_backlog(struct fx *f, gconstpointer data)
{
    post(f, 0, alloc(f, 1024), 1024, true);
    uint8_t frame[1500] = { 1, 2, 3 };
    g_assert_false(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    g_assert_cmpuint(used(f, 0)->idx, ==, 0);   /* one buffer was not enough: none used */
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, 1);
    uint64_t b = post(f, 0, alloc(f, 1024), 1024, true);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_NET_RXQ);
    g_assert_cmpuint(used(f, 0)->idx, ==, 2);
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, 0);
    g_assert_cmpuint(f->ram[b - 4096 + 12], ==, 1);
    /* A full backlog drops instead of growing. */
    for (unsigned i = 0; i < NET_BACKLOG + 10; i++)
        net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, NET_BACKLOG);
    g_assert_cmpuint(f->fnb.nb.rx_dropped, ==, 10);
}

static void test_rx_hostile(struct fx *f, gconstpointer data)
{
    post(f, 0, alloc(f, 8), 8, true);     /* smaller than the header */
    uint8_t frame[60] = { 0 };
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_true(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(f->config_irqs, ==, 1);
    g_assert_cmpuint(used(f, 0)->idx, ==, 0);
}

static void test_tx_outside_ram(struct fx *f, gconstpointer data)
{
    fake_vq_offer(&f->vq[1], &(struct fake_seg){ RAM_SIZE - 8, 4096, false }, 1);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_NET_TXQ);
    g_assert_true(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
}

static void other_device_ready(void *opaque, uint32_t events)
{
    struct fx *f = opaque;
    uint64_t v;
    g_assert_cmpint(read(f->other_fd, &v, sizeof(v)), ==, sizeof(v));
    f->other_saw = f->fnb.frames->len;
}

static void stop_loop(void *opaque)
{
    event_loop_stop(opaque);
}

/* A guest that keeps its transmit queue full gets a bounded batch per
 * wake-up: another device whose fd was ready at the time of the kick is
 * served before the rest of the flood, and the rest still goes out. */
static void test_tx_budget(struct fx *f, gconstpointer data)
{
    enum { FRAMES = 200 };
    /* ready now, like a finished disk request */
    f->other_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(event_loop_add(f->loop, f->other_fd, EPOLLIN, other_device_ready, f), ==, 0);
    uint8_t frame[sizeof(struct virtio_net_hdr) + 200] = { 0 };
    size_t len = sizeof(struct virtio_net_hdr) + build_ipv4(frame + sizeof(struct virtio_net_hdr), false, 100, 0);
    uint64_t g = alloc(f, len);
    memcpy(f->ram + g, frame, len);
    for (unsigned i = 0; i < FRAMES; i++)
        fake_vq_offer(&f->vq[1], &(struct fake_seg){ g, (uint32_t)len, false }, 1);
    f->vdev->ops->queue_notify(f->vdev, VIRTIO_NET_TXQ);
    g_assert_cmpuint(f->fnb.frames->len, ==, VIRTIO_NET_TX_BUDGET);
    g_assert_cmpuint(used(f, 1)->idx, ==, VIRTIO_NET_TX_BUDGET);

    event_loop_call(f->loop, stop_loop, f->loop);
    g_assert_cmpint(event_loop_run(f->loop), ==, 0);
    g_assert_cmpuint(f->other_saw, ==, VIRTIO_NET_TX_BUDGET);
    g_assert_cmpuint(f->fnb.frames->len, ==, FRAMES);
    g_assert_cmpuint(used(f, 1)->idx, ==, FRAMES);
    event_loop_del(f->loop, f->other_fd);
    close(f->other_fd);
}

/* The cable pulled through the backend (the control socket's path): the
 * driver gets a config interrupt and reads the status; nothing goes in or
 * out until it is plugged back in. */
static void test_link_down(struct fx *f, gconstpointer data)
{
    post(f, 0, alloc(f, 2048), 2048, true);
    g_assert_cmpint(net_backend_set_link(&f->fnb.nb, false), ==, 0);
    g_assert_cmpuint(f->config_irqs, ==, 1);
    struct virtio_net_config cfg;
    f->vdev->ops->config_read(f->vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(le16toh(cfg.status) & VIRTIO_NET_S_LINK_UP, ==, 0);
    uint8_t frame[60] = { 0 };
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(used(f, 0)->idx, ==, 0);
    uint8_t tx[64];
    size_t len = build_ipv4(tx, false, 8, 0);
    struct virtio_net_hdr h = { 0 };
    transmit(f, &h, tx, len);
    g_assert_cmpuint(used(f, 1)->idx, ==, 1);    /* the driver gets its buffer back ... */
    g_assert_cmpuint(f->fnb.frames->len, ==, 0); /* ... but the frame went nowhere */

    g_assert_cmpint(net_backend_set_link(&f->fnb.nb, true), ==, 0);
    g_assert_cmpuint(f->config_irqs, ==, 2);
    f->vdev->ops->config_read(f->vdev, 0, &cfg, sizeof(cfg));
    g_assert_cmpuint(le16toh(cfg.status) & VIRTIO_NET_S_LINK_UP, ==, VIRTIO_NET_S_LINK_UP);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(used(f, 0)->idx, ==, 1);
    transmit(f, &h, tx, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
}

static void test_config_parse(void)
{
    struct net_config c;
    char why[256];
    g_assert_cmpint(net_config_parse("user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::53-10.0.2.9:53", &c, why, sizeof(why)), ==, 0);
    g_assert_cmpint(c.kind, ==, NET_USER);
    g_assert_cmpuint(c.nhostfwd, ==, 2);
    g_assert_cmpuint(c.hostfwd[0].host_port, ==, 8080);
    g_assert_cmpuint(c.hostfwd[0].guest_port, ==, 80);
    g_assert_cmpuint(c.hostfwd[0].host_addr, ==, htobe32(0x7F000001));
    g_assert_true(c.hostfwd[1].udp);
    g_assert_cmpuint(c.hostfwd[1].guest_addr, ==, htobe32(0x0A000209));
    g_assert_cmpint(net_config_parse("tap:tap0,mac=02:00:00:00:00:01", &c, why, sizeof(why)), ==, 0);
    g_assert_cmpstr(c.ifname, ==, "tap0");
    g_assert_true(c.mac_set);
    g_assert_cmpint(net_config_parse("none", &c, why, sizeof(why)), ==, 0);
    static const char *bad[] = { "", "usr", "tap:", "user,hostfwd=tcp:1.2.3.4:0-:80",
                                 "user,hostfwd=tcp::80-:99999", "user,hostfwd=sctp::1-:1",
                                 "user,mac=01:00:00:00:00:01", "user,mac=zz", "none,model=virtio",
                                 "user,model=rtl8139", "tap:tap0,hostfwd=tcp::1-:1", "user,bogus" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        why[0] = 0;
        g_assert_cmpint(net_config_parse(bad[i], &c, why, sizeof(why)), ==, -EINVAL);
        g_assert_nonnull(strstr(why, "--net"));
        g_assert_null(strchr(why, '\n'));
    }
    uint8_t m1[6], m2[6], m3[6];
    net_mac_from_name("desktop", m1);
    net_mac_from_name("desktop", m2);
    net_mac_from_name("laptop", m3);
    g_assert_cmpmem(m1, 6, m2, 6);
    g_assert_true(memcmp(m1, m3, 6) != 0);
    g_assert_cmpuint(m1[0] & 3, ==, 2);   /* locally administered unicast */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/virtio-net/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    T("tx-checksum", test_tx_checksum);
    T("tx-tso", test_tx_tso);
    T("tx-bad-offload", test_tx_bad_gso);
    T("tx-outside-ram", test_tx_outside_ram);
    T("rx-mergeable", test_rx_mergeable);
    T("rx-backlog", test_rx_backlog);
    T("rx-hostile", test_rx_hostile);
    T("link-down", test_link_down);
    g_test_add("/virtio-net/tx-budget", struct fx, GINT_TO_POINTER(1), fx_setup, test_tx_budget, fx_teardown);
    g_test_add_func("/net/config-parse", test_config_parse);
    return g_test_run();
}
