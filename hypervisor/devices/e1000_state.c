/* e1000 state for live snapshots: the register file, PHY, EEPROM (so the
 * MAC), transmit context, the EEPROM wire and I/O window, and a frame
 * half-gathered from transmit descriptors (its descriptors are already
 * consumed, so it must travel with the state). Frames the backend holds
 * back and the backend's own connections are not saved: after a revert
 * the network carries on from now, and the link is the host's cable. */
#include "e1000_int.h"
#include "core/event_loop.h"
#include "core/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_bool(uint8_t v) { return v <= 1; }

long e1000_state_save(struct e1000 *e, void *buf, size_t max)
{
    if (max < sizeof(struct e1000_saved))
        return -ENOSPC;
    struct e1000_saved *s = buf;
    memset(s, 0, offsetof(struct e1000_saved, tx_frame));
    pthread_mutex_lock(&e->lock);
    s->version = E1000_SAVED_VERSION;
    memcpy(s->regs, e->state.regs, sizeof(s->regs));
    memcpy(s->phy, e->state.phy, sizeof(s->phy));
    memcpy(s->eeprom, e->state.eeprom, sizeof(s->eeprom));
    s->ctx = e->state.ctx;
    s->link_up = e->state.link_up;
    s->failed = e->state.failed;
    s->tx_bad = e->tx_bad;
    s->tx_popts = e->tx_popts;
    s->wire_sk = e->wire.sk;
    s->wire_cs = e->wire.cs;
    s->wire_reading = e->wire.reading;
    s->wire_nbits = e->wire.nbits;
    s->wire_in = e->wire.in;
    s->wire_out_bit = e->wire.out_bit;
    s->ioaddr = e->ioaddr;
    s->tx_len = (uint32_t)e->tx_len;
    memcpy(s->tx_frame, e->tx_buf, e->tx_len);
    memset(s->tx_frame + e->tx_len, 0, sizeof(s->tx_frame) - e->tx_len);
    pthread_mutex_unlock(&e->lock);
    return (long)sizeof(*s);
}

/* Everything a hostile file could put where the device trusts its own
 * bookkeeping; guest-programmed registers (rings, heads, tails) are checked
 * where they are used, as when the guest writes them. */
static int check(const struct e1000 *e, const struct e1000_saved *s)
{
    if (s->version != E1000_SAVED_VERSION)
        return -EINVAL;
    if (memcmp(s->eeprom, e->state.eeprom, sizeof(s->eeprom)))
        return -EINVAL;              /* another NIC (another MAC) */
    if (!is_bool(s->link_up) || !is_bool(s->failed) || !is_bool(s->tx_bad) || !is_bool(s->wire_sk) ||
        !is_bool(s->wire_cs) || !is_bool(s->wire_reading))
        return -EINVAL;
    if (s->wire_nbits > 9 || s->wire_out_bit < -1 || s->wire_out_bit > E1000_EEPROM_WORDS * 16 * 1024)
        return -EINVAL;
    if (s->ioaddr >= E1000_MMIO_SIZE || (s->ioaddr & 3) || s->tx_len > NET_MAX_FRAME - 4)
        return -EINVAL;
    return 0;
}

int e1000_state_load(struct e1000 *e, const void *buf, size_t len)
{
    if (state_check_size(len, sizeof(struct e1000_saved)) < 0)
        return -EINVAL;
    const struct e1000_saved *s = buf;
    int r = check(e, s);
    if (r < 0)
        return r;
    pthread_mutex_lock(&e->lock);
    memcpy(e->state.regs, s->regs, sizeof(s->regs));
    memcpy(e->state.phy, s->phy, sizeof(s->phy));
    e->state.ctx = s->ctx;
    e->state.failed = s->failed;
    e->tx_bad = s->tx_bad;
    e->tx_popts = s->tx_popts;
    e->wire = (struct e1000_eeprom_wire){ .sk = s->wire_sk, .cs = s->wire_cs, .reading = s->wire_reading,
                                          .nbits = s->wire_nbits, .in = s->wire_in, .out_bit = s->wire_out_bit };
    e->ioaddr = s->ioaddr;
    e->tx_len = s->tx_len;
    memcpy(e->tx_buf, s->tx_frame, s->tx_len);
    /* The cable is the host's now (e->state.link_up follows the backend):
     * if it changed since the save, the driver hears of it. */
    e1000_phy_link_regs(e);
    if ((bool)s->link_up != e->state.link_up)
        *e1000_reg(e, E1000_ICR) |= E1000_ICR_LSC;
    e1000_update_irq(e);
    /* Descriptors the guest queued before the save go out; frames held
     * for lack of buffers may go in. */
    if (*e1000_reg(e, E1000_TDH) != *e1000_reg(e, E1000_TDT))
        e1000_schedule_tx(e);
    if (e->loop)
        event_loop_call(e->loop, e1000_rx_deferred, e);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

static long save_cb(void *opaque, void *buf, size_t max) { return e1000_state_save(opaque, buf, max); }
static int load_cb(void *opaque, const void *buf, size_t len) { return e1000_state_load(opaque, buf, len); }

static const struct state_ops e1000_state_ops = {
    .version = E1000_SAVED_VERSION, .save = save_cb, .load = load_cb,
};

int e1000_register_state(struct vm *vm, struct e1000 *e)
{
    return vm_state_register(vm, "e1000", &e1000_state_ops, e);
}
