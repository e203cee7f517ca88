/* The e1000 driven through its registers on fake guest memory with a
 * recording backend, the way Linux's e1000 driver drives it: the EEPROM
 * read bit by bit gives the MAC and a valid checksum, the PHY answers on
 * MDIC, interrupts follow ICR/IMS, transmitted frames come out with the
 * checksums and TCP segmentation the context descriptor asked for, received
 * frames land in the guest's buffers with FCS and status, ITR throttles a
 * flood of interrupts, and hostile rings or buffers stop the device (until
 * a reset), never the VMM. */
#include "devices/e1000.h"
#include "devices/e1000_int.h"
#include "core/event_loop.h"
#include "core/memory.h"
#include "net/net_offload.h"
#include "net_frames.h"

#include <errno.h>
#include <endian.h>
#include <glib.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RAM_SIZE  (4u << 20)
#define TX_RING   0x1000
#define RX_RING   0x2000
#define NDESC     16
#define BUF_GPA   0x100000

static const uint8_t mac[6] = { 0x02, 0xd0, 0x11, 0x22, 0x33, 0x44 };

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct fake_nb fnb;
    struct e1000 *e;
    unsigned tdt, rdt;
};

static void w32(struct fx *f, unsigned off, uint32_t v) { e1000_mmio_write(f->e, off, v, 4); }
static uint32_t r32(struct fx *f, unsigned off) { return (uint32_t)e1000_mmio_read(f->e, off, 4); }
static uint8_t *desc(struct fx *f, uint64_t ring, unsigned i) { return f->ram + ring + 16 * (i % NDESC); }

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    fake_nb_init(&f->fnb);
    f->e = e1000_new(&f->mem, &f->fnb.nb, NULL, mac);
    g_assert_nonnull(f->e);
    /* What e1000_configure_tx/rx do. */
    w32(f, E1000_TDBAL, TX_RING);
    w32(f, E1000_TDLEN, NDESC * 16);
    w32(f, E1000_TCTL, E1000_TCTL_EN);
    w32(f, E1000_RDBAL, RX_RING);
    w32(f, E1000_RDLEN, NDESC * 16);
    w32(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
    w32(f, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0 | E1000_ICR_LSC);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    e1000_free(f->e);
    fake_nb_clear(&f->fnb);
    g_free(f->ram);
}

/* ---- transmit helpers ---- */

/* The next transmit descriptor, zeroed, with @addr in its first 8 bytes. */
static uint8_t *tx_next(struct fx *f, uint64_t addr)
{
    uint8_t *d = desc(f, TX_RING, f->tdt++);
    memset(d, 0, 16);
    uint64_t a = htole64(addr);
    memcpy(d, &a, 8);
    return d;
}

static void tx_legacy(struct fx *f, uint64_t addr, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css)
{
    uint8_t *d = tx_next(f, addr);
    d[8] = (uint8_t)len;
    d[9] = (uint8_t)(len >> 8);
    d[10] = cso;
    d[11] = cmd;
    d[13] = css;
}

static void tx_context(struct fx *f, uint8_t tucss, uint8_t tucso, uint8_t tucmd, uint32_t paylen,
                       uint8_t hdr_len, uint16_t mss)
{
    uint8_t *d = tx_next(f, 0);
    d[0] = 14;                       /* ipcss */
    d[1] = 14 + 10;                  /* ipcso */
    d[2] = 14 + 19;                  /* ipcse */
    d[4] = tucss;
    d[5] = tucso;
    d[8] = (uint8_t)paylen;
    d[9] = (uint8_t)(paylen >> 8);
    d[10] = (uint8_t)(paylen >> 16 & 0xF);   /* DTYP 0: context */
    d[11] = tucmd | E1000_TXD_CMD_DEXT;
    d[13] = hdr_len;
    d[14] = (uint8_t)mss;
    d[15] = (uint8_t)(mss >> 8);
}

static void tx_data(struct fx *f, uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts)
{
    uint8_t *d = tx_next(f, addr);
    d[8] = (uint8_t)len;
    d[9] = (uint8_t)(len >> 8);
    d[10] = (uint8_t)(1 << 4 | (len >> 16 & 0xF));   /* DTYP 1: data */
    d[11] = dcmd | E1000_TXD_CMD_DEXT;
    d[13] = popts;
}

static void tx_go(struct fx *f) { w32(f, E1000_TDT, f->tdt % NDESC); }

/* ---- receive helpers ---- */

static void rx_post(struct fx *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t *d = desc(f, RX_RING, f->rdt);
        memset(d, 0, 16);
        uint64_t a = htole64(BUF_GPA + 0x1000ull * (f->rdt % NDESC));
        memcpy(d, &a, 8);
        f->rdt++;
    }
    w32(f, E1000_RDT, f->rdt % NDESC);
}

/* ---- EEPROM, PHY, interrupts ---- */

/* The Microwire read sequence of Linux's e1000_read_eeprom(). */
static uint16_t eeprom_bitbang(struct fx *f, unsigned addr)
{
    uint32_t eecd = E1000_EECD_REQ;
    w32(f, E1000_EECD, eecd);
    g_assert_true(r32(f, E1000_EECD) & E1000_EECD_GNT);
    eecd |= E1000_EECD_CS;
    w32(f, E1000_EECD, eecd);
    uint32_t out = 0x6u << 6 | addr;   /* opcode 110b, 6 address bits */
    for (int b = 8; b >= 0; b--) {
        eecd = (eecd & ~E1000_EECD_DI) | ((out >> b & 1) ? E1000_EECD_DI : 0);
        w32(f, E1000_EECD, eecd);
        w32(f, E1000_EECD, eecd | E1000_EECD_SK);
        w32(f, E1000_EECD, eecd);
    }
    uint16_t v = 0;
    eecd &= ~E1000_EECD_DI;
    for (int b = 0; b < 16; b++) {
        w32(f, E1000_EECD, eecd | E1000_EECD_SK);
        v = (uint16_t)(v << 1 | ((r32(f, E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
        w32(f, E1000_EECD, eecd);
    }
    w32(f, E1000_EECD, 0);            /* CS low: standby */
    return v;
}

static void test_eeprom(struct fx *f, gconstpointer data)
{
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++)
        sum = (uint16_t)(sum + eeprom_bitbang(f, i));
    g_assert_cmphex(sum, ==, 0xBABA);
    for (unsigned i = 0; i < 3; i++) {
        uint16_t w = eeprom_bitbang(f, i);
        g_assert_cmphex(w, ==, mac[2 * i] | mac[2 * i + 1] << 8);
        w32(f, E1000_EERD, i << 8 | 1);
        uint32_t eerd = r32(f, E1000_EERD);
        g_assert_true(eerd & (1u << 4));
        g_assert_cmphex(eerd >> 16, ==, w);
    }
    /* The receive address the hardware loaded from the EEPROM. */
    g_assert_cmphex(r32(f, E1000_RAL0), ==, 0x2211d002);
    g_assert_cmphex(r32(f, E1000_RAH0), ==, 0x80004433);
}

static uint32_t mdic(struct fx *f, uint32_t op, unsigned phy, unsigned reg, uint16_t v)
{
    w32(f, E1000_MDIC, op | phy << 21 | reg << 16 | v);
    uint32_t r = r32(f, E1000_MDIC);
    g_assert_true(r & E1000_MDIC_READY);
    return r;
}

static void test_phy(struct fx *f, gconstpointer data)
{
    g_assert_cmphex(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_ID1, 0) & 0xFFFF, ==, 0x0141);
    g_assert_cmphex(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_ID2, 0) & 0xFFF0, ==, 0x0C20);
    g_assert_true(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x24);   /* link, autoneg done */
    g_assert_true(mdic(f, E1000_MDIC_OP_READ, 2, E1000_PHY_ID1, 0) & E1000_MDIC_ERROR);
    /* Restart negotiation: self-clearing, and the link stays up. */
    mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x1340);
    g_assert_cmphex(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_CTRL, 0) & 0x0200, ==, 0);
    g_assert_true(r32(f, E1000_STATUS) & E1000_STATUS_LU);
}

static void test_interrupts(struct fx *f, gconstpointer data)
{
    g_assert_false(e1000_irq_level(f->e));
    w32(f, E1000_ICS, E1000_ICR_LSC);          /* what e1000_open does to start the watchdog */
    g_assert_true(e1000_irq_level(f->e));
    w32(f, E1000_IMC, ~0u);                    /* the handler masks ... */
    g_assert_false(e1000_irq_level(f->e));
    w32(f, E1000_IMS, E1000_ICR_LSC);
    g_assert_true(e1000_irq_level(f->e));
    g_assert_cmphex(r32(f, E1000_ICR), ==, E1000_ICR_LSC);   /* ... reading ICR acknowledges */
    g_assert_false(e1000_irq_level(f->e));
    g_assert_cmphex(r32(f, E1000_ICR), ==, 0);
}

static void *loop_thread(void *loop)
{
    event_loop_run(loop);
    return NULL;
}

/* One cause after another, each acknowledged as soon as it interrupts (a
 * guest flooded with frames): returns how many interrupts it took in
 * @usec microseconds; *took is the time it really ran. */
static unsigned flood(struct fx *f, gint64 usec, gint64 *took)
{
    unsigned raised = 0;
    gint64 t0 = g_get_monotonic_time();
    while (g_get_monotonic_time() - t0 < usec) {
        w32(f, E1000_ICS, E1000_ICR_RXT0);
        if (e1000_irq_level(f->e)) {
            raised++;
            r32(f, E1000_ICR);
        }
        g_usleep(10);                          /* the guest's handler; lets the I/O thread in */
    }
    *took = g_get_monotonic_time() - t0;
    return raised;
}

/* ITR (in 256 ns units) is the least time between two interrupts: with
 * it at 2 ms, a flood interrupts the guest at most once per 2 ms, and a
 * cause held back is delivered when the interval ends, by the I/O
 * thread's timer. With ITR 0 each cause interrupts at once. */
static void test_itr(struct fx *f, gconstpointer data)
{
    struct event_loop *loop = event_loop_new();
    pthread_t thread;
    g_assert_nonnull(loop);
    pthread_create(&thread, NULL, loop_thread, loop);
    e1000_free(f->e);
    f->e = e1000_new(&f->mem, &f->fnb.nb, loop, mac);
    g_assert_nonnull(f->e);
    w32(f, E1000_IMS, E1000_ICR_RXT0);

    gint64 took;
    for (int i = 0; i < 1000; i++) {
        w32(f, E1000_ICS, E1000_ICR_RXT0);
        g_assert_true(e1000_irq_level(f->e));
        r32(f, E1000_ICR);
    }

    w32(f, E1000_ITR, 7812);                   /* 2 ms: what InterruptThrottleRate=500 writes */
    unsigned raised = flood(f, 100000, &took);
    g_test_message("ITR 2 ms: %u interrupts in %" G_GINT64_FORMAT " us", raised, took);
    g_assert_cmpuint(raised, >=, 1);
    g_assert_cmpuint(raised, <=, took / 2000 + 1);

    /* The cause raised right after an interrupt waits for the timer. */
    w32(f, E1000_ITR, 0xFFFF);                 /* 16.8 ms */
    w32(f, E1000_ICS, E1000_ICR_RXT0);
    for (int i = 0; i < 200 && !e1000_irq_level(f->e); i++)
        g_usleep(10000);
    g_assert_true(e1000_irq_level(f->e));
    r32(f, E1000_ICR);
    w32(f, E1000_ICS, E1000_ICR_RXT0);
    bool held = !e1000_irq_level(f->e);
    for (int i = 0; i < 200 && !e1000_irq_level(f->e); i++)
        g_usleep(10000);
    g_test_message("the cause was %sheld back", held ? "" : "not ");
    g_assert_true(e1000_irq_level(f->e));
    g_assert_cmphex(r32(f, E1000_ICR), ==, E1000_ICR_RXT0);

    event_loop_stop(loop);
    pthread_join(thread, NULL);
    e1000_free(f->e);
    f->e = NULL;
    event_loop_free(loop);
}

/* Another device on the I/O thread: notes how many frames had gone out
 * when it was served, then stops the loop after what is queued by then. */
struct other_device {
    int fd;
    struct fx *f;
    struct event_loop *loop;
    unsigned saw;
};

static void stop_loop(void *loop)
{
    event_loop_stop(loop);
}

static void other_device_ready(void *opaque, uint32_t events)
{
    struct other_device *o = opaque;
    uint64_t v;
    g_assert_cmpint(read(o->fd, &v, sizeof(v)), ==, sizeof(v));
    o->saw = o->f->fnb.frames->len;
    event_loop_call(o->loop, stop_loop, o->loop);
}

/* A guest that fills a 256-descriptor ring gets E1000_TX_BUDGET frames per
 * run of the I/O thread: a device whose fd became ready after the kick is
 * served before the rest of the flood, and the rest still goes out. */
static void test_tx_budget(struct fx *f, gconstpointer data)
{
    enum { RING = 256, FRAMES = 200 };
    struct event_loop *loop = event_loop_new();
    g_assert_nonnull(loop);
    e1000_free(f->e);
    f->e = e1000_new(&f->mem, &f->fnb.nb, loop, mac);
    g_assert_nonnull(f->e);
    w32(f, E1000_TDBAL, TX_RING);
    w32(f, E1000_TDLEN, RING * 16);
    w32(f, E1000_TCTL, E1000_TCTL_EN);
    size_t len = build_ipv4(f->ram + BUF_GPA, false, 100, 0);
    uint64_t addr = htole64(BUF_GPA);
    for (unsigned i = 0; i < FRAMES; i++) {
        uint8_t *d = f->ram + TX_RING + 16 * i;
        memset(d, 0, 16);
        memcpy(d, &addr, 8);
        d[8] = (uint8_t)len;
        d[9] = (uint8_t)(len >> 8);
        d[11] = E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS;
    }
    w32(f, E1000_TDT, FRAMES);               /* the kick: queued for the I/O thread */
    struct other_device o = { .fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK), .f = f, .loop = loop };
    g_assert_cmpint(event_loop_add(loop, o.fd, EPOLLIN, other_device_ready, &o), ==, 0);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);

    g_assert_cmpint(event_loop_run(loop), ==, 0);
    g_assert_cmpuint(o.saw, ==, E1000_TX_BUDGET);
    g_assert_cmpuint(f->fnb.frames->len, ==, FRAMES);
    g_assert_cmpuint(r32(f, E1000_TDH), ==, FRAMES);
    event_loop_del(loop, o.fd);
    close(o.fd);
    e1000_free(f->e);
    f->e = NULL;
    event_loop_free(loop);
}

/* The cable pulled and plugged back in: STATUS.LU and the PHY's link bit
 * follow, each change raises LSC, and no frame passes while it is out. */
static void test_link_change(struct fx *f, gconstpointer data)
{
    rx_post(f, 4);
    g_assert_cmpint(net_backend_set_link(&f->fnb.nb, false), ==, 0);
    g_assert_true(e1000_irq_level(f->e));
    g_assert_cmphex(r32(f, E1000_ICR), ==, E1000_ICR_LSC);
    g_assert_false(r32(f, E1000_STATUS) & E1000_STATUS_LU);
    g_assert_false(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x04);
    /* A PHY reset does not bring the partner back. */
    mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x9140);
    g_assert_false(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x04);
    uint8_t frame[60] = { 0 };
    memcpy(frame, mac, 6);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 0);
    size_t len = build_ipv4(f->ram + BUF_GPA + 0x10000, false, 8, 0);
    tx_legacy(f, BUF_GPA + 0x10000, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    tx_go(f);
    g_assert_cmpuint(r32(f, E1000_TDH), ==, 1);   /* consumed ... */
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);  /* ... not sent */

    g_assert_cmpint(net_backend_set_link(&f->fnb.nb, true), ==, 0);
    g_assert_cmphex(r32(f, E1000_ICR) & E1000_ICR_LSC, ==, E1000_ICR_LSC);
    g_assert_true(r32(f, E1000_STATUS) & E1000_STATUS_LU);
    g_assert_true(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x04);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 1);
    tx_legacy(f, BUF_GPA + 0x10000, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    tx_go(f);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    /* The same state again is no change: no interrupt. */
    g_assert_cmpint(net_backend_set_link(&f->fnb.nb, true), ==, 0);
    g_assert_cmphex(r32(f, E1000_ICR) & E1000_ICR_LSC, ==, 0);
}

/* e1000_reset_hw() resets an 82540 through the I/O window. */
static void test_io_window(struct fx *f, gconstpointer data)
{
    e1000_io_write(f->e, 0, E1000_STATUS, 4);
    g_assert_cmphex(e1000_io_read(f->e, 0, 4), ==, E1000_STATUS);
    g_assert_true(e1000_io_read(f->e, 4, 4) & E1000_STATUS_LU);
    g_assert_cmphex(r32(f, E1000_IMS), !=, 0);
    e1000_io_write(f->e, 0, E1000_CTRL, 4);
    e1000_io_write(f->e, 4, E1000_CTRL_RST, 4);
    g_assert_cmphex(r32(f, E1000_IMS), ==, 0);
    g_assert_cmphex(r32(f, E1000_RCTL), ==, 0);
    g_assert_cmphex(r32(f, E1000_CTRL) & E1000_CTRL_RST, ==, 0);
}

/* ---- transmit ---- */

static void test_tx_legacy(struct fx *f, gconstpointer data)
{
    uint8_t *buf = f->ram + BUF_GPA;
    size_t len = build_ipv4(buf, false, 100, 0);
    put16(buf + 14 + 10, (uint16_t)~net_csum_fold(net_csum_add(0, buf + 14, 20)));
    /* Split over two descriptors; IC asks for the UDP checksum at offset 40. */
    tx_legacy(f, BUF_GPA, 30, 0, 0, 0);
    tx_legacy(f, BUF_GPA + 30, (uint16_t)(len - 30), E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IC,
              14 + 20 + 6, 14 + 20);
    tx_go(f);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    size_t got;
    const uint8_t *out = fake_nb_frame(&f->fnb, 0, &got);
    g_assert_cmpuint(got, ==, len);
    g_assert_true(ipv4_valid(out, got));
    g_assert_cmpuint(r32(f, E1000_TDH), ==, 2);
    g_assert_true(desc(f, TX_RING, 1)[12] & E1000_TXD_STA_DD);
    g_assert_true(e1000_irq_level(f->e));
    g_assert_true(r32(f, E1000_ICR) & E1000_ICR_TXDW);
    g_assert_cmpuint(r32(f, E1000_GPTC), ==, 1);
}

static void test_tx_csum_offload(struct fx *f, gconstpointer data)
{
    uint8_t *buf = f->ram + BUF_GPA;
    size_t len = build_ipv4(buf, true, 500, 0x18);
    /* e1000_tx_csum: a context for TCP at 34 (field at 50), then TXSM data. */
    tx_context(f, 34, 34 + 16, E1000_TUCMD_TCP | E1000_TUCMD_IP, 0, 0, 0);
    tx_data(f, BUF_GPA, (uint32_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
            E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_go(f);
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    size_t got;
    const uint8_t *out = fake_nb_frame(&f->fnb, 0, &got);
    g_assert_true(ipv4_valid(out, got));
}

static void test_tx_tso(struct fx *f, gconstpointer data)
{
    uint8_t *buf = f->ram + BUF_GPA;
    size_t len = build_ipv4(buf, true, 3000, 0x19 /* FIN PSH ACK */);
    tx_context(f, 34, 34 + 16, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TXD_CMD_TSE, 3000, 54, 1000);
    tx_data(f, BUF_GPA, 54, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_data(f, BUF_GPA + 54, 1500, E1000_TXD_CMD_TSE, 0);
    tx_data(f, BUF_GPA + 1554, (uint32_t)len - 1554, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
    tx_go(f);
    g_assert_cmpuint(f->fnb.frames->len, ==, 3);
    for (unsigned i = 0; i < 3; i++) {
        size_t got;
        const uint8_t *out = fake_nb_frame(&f->fnb, i, &got);
        g_assert_cmpuint(got, ==, 54 + 1000);
        g_assert_true(ipv4_valid(out, got));
        const uint8_t *tcp = out + 34;
        g_assert_cmphex((uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6), ==, 0x10000000u + 1000 * i);
        g_assert_cmphex(tcp[13], ==, i == 2 ? 0x19 : 0x10);   /* FIN/PSH on the last only */
        g_assert_cmpmem(out + 54, 1000, buf + 54 + 1000 * i, 1000);
    }
    g_assert_cmpuint(r32(f, E1000_TDH), ==, 4);
}

/* ---- receive ---- */

static void test_rx(struct fx *f, gconstpointer data)
{
    rx_post(f, 4);
    uint8_t frame[42] = { 0 };
    memcpy(frame, mac, 6);
    memcpy(frame + 6, "\x52\x55\x0a\x00\x02\x02\x08\x06", 8);   /* ARP from slirp, 42 bytes */
    for (size_t i = 14; i < sizeof(frame); i++)
        frame[i] = (uint8_t)i;
    g_assert_true(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    uint8_t *d = desc(f, RX_RING, 0);
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 60 + 4);   /* padded to the minimum, plus FCS */
    g_assert_cmphex(d[12] & (E1000_RXD_STA_DD | E1000_RXD_STA_EOP), ==, E1000_RXD_STA_DD | E1000_RXD_STA_EOP);
    g_assert_cmpmem(f->ram + BUF_GPA, sizeof(frame), frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 1);
    g_assert_true(r32(f, E1000_ICR) & E1000_ICR_RXT0);

    /* Broadcast passes with BAM; another host's unicast and an unlisted multicast do not. */
    memset(frame, 0xFF, 6);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 2);
    memcpy(frame, "\x02\xd0\x99\x99\x99\x99", 6);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    memcpy(frame, "\x33\x33\x00\x00\x00\x01", 6);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 2);
    /* ... until the driver puts it in the multicast table (MO 0: bits 47:36). */
    unsigned hash = (0x00 >> 4 | 0x01 << 4) & 0xFFF;
    w32(f, E1000_MTA + 4 * (hash >> 5), 1u << (hash & 31));
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 3);
    g_assert_cmpuint(r32(f, E1000_GPRC), ==, 3);
}

static void test_rx_waits_for_buffers(struct fx *f, gconstpointer data)
{
    uint8_t frame[1514];
    memset(frame, 0x5A, sizeof(frame));
    memcpy(frame, mac, 6);
    /* One slot only: a ring with head == tail has no buffers for the guest. */
    rx_post(f, 1);
    g_assert_true(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    g_assert_false(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, 1);
    rx_post(f, 2);                   /* the RDT write drains the backlog */
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, 0);
    g_assert_cmpuint(r32(f, E1000_RDH), ==, 2);
    uint8_t *d = desc(f, RX_RING, 1);
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 1514 + 4);
}

/* ---- hostile guests ---- */

static void test_hostile_tx_ring(struct fx *f, gconstpointer data)
{
    w32(f, E1000_TDBAL, RAM_SIZE - 64);          /* ring runs off the end of RAM */
    tx_go(f);
    w32(f, E1000_TDT, 1);
    g_assert_true(e1000_failed(f->e));
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
    /* A reset brings it back, as for a real NIC's driver after a timeout. */
    w32(f, E1000_CTRL, E1000_CTRL_RST);
    g_assert_false(e1000_failed(f->e));
}

static void test_hostile_tx_buffers(struct fx *f, gconstpointer data)
{
    /* Tail past the ring's end. */
    w32(f, E1000_TDT, NDESC + 3);
    g_assert_true(e1000_failed(f->e));
    w32(f, E1000_CTRL, E1000_CTRL_RST);
    fx_teardown(f, NULL);
    fx_setup(f, NULL);
    /* A buffer outside RAM. */
    tx_legacy(f, RAM_SIZE - 10, 100, E1000_TXD_CMD_EOP, 0, 0);
    tx_go(f);
    g_assert_true(e1000_failed(f->e));
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
    fx_teardown(f, NULL);
    fx_setup(f, NULL);
    /* A frame longer than any network carries (15 x 16 KiB without EOP, then
     * EOP): dropped; a garbage TSO request: dropped; the next frame goes out. */
    for (unsigned i = 0; i < 5; i++)
        tx_data(f, BUF_GPA, 0xFFFFF, 0, 0);
    tx_data(f, BUF_GPA, 100, E1000_TXD_CMD_EOP, 0);
    tx_context(f, 34, 50, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TXD_CMD_TSE, 100, 54, 0);
    tx_data(f, BUF_GPA, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0);
    uint8_t *buf = f->ram + BUF_GPA + 0x10000;
    size_t len = build_ipv4(buf, false, 20, 0);
    tx_legacy(f, BUF_GPA + 0x10000, (uint16_t)len, E1000_TXD_CMD_EOP, 0, 0);
    tx_go(f);
    g_assert_false(e1000_failed(f->e));
    g_assert_cmpuint(f->fnb.frames->len, ==, 1);
    g_assert_cmpuint(r32(f, E1000_TDH), ==, f->tdt);
}

static void test_hostile_rx(struct fx *f, gconstpointer data)
{
    uint8_t frame[60] = { 0 };
    memcpy(frame, mac, 6);
    uint8_t *d = desc(f, RX_RING, 0);
    rx_post(f, 2);
    uint64_t bad = htole64(RAM_SIZE - 8);
    memcpy(d, &bad, 8);
    net_backend_deliver(&f->fnb.nb, frame, sizeof(frame));
    g_assert_true(e1000_failed(f->e));
    g_assert_cmpuint(d[12], ==, 0);              /* nothing claimed done */
    /* A failed device takes no more frames, and holds none back either. */
    g_assert_true(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    g_assert_cmpuint(f->fnb.nb.backlog_count, ==, 0);
}

/* ---- snapshots ---- */

static uint8_t *save_blob(struct e1000 *e, size_t *len)
{
    size_t max = sizeof(struct e1000_saved);
    uint8_t *b = g_malloc(max);
    g_assert_cmpint(e1000_state_save(e, b, max - 1), ==, -ENOSPC);
    long n = e1000_state_save(e, b, max);
    g_assert_cmpint(n, ==, (long)max);
    *len = (size_t)n;
    return b;
}

/* A blob @e must refuse; its state stays what it was. */
static void expect_refused(struct e1000 *e, const void *blob, size_t len)
{
    size_t n0, n1;
    g_autofree uint8_t *before = save_blob(e, &n0);
    g_assert_cmpint(e1000_state_load(e, blob, len), ==, -EINVAL);
    g_autofree uint8_t *after = save_blob(e, &n1);
    g_assert_cmpmem(before, n0, after, n1);
}

/* Saved with a frame received and one half transmitted (its first
 * descriptor consumed, EOP not yet queued) and an interrupt pending;
 * restored into a fresh NIC on a copy of the RAM whose host cable is now
 * out: the MAC is there, the interrupt is raised again, the driver hears
 * the link went down, and once it is back the next frame lands in the
 * next buffer and the half frame goes out whole. */
static void test_snapshot(struct fx *f, gconstpointer data)
{
    rx_post(f, 4);
    uint8_t frame[60] = { 0 };
    memcpy(frame, mac, 6);
    frame[20] = 1;
    g_assert_true(net_backend_deliver(&f->fnb.nb, frame, sizeof(frame)));
    uint8_t *buf = f->ram + BUF_GPA + 0x10000;
    size_t len = build_ipv4(buf, false, 100, 0);
    tx_legacy(f, BUF_GPA + 0x10000, 40, 0, 0, 0);
    tx_go(f);
    g_assert_cmpuint(r32(f, E1000_TDH), ==, 1);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);
    g_assert_true(e1000_irq_level(f->e));
    size_t blen;
    g_autofree uint8_t *blob = save_blob(f->e, &blen);

    struct fx g = { .tdt = f->tdt, .rdt = f->rdt };
    g.ram = g_memdup2(f->ram, RAM_SIZE);
    guest_mem_init_fake(&g.mem, g.ram, RAM_SIZE);
    fake_nb_init(&g.fnb);
    g.e = e1000_new(&g.mem, &g.fnb.nb, NULL, mac);
    g_assert_cmpint(net_backend_set_link(&g.fnb.nb, false), ==, 0);
    r32(&g, E1000_ICR);
    g_assert_false(e1000_irq_level(g.e));

    /* Hostile or foreign states first: refused, nothing changed. */
    g_autofree uint8_t *bad = g_memdup2(blob, blen);
    struct e1000_saved *s = (struct e1000_saved *)bad;
    expect_refused(g.e, bad, blen - 1);
    s->version++;
    expect_refused(g.e, bad, blen);
    s->version--;
    s->eeprom[0] ^= 0x0100;          /* another MAC: another NIC */
    expect_refused(g.e, bad, blen);
    s->eeprom[0] ^= 0x0100;
    s->tx_len = NET_MAX_FRAME;
    expect_refused(g.e, bad, blen);
    s->tx_len = 40;
    s->failed = 7;
    expect_refused(g.e, bad, blen);
    s->failed = 0;
    s->ioaddr = 0x102;
    expect_refused(g.e, bad, blen);
    s->ioaddr = 0;
    s->wire_nbits = 1000;
    expect_refused(g.e, bad, blen);
    s->wire_nbits = 0;
    g_assert_cmpmem(bad, blen, blob, blen);

    g_assert_cmpint(e1000_state_load(g.e, blob, blen), ==, 0);
    g_assert_true(e1000_irq_level(g.e));
    g_assert_cmphex(r32(&g, E1000_ICR) & (E1000_ICR_RXT0 | E1000_ICR_LSC), ==, E1000_ICR_RXT0 | E1000_ICR_LSC);
    g_assert_false(r32(&g, E1000_STATUS) & E1000_STATUS_LU);
    g_assert_cmphex(r32(&g, E1000_RAL0), ==, 0x2211d002);
    g_assert_cmphex(r32(&g, E1000_RAH0), ==, E1000_RAH_AV | 0x4433);
    g_assert_cmpuint(eeprom_bitbang(&g, 2), ==, 0x4433);
    g_assert_cmpint(net_backend_set_link(&g.fnb.nb, true), ==, 0);
    g_assert_true(r32(&g, E1000_STATUS) & E1000_STATUS_LU);

    frame[20] = 2;
    g_assert_true(net_backend_deliver(&g.fnb.nb, frame, sizeof(frame)));
    g_assert_cmpuint(r32(&g, E1000_RDH), ==, 2);
    g_assert_cmpmem(g.ram + BUF_GPA + 0x1000, sizeof(frame), frame, sizeof(frame));
    g_assert_cmphex(desc(&g, RX_RING, 1)[12] & E1000_RXD_STA_DD, ==, E1000_RXD_STA_DD);

    tx_legacy(&g, BUF_GPA + 0x10000 + 40, (uint16_t)(len - 40), E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    tx_go(&g);
    g_assert_cmpuint(g.fnb.frames->len, ==, 1);
    size_t out_len;
    const uint8_t *out = fake_nb_frame(&g.fnb, 0, &out_len);
    g_assert_cmpmem(out, out_len, buf, len);
    g_assert_cmpuint(f->fnb.frames->len, ==, 0);   /* the original saw nothing of it */
    fx_teardown(&g, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/e1000/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    ADD("eeprom", test_eeprom);
    ADD("phy", test_phy);
    ADD("interrupts", test_interrupts);
    ADD("itr", test_itr);
    ADD("io-window", test_io_window);
    ADD("link-change", test_link_change);
    ADD("tx-legacy", test_tx_legacy);
    ADD("tx-csum-offload", test_tx_csum_offload);
    ADD("tx-tso", test_tx_tso);
    ADD("tx-budget", test_tx_budget);
    ADD("rx", test_rx);
    ADD("rx-waits-for-buffers", test_rx_waits_for_buffers);
    ADD("hostile-tx-ring", test_hostile_tx_ring);
    ADD("hostile-tx-buffers", test_hostile_tx_buffers);
    ADD("hostile-rx", test_hostile_rx);
    ADD("snapshot", test_snapshot);
    return g_test_run();
}
