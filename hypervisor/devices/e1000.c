/* e1000 registers: the register file, the Microwire EEPROM the driver
 * bit-bangs through EECD (and the EERD shortcut), the M88E1011 PHY behind
 * MDIC (autonegotiation done at once, 1000 Mb/s full duplex; the link
 * follows the virtual cable, see e1000_set_link), interrupt cause/mask
 * registers and INTx. MMIO arrives on vCPU threads; transmit and
 * receive-resume run on the I/O thread, where the backends live, so
 * register writes that start them only schedule them. */
#include "e1000_int.h"
#include "devices.h"
#include "core/event_loop.h"
#include "core/memory.h"
#include "core/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define E1000_DEVICE_ID   0x100E
#define E1000_SUBSYS_ID   0x001E
#define EEPROM_CHECKSUM   0xBABA     /* words 0..63 sum to this */
#define EEPROM_READ_OP    6          /* Microwire: start bit + opcode 10b */
#define EEPROM_ADDR_BITS  6          /* 64 words (EECD.EE_SIZE clear) */
#define PHY_ADDR          1
#define CTRL_DEFAULT      0x00000261 /* full duplex, auto speed, link up, 1000 Mb/s */
#define STATUS_LINK       0x00000283 /* full duplex, link up, 1000 Mb/s */
#define ICR_MDAC          (1u << 9)
#define MDIC_INT_EN       (1u << 29)

/* ---- interrupts ---- */

#define ITR_UNIT_NS       256        /* ITR counts the interval in 256 ns units */

bool e1000_irq_level(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    bool line = e->irq_line;
    pthread_mutex_unlock(&e->lock);
    return line;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A guest that acknowledges each interrupt at once would otherwise take
 * one per frame: the driver sets ITR (Linux: 20000/s at most by default)
 * so a flood costs it a bounded rate, and so does the VMM's I/O thread. */
void e1000_update_irq(struct e1000 *e)
{
    bool want = (*e1000_reg(e, E1000_ICR) & *e1000_reg(e, E1000_IMS)) != 0;
    if (want && !e->irq_line) {
        uint64_t itr = *e1000_reg(e, E1000_ITR) & 0xFFFF;
        if (itr && e->itr_timer >= 0) {
            uint64_t now = now_ns();
            if (now < e->irq_next_ns) {
                if (!e->itr_armed)
                    event_loop_timer_once_ns(e->itr_timer, e->irq_next_ns - now);
                e->itr_armed = true;
                return;
            }
            e->irq_next_ns = now + itr * ITR_UNIT_NS;
        }
    }
    e->irq_line = want;
    if (e->pci_owned)
        pci_device_set_irq(&e->pci, want);
}

static void itr_expired(void *opaque, uint32_t events)
{
    struct e1000 *e = opaque;
    uint64_t n;
    if (read(e->itr_timer, &n, sizeof(n)) != sizeof(n))
        return;
    pthread_mutex_lock(&e->lock);
    e->itr_armed = false;
    e1000_update_irq(e);
    pthread_mutex_unlock(&e->lock);
}

void e1000_set_icr(struct e1000 *e, uint32_t bits)
{
    *e1000_reg(e, E1000_ICR) |= bits;
    e1000_update_irq(e);
}

void e1000_fail(struct e1000 *e, const char *why)
{
    if (!e->state.failed)
        fprintf(stderr, "domus-vmm: e1000: %s; the NIC stops until the guest resets it\n", why);
    e->state.failed = true;
}

bool e1000_failed(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    bool f = e->state.failed;
    pthread_mutex_unlock(&e->lock);
    return f;
}

bool e1000_dma_allowed(struct e1000 *e)
{
    return !e->pci_owned || (e->pci.cfg[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

/* ---- PHY ---- */

/* The registers that say whether a partner is there. */
void e1000_phy_link_regs(struct e1000 *e)
{
    uint16_t *p = e->state.phy;
    bool up = e->state.link_up;
    p[E1000_PHY_STATUS] = up ? 0x796D : 0x7949;   /* + link, negotiation complete */
    p[0x05] = up ? 0x45E1 : 0;       /* the partner: the same, acknowledged, pause */
    p[0x06] = up ? 0x0001 : 0;
    p[0x0A] = up ? 0x3C00 : 0;       /* receivers OK, partner 1000 half/full */
    p[0x11] = up ? 0xAC00 : 0;       /* 1000, full duplex, resolved, link */
}

static void phy_reset(struct e1000 *e)
{
    uint16_t *p = e->state.phy;
    memset(p, 0, sizeof(e->state.phy));
    p[E1000_PHY_CTRL] = 0x1140;      /* autonegotiation on, full duplex, 1000 */
    p[E1000_PHY_ID1] = 0x0141;       /* Marvell */
    p[E1000_PHY_ID2] = 0x0C20;       /* 88E1011 */
    p[0x04] = 0x01E1;                /* we advertise 10/100 half/full */
    p[0x09] = 0x0300;                /* we advertise 1000 half/full */
    p[0x0F] = 0x3000;                /* 1000BASE-T capable */
    p[0x10] = 0x0068;
    p[0x14] = 0x0C60;
    e1000_phy_link_regs(e);
}

static bool phy_reg_readonly(unsigned reg)
{
    return reg == 0x01 || reg == 0x02 || reg == 0x03 || reg == 0x05 || reg == 0x06 ||
           reg == 0x0A || reg == 0x0F || reg == 0x11;
}

static void phy_write(struct e1000 *e, unsigned reg, uint16_t v)
{
    if (phy_reg_readonly(reg))
        return;
    if (reg == E1000_PHY_CTRL && (v & 0x8000)) {
        phy_reset(e);
        return;
    }
    /* Restart-negotiation self-clears: negotiation completes at once. */
    e->state.phy[reg] = reg == E1000_PHY_CTRL ? (uint16_t)(v & ~0x0200) : v;
}

static uint32_t mdic_access(struct e1000 *e, uint32_t v)
{
    unsigned phy = (v >> 21) & 31, reg = (v >> 16) & 31, op = v & (3u << 26);
    if (phy != PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE))
        return v | E1000_MDIC_READY | E1000_MDIC_ERROR;   /* nothing answers there */
    if (op == E1000_MDIC_OP_READ)
        v = (v & ~0xFFFFu) | e->state.phy[reg];
    else
        phy_write(e, reg, (uint16_t)v);
    if (v & MDIC_INT_EN)
        *e1000_reg(e, E1000_ICR) |= ICR_MDAC;
    return v | E1000_MDIC_READY;
}

/* ---- EEPROM ---- */

static void eeprom_init(struct e1000 *e, const uint8_t mac[6])
{
    uint16_t *w = e->state.eeprom;
    memset(w, 0, sizeof(e->state.eeprom));
    for (unsigned i = 0; i < 3; i++)
        w[i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
    w[0x0A] = 0x4000;                /* initialization control 1: signature "valid" */
    w[0x0B] = E1000_SUBSYS_ID;
    w[0x0C] = 0x8086;
    w[0x0D] = E1000_DEVICE_ID;
    w[0x0E] = 0x8086;
    uint16_t sum = 0;
    for (unsigned i = 0; i < E1000_EEPROM_WORDS - 1; i++)
        sum = (uint16_t)(sum + w[i]);
    w[E1000_EEPROM_WORDS - 1] = (uint16_t)(EEPROM_CHECKSUM - sum);
}

static uint32_t eecd_read(struct e1000 *e)
{
    uint32_t v = *e1000_reg(e, E1000_EECD) | E1000_EECD_PRES;
    if (v & E1000_EECD_REQ)
        v |= E1000_EECD_GNT;
    struct e1000_eeprom_wire *w = &e->wire;
    if (w->reading && w->out_bit >= 0) {
        unsigned word = (unsigned)(w->out_bit / 16) % E1000_EEPROM_WORDS, bit = 15 - (unsigned)w->out_bit % 16;
        if (e->state.eeprom[word] >> bit & 1)
            v |= E1000_EECD_DO;
    }
    return v;
}

/* Microwire: with CS high, each rising SK edge clocks DI in (start bit,
 * opcode, address) and then data out on DO, MSB first, word after word. */
static void eecd_write(struct e1000 *e, uint32_t v)
{
    struct e1000_eeprom_wire *w = &e->wire;
    bool cs = v & E1000_EECD_CS, sk = v & E1000_EECD_SK;
    if (!cs) {
        *w = (struct e1000_eeprom_wire){ .out_bit = -1 };
    } else if (sk && !w->sk) {
        if (w->reading) {
            w->out_bit++;
        } else if (w->nbits < 3 + EEPROM_ADDR_BITS) {
            w->in = w->in << 1 | ((v & E1000_EECD_DI) ? 1 : 0);
            if (++w->nbits == 3 + EEPROM_ADDR_BITS && (w->in >> EEPROM_ADDR_BITS) == EEPROM_READ_OP) {
                w->reading = true;
                w->out_bit = (int)(w->in & ((1u << EEPROM_ADDR_BITS) - 1)) * 16 - 1;
            }
        }
    }
    w->cs = cs;
    w->sk = sk;
    *e1000_reg(e, E1000_EECD) = v & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ | 0x30);
}

/* ---- reset ---- */

static void e1000_reset(struct e1000 *e)
{
    memset(e->state.regs, 0, sizeof(e->state.regs));
    *e1000_reg(e, E1000_CTRL) = CTRL_DEFAULT;
    *e1000_reg(e, E1000_VET) = 0x8100;
    /* The receive address the hardware loads from the EEPROM. */
    const uint16_t *w = e->state.eeprom;
    *e1000_reg(e, E1000_RAL0) = w[0] | (uint32_t)w[1] << 16;
    *e1000_reg(e, E1000_RAH0) = w[2] | E1000_RAH_AV;
    memset(&e->state.ctx, 0, sizeof(e->state.ctx));
    e->state.failed = false;
    e->wire = (struct e1000_eeprom_wire){ .out_bit = -1 };
    e->tx_len = 0;
    e->tx_bad = false;
    phy_reset(e);
    e1000_update_irq(e);
}

/* ---- MMIO ---- */

static uint32_t e1000_ioaddr(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    uint32_t a = e->ioaddr;
    pthread_mutex_unlock(&e->lock);
    return a;
}

static bool is_stat(unsigned off) { return off >= 0x4000 && off < 0x4100; }

uint64_t e1000_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct e1000 *e = opaque;
    unsigned off = (unsigned)offset & ~3u, shift = 8 * ((unsigned)offset & 3);
    if (offset >= E1000_REGS_END || (offset & 3) + size > 4)
        return 0;
    pthread_mutex_lock(&e->lock);
    uint32_t v = *e1000_reg(e, off);
    switch (off) {
    case E1000_STATUS:
        v = e->state.link_up ? STATUS_LINK : STATUS_LINK & ~E1000_STATUS_LU;
        break;
    case E1000_EECD:
        v = eecd_read(e);
        break;
    case E1000_ICR:                  /* reading acknowledges every cause */
        *e1000_reg(e, E1000_ICR) = 0;
        e1000_update_irq(e);
        break;
    case E1000_ICS:
    case E1000_IMC:
        v = 0;
        break;
    default:
        if (is_stat(off))            /* statistics clear when read */
            *e1000_reg(e, off) = 0;
    }
    pthread_mutex_unlock(&e->lock);
    return (v >> shift) & (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
}

static void tx_deferred(void *opaque)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    e->tx_scheduled = false;
    pthread_mutex_unlock(&e->lock);
    e1000_transmit(e);
}

bool e1000_schedule_tx(struct e1000 *e)
{
    if (!e->loop)
        return false;
    if (!e->tx_scheduled && event_loop_call(e->loop, tx_deferred, e) == 0)
        e->tx_scheduled = true;
    return true;
}

void e1000_rx_deferred(void *opaque)
{
    struct e1000 *e = opaque;
    net_backend_resume(e->nb);
}

void e1000_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct e1000 *e = opaque;
    unsigned off = (unsigned)offset & ~3u, shift = 8 * ((unsigned)offset & 3);
    if (offset >= E1000_REGS_END || (offset & 3) + size > 4)
        return;
    pthread_mutex_lock(&e->lock);
    uint32_t *r = e1000_reg(e, off);
    uint32_t m = (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << shift;
    uint32_t v = (*r & ~m) | ((uint32_t)value << shift & m);
    bool kick_tx = false, kick_rx = false;
    switch (off) {
    case E1000_CTRL:
        if (v & E1000_CTRL_RST) {
            e1000_reset(e);
            break;
        }
        if ((v & E1000_CTRL_PHY_RST) && !(*r & E1000_CTRL_PHY_RST))
            phy_reset(e);
        *r = v;
        break;
    case E1000_STATUS:
        break;
    case E1000_EECD:
        eecd_write(e, v);
        break;
    case E1000_EERD:
        if (v & 1) {
            unsigned a = (v >> 8) & 0xFF;
            *r = (uint32_t)(a < E1000_EEPROM_WORDS ? e->state.eeprom[a] : 0) << 16 | a << 8 | 1u << 4;
        }
        break;
    case E1000_MDIC:
        *r = mdic_access(e, v);
        break;
    case E1000_ICR:                  /* writing 1s clears those causes */
        *r &= ~v;
        break;
    case E1000_ICS:
        *e1000_reg(e, E1000_ICR) |= v;
        break;
    case E1000_IMS:
        *r |= v;
        break;
    case E1000_IMC:
        *e1000_reg(e, E1000_IMS) &= ~v;
        break;
    case E1000_RDBAL:
    case E1000_TDBAL:
        *r = v & ~0xFu;
        break;
    case E1000_RDLEN:
    case E1000_TDLEN:
        *r = v & 0xFFF80;
        break;
    case E1000_RDH:
    case E1000_TDH:
        *r = v & 0xFFFF;
        break;
    case E1000_RDT:
    case E1000_RCTL:
        *r = off == E1000_RDT ? v & 0xFFFF : v;
        kick_rx = true;              /* new buffers: frames held back can go in */
        break;
    case E1000_TDT:
    case E1000_TCTL:
        *r = off == E1000_TDT ? v & 0xFFFF : v;
        kick_tx = true;
        break;
    default:
        if (!is_stat(off))
            *r = v;
    }
    e1000_update_irq(e);
    if (kick_tx && e1000_schedule_tx(e))
        kick_tx = false;
    if (kick_rx && e->loop) {
        event_loop_call(e->loop, e1000_rx_deferred, e);
        kick_rx = false;
    }
    pthread_mutex_unlock(&e->lock);
    /* No I/O thread (unit tests): do it here, outside the lock. */
    if (kick_tx)
        e1000_transmit(e);
    if (kick_rx)
        net_backend_resume(e->nb);
}

static const struct io_ops e1000_mmio_ops = { .read = e1000_mmio_read, .write = e1000_mmio_write };

/* The I/O window (IOADDR at 0, IODATA at 4): Linux's e1000 issues the
 * global reset of an 82540 through it, since that write is not acked. */
uint64_t e1000_io_read(void *opaque, uint64_t offset, unsigned size)
{
    struct e1000 *e = opaque;
    if (offset == 0 && size == 4)
        return e1000_ioaddr(e);
    return offset == 4 && size == 4 ? e1000_mmio_read(e, e1000_ioaddr(e), 4) : 0;
}

void e1000_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct e1000 *e = opaque;
    if (offset == 0 && size == 4) {
        pthread_mutex_lock(&e->lock);
        e->ioaddr = (uint32_t)value & (E1000_MMIO_SIZE - 4);
        pthread_mutex_unlock(&e->lock);
    } else if (offset == 4 && size == 4) {
        e1000_mmio_write(e, e1000_ioaddr(e), value, 4);
    }
}

static const struct io_ops e1000_io_ops = { .read = e1000_io_read, .write = e1000_io_write };

void e1000_set_link(struct e1000 *e, bool up)
{
    pthread_mutex_lock(&e->lock);
    if (e->state.link_up != up) {
        e->state.link_up = up;
        e1000_phy_link_regs(e);
        /* Link status change: the driver rereads the PHY and sets its carrier. */
        e1000_set_icr(e, E1000_ICR_LSC);
    }
    pthread_mutex_unlock(&e->lock);
}

static void e1000_link_cb(void *opaque, bool up)
{
    e1000_set_link(opaque, up);
}

struct e1000 *e1000_new(const struct guest_mem *mem, struct net_backend *nb, struct event_loop *loop,
                        const uint8_t mac[6])
{
    struct e1000 *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->itr_timer = -1;
    e->tx_buf = malloc(NET_MAX_FRAME);
    e->seg_buf = malloc(NET_MAX_FRAME);
    e->rx_buf = malloc(NET_MAX_FRAME + 64);
    if (!e->tx_buf || !e->seg_buf || !e->rx_buf) {
        e1000_free(e);
        return NULL;
    }
    e->mem = mem;
    e->nb = nb;
    e->loop = loop;
    pthread_mutex_init(&e->lock, NULL);
    e->itr_timer = loop ? event_loop_add_timer(loop, itr_expired, e) : -1;
    if (loop && e->itr_timer < 0) {
        e1000_free(e);
        return NULL;
    }
    e->state.version = E1000_STATE_VERSION;
    e->state.link_up = true;
    eeprom_init(e, mac);
    e1000_reset(e);
    if (nb)
        net_backend_set_client(nb, &(struct net_client){ .receive = e1000_receive, .set_link = e1000_link_cb,
                                                         .opaque = e });
    return e;
}

void e1000_free(struct e1000 *e)
{
    if (!e)
        return;
    if (e->nb)
        net_backend_set_client(e->nb, &(struct net_client){ 0 });
    if (e->itr_timer >= 0) {
        event_loop_del(e->loop, e->itr_timer);
        close(e->itr_timer);
    }
    free(e->tx_buf);
    free(e->seg_buf);
    free(e->rx_buf);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

int e1000_create(struct vm *vm, struct net_backend *nb, const uint8_t mac[6])
{
    struct e1000 *e = e1000_new(&vm->mem, nb, vm->loop, mac);
    if (!e)
        return -ENOMEM;
    pci_device_init(&e->pci, "e1000", 0x8086, E1000_DEVICE_ID, 0x020000, 3, 0x8086, E1000_SUBSYS_ID);
    pci_device_set_bar(&e->pci, 0, E1000_MMIO_SIZE, 0, &e1000_mmio_ops, e);
    pci_device_set_bar(&e->pci, 1, E1000_IO_SIZE, PCI_BAR_IO, &e1000_io_ops, e);
    pci_device_set_intx(&e->pci, 1);
    e->pci.opaque = e;
    e->pci_owned = true;
    int r = pci_bus_add(vm->pci, &e->pci);
    if (r < 0) {
        e1000_free(e);
        return r;
    }
    return e1000_register_state(vm, e);   /* the PCI bus holds it now */
}
