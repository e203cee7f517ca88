/* Between e1000.c (registers, EEPROM, PHY, interrupts) and e1000_rxtx.c
 * (descriptor rings). */
#pragma once
#include "e1000.h"
#include "net/net.h"
#include "pci/pci.h"

#include <pthread.h>

#define E1000_EEPROM_WORDS 64
#define E1000_TX_BUDGET  128         /* frames per run before yielding the I/O thread */

/* The transmit context a context descriptor loads (kept across frames). */
struct e1000_tx_ctx {
    uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdr_len;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
};

#define E1000_STATE_VERSION 1
struct e1000_state {
    uint32_t version;
    uint32_t regs[E1000_REGS_END / 4];
    uint16_t phy[32];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    struct e1000_tx_ctx ctx;
    bool link_up;
    bool failed;                     /* guest input stopped the device */
};

/* Microwire EEPROM as the driver bit-bangs it through EECD. */
struct e1000_eeprom_wire {
    bool sk, cs, reading;
    unsigned nbits;                  /* bits clocked in since CS rose */
    uint32_t in;
    int out_bit;                     /* bit position being shifted out */
};

struct e1000 {
    struct pci_device pci;
    const struct guest_mem *mem;
    struct net_backend *nb;
    struct event_loop *loop;
    pthread_mutex_t lock;
    struct e1000_state state;
    struct e1000_eeprom_wire wire;
    bool pci_owned, tx_scheduled;
    /* Interrupt throttling (ITR): the line as the guest sees it, when it
     * may next rise, and the timer that raises it then. */
    bool irq_line, itr_armed;
    uint64_t irq_next_ns;
    int itr_timer;                   /* -1 without an event loop: ITR unused */
    uint32_t ioaddr;                 /* I/O window: the register IODATA reaches */
    /* The frame being gathered from transmit descriptors. */
    uint8_t *tx_buf, *seg_buf;
    size_t tx_len;
    bool tx_bad;                     /* too long: dropped at its EOP */
    uint8_t tx_popts;
    uint8_t *rx_buf;
};

static inline uint32_t *e1000_reg(struct e1000 *e, unsigned off) { return &e->state.regs[off / 4]; }

/* Drives INTx from ICR & IMS, no sooner than ITR allows after the last
 * assertion; lock held. */
void e1000_update_irq(struct e1000 *e);
void e1000_set_icr(struct e1000 *e, uint32_t bits);
/* Stops the device until reset: a guest fed it something unusable. */
void e1000_fail(struct e1000 *e, const char *why);
bool e1000_dma_allowed(struct e1000 *e);
/* Queues a transmit run on the I/O thread (once); lock held. False without a loop. */
bool e1000_schedule_tx(struct e1000 *e);
/* The PHY's link registers as e->state.link_up says; lock held. */
void e1000_phy_link_regs(struct e1000 *e);
/* Lets the backend deliver what it held back (I/O thread). */
void e1000_rx_deferred(void *opaque);

/* e1000_state.c: the saved state (shared with the unit tests, which forge hostile ones) */
#define E1000_SAVED_VERSION 1

struct e1000_saved {
    uint32_t version;
    uint32_t regs[E1000_REGS_END / 4];
    uint16_t phy[32];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    struct e1000_tx_ctx ctx;
    uint8_t link_up, failed, tx_bad, tx_popts;
    uint8_t wire_sk, wire_cs, wire_reading, pad;
    uint32_t wire_nbits, wire_in;
    int32_t wire_out_bit;
    uint32_t ioaddr;
    uint32_t tx_len;
    uint8_t tx_frame[NET_MAX_FRAME];
};

int e1000_register_state(struct vm *vm, struct e1000 *e);

/* e1000_rxtx.c */
bool e1000_receive(void *opaque, const uint8_t *frame, size_t len);
/* Transmits what the guest queued (I/O thread; takes the lock itself). */
void e1000_transmit(struct e1000 *e);
