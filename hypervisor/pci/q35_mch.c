/* MCH (Q35 host bridge) registers. The PAM registers read back what the
 * firmware writes, but 0xC0000-0xFFFFF is always RAM: the image's low
 * 128 KiB is copied there before the vCPUs start, so "read from ROM" and
 * "read from shadow RAM" see the same bytes, and a reset re-executes the
 * VMM with fresh RAM, so no mode ever needs the ROM back. Likewise ECAM
 * decodes at PLAT_ECAM_BASE whatever PCIEXBAR says; SeaBIOS programs that
 * very address (Q35_HOST_BRIDGE_PCIEXBAR_ADDR). */
#include "q35_mch.h"
#include "pci.h"
#include "core/platform.h"

#include <string.h>

#define MCH_PCIEXBAR   0x60           /* 64-bit: base, length, enable */
#define MCH_PAM0       0x90           /* PAM0..PAM6 */
#define MCH_PAM_COUNT  7
#define MCH_SMRAM      0x9D
#define MCH_ESMRAMC    0x9E
#define MCH_TOLUD      0xB0           /* bits 15:4 = top of low usable DRAM [31:20] */

static void put(uint8_t *a, unsigned off, uint32_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        a[off + i] = (uint8_t)(v >> (8 * i));
}

void q35_mch_setup(struct pci_bus *bus, uint64_t lowmem_top)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_device *hb = &bus->host_bridge;
    /* The subsystem IDs are how SeaBIOS knows it runs on a QEMU-like
     * machine and so reads fw_cfg. */
    put(hb->cfg, 0x2C, 0x1AF4, 2);
    put(hb->cfg, 0x2E, 0x1100, 2);
    put(hb->wmask, MCH_PCIEXBAR, 0xF0000007u, 4);      /* 256 MiB aligned base, length, enable */
    put(hb->wmask, MCH_PCIEXBAR + 4, 0x0000000Fu, 4);
    hb->wmask[MCH_PAM0] = 0x30;                          /* PAM0 covers 0xF0000 only (high nibble) */
    for (unsigned i = 1; i < MCH_PAM_COUNT; i++)
        hb->wmask[MCH_PAM0 + i] = 0x33;
    hb->cfg[MCH_SMRAM] = 0x02;                           /* C_BASE_SEG: compatible SMRAM at 0xA0000 */
    hb->wmask[MCH_SMRAM] = 0x78;
    hb->cfg[MCH_ESMRAMC] = 0x38;
    put(hb->cfg, MCH_TOLUD, (uint32_t)(lowmem_top >> 16) & 0xFFF0, 2);
    memcpy(hb->reset_cfg, hb->cfg, sizeof(hb->reset_cfg));
    pthread_mutex_unlock(&bus->lock);
}
