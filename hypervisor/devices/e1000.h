/* Intel 82540EM Gigabit Ethernet (e1000, 8086:100E): the NIC every guest OS
 * has a driver for (Windows installers, BSDs, Linux's e1000), for guests
 * without virtio drivers. Legacy and extended (context + data) transmit
 * descriptors with checksum and TCP segmentation offload, legacy receive
 * descriptors, the Microwire EEPROM (MAC, checksum), an M88E1011 PHY behind
 * MDIC, INTx through ICR/IMS/IMC. Frames go to the same backends as
 * virtio-net (net/net.h). Internals shared with the unit tests, which drive
 * the registers on fake guest memory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct guest_mem;
struct event_loop;
struct net_backend;
struct e1000;

#define E1000_MMIO_SIZE  0x20000
#define E1000_IO_SIZE    0x40

/* Registers (82540EM datasheet, section 13) */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EECD     0x0010
#define E1000_EERD     0x0014
#define E1000_MDIC     0x0020
#define E1000_VET      0x0038
#define E1000_ICR      0x00C0
#define E1000_ITR      0x00C4
#define E1000_ICS      0x00C8
#define E1000_IMS      0x00D0
#define E1000_IMC      0x00D8
#define E1000_RCTL     0x0100
#define E1000_TCTL     0x0400
#define E1000_RDBAL    0x2800
#define E1000_RDBAH    0x2804
#define E1000_RDLEN    0x2808
#define E1000_RDH      0x2810
#define E1000_RDT      0x2818
#define E1000_TDBAL    0x3800
#define E1000_TDBAH    0x3804
#define E1000_TDLEN    0x3808
#define E1000_TDH      0x3810
#define E1000_TDT      0x3818
#define E1000_GPRC     0x4074
#define E1000_GPTC     0x4080
#define E1000_GORCL    0x4088
#define E1000_GOTCL    0x4090
#define E1000_TPR      0x40D0
#define E1000_TPT      0x40D4
#define E1000_RXCSUM   0x5000
#define E1000_MTA      0x5200
#define E1000_RAL0     0x5400
#define E1000_RAH0     0x5404
#define E1000_REGS_END 0x6000        /* registers kept; above reads 0 */

#define E1000_CTRL_SLU      (1u << 6)
#define E1000_CTRL_RST      (1u << 26)
#define E1000_CTRL_VME      (1u << 30)
#define E1000_CTRL_PHY_RST  (1u << 31)
#define E1000_STATUS_LU     (1u << 1)
#define E1000_EECD_SK       (1u << 0)
#define E1000_EECD_CS       (1u << 1)
#define E1000_EECD_DI       (1u << 2)
#define E1000_EECD_DO       (1u << 3)
#define E1000_EECD_REQ      (1u << 6)
#define E1000_EECD_GNT      (1u << 7)
#define E1000_EECD_PRES     (1u << 8)
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_OP_READ  (2u << 26)
#define E1000_MDIC_READY    (1u << 28)
#define E1000_MDIC_ERROR    (1u << 30)
#define E1000_ICR_TXDW      (1u << 0)
#define E1000_ICR_TXQE      (1u << 1)
#define E1000_ICR_LSC       (1u << 2)
#define E1000_ICR_RXDMT0    (1u << 4)
#define E1000_ICR_RXT0      (1u << 7)
#define E1000_RCTL_EN       (1u << 1)
#define E1000_RCTL_UPE      (1u << 3)
#define E1000_RCTL_MPE      (1u << 4)
#define E1000_RCTL_BAM      (1u << 15)
#define E1000_RCTL_SECRC    (1u << 26)
#define E1000_TCTL_EN       (1u << 1)
#define E1000_RAH_AV        (1u << 31)

/* Descriptor bits */
#define E1000_TXD_CMD_EOP   0x01
#define E1000_TXD_CMD_IC    0x04
#define E1000_TXD_CMD_RS    0x08
#define E1000_TXD_CMD_TSE   0x04     /* in an extended descriptor's command */
#define E1000_TXD_CMD_DEXT  0x20
#define E1000_TXD_CMD_VLE   0x40
#define E1000_TXD_STA_DD    0x01
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TUCMD_TCP     0x01
#define E1000_TUCMD_IP      0x02
#define E1000_RXD_STA_DD    0x01
#define E1000_RXD_STA_EOP   0x02
#define E1000_RXD_STA_IXSM  0x04
#define E1000_RXD_STA_VP    0x08

/* PHY registers (MII + Marvell M88E1011) */
#define E1000_PHY_CTRL      0x00
#define E1000_PHY_STATUS    0x01
#define E1000_PHY_ID1       0x02
#define E1000_PHY_ID2       0x03

struct e1000 *e1000_new(const struct guest_mem *mem, struct net_backend *nb, struct event_loop *loop,
                        const uint8_t mac[6]);
void e1000_free(struct e1000 *e);
uint64_t e1000_mmio_read(void *opaque, uint64_t offset, unsigned size);
void e1000_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);
bool e1000_irq_level(struct e1000 *e);
/* The I/O BAR: IOADDR (offset 0) selects a register, IODATA (4) accesses it. */
uint64_t e1000_io_read(void *opaque, uint64_t offset, unsigned size);
void e1000_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);
/* Cable in (up) or pulled: STATUS.LU and the PHY follow, with a link status change interrupt. */
void e1000_set_link(struct e1000 *e, bool up);
/* True once guest input stopped the device (until CTRL.RST). */
bool e1000_failed(struct e1000 *e);
/* Without an event loop (unit tests) a TDT write transmits at once, and
 * the device counts as bus master. */
int e1000_create(struct vm *vm, struct net_backend *nb, const uint8_t mac[6]);
/* Live snapshots ("e1000" in the state registry): save() writes the state
 * to @buf (-ENOSPC below its size); load() refuses another NIC's (MAC) or
 * an inconsistent state with -EINVAL and changes nothing, else applies it,
 * re-drives INTx and restarts transmit / held-back receive. */
long e1000_state_save(struct e1000 *e, void *buf, size_t max);
int e1000_state_load(struct e1000 *e, const void *buf, size_t len);
