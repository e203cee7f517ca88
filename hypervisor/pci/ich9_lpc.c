/* ICH9 LPC bridge (00:1f.0) as SeaBIOS's q35 path programs it. The
 * registers read back; what they would route is fixed in this machine: the
 * ACPI PM block sits at PLAT_PM_BASE (0x600, which SeaBIOS also picks when
 * the VMM supplies the ACPI tables), the SCI is IRQ 9, and PCI INTx go to
 * IOAPIC pins 16-23 as the DSDT's _PRT says. PIRQ routing only matters to
 * an OS on the 8259s, which this machine does not offer for PCI. */
#include "q35_mch.h"
#include "pci.h"
#include "core/bus.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LPC_PMBASE      0x40
#define LPC_ACPI_CNTL   0x44
#define LPC_GPIOBASE    0x48
#define LPC_GC          0x4C
#define LPC_PIRQA_ROUT  0x60
#define LPC_PIRQE_ROUT  0x68
#define LPC_GEN_PMCON_1 0xA0
#define LPC_RCBA        0xF0
#define PIRQ_DISABLED   0x80

#define APM_PORT        0xB2          /* APM_CNT 0xB2, APM_STS 0xB3 */

struct ich9_lpc {
    struct pci_device pci;
    pthread_mutex_t lock;
    uint8_t apm_cnt, apm_sts;
};

static void put(uint8_t *a, unsigned off, uint32_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        a[off + i] = (uint8_t)(v >> (8 * i));
}

/* There is no SMM here: a command written to APM_CNT would raise an SMI
 * whose handler does nothing, so it completes at once and clears the
 * status byte firmware polls (SeaBIOS's SMM relocation waits on it). */
static uint64_t apm_read(void *opaque, uint64_t offset, unsigned size)
{
    struct ich9_lpc *l = opaque;
    pthread_mutex_lock(&l->lock);
    uint64_t v = offset == 0 ? l->apm_cnt : l->apm_sts;
    if (size == 2 && offset == 0)
        v |= (uint64_t)l->apm_sts << 8;
    pthread_mutex_unlock(&l->lock);
    return v;
}

static void apm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct ich9_lpc *l = opaque;
    pthread_mutex_lock(&l->lock);
    if (offset == 1) {
        l->apm_sts = (uint8_t)value;
    } else {
        l->apm_cnt = (uint8_t)value;
        l->apm_sts = 0;
    }
    pthread_mutex_unlock(&l->lock);
}

static const struct io_ops apm_ops = { .read = apm_read, .write = apm_write };

/* Snapshots: the APM bytes (the PCI header is the "pci" section's). */
#define LPC_STATE_VERSION 1
struct ich9_lpc_state {
    uint32_t version;
    uint8_t apm_cnt, apm_sts, pad[2];
};

static long lpc_save(void *opaque, void *buf, size_t max)
{
    struct ich9_lpc *l = opaque;
    struct ich9_lpc_state s = { .version = LPC_STATE_VERSION };
    pthread_mutex_lock(&l->lock);
    s.apm_cnt = l->apm_cnt;
    s.apm_sts = l->apm_sts;
    pthread_mutex_unlock(&l->lock);
    return state_save_struct(buf, max, &s, sizeof(s));
}

static int lpc_load(void *opaque, const void *buf, size_t len)
{
    struct ich9_lpc *l = opaque;
    struct ich9_lpc_state s;
    if (state_check_size(len, sizeof(s)) < 0)
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    if (s.version != LPC_STATE_VERSION)
        return -EINVAL;
    pthread_mutex_lock(&l->lock);
    l->apm_cnt = s.apm_cnt;
    l->apm_sts = s.apm_sts;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static const struct state_ops lpc_state_ops = { .version = LPC_STATE_VERSION, .save = lpc_save, .load = lpc_load };

int ich9_lpc_create(struct vm *vm)
{
    struct ich9_lpc *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    struct pci_device *d = &l->pci;
    pci_device_init(d, "ich9-lpc", 0x8086, 0x2918, 0x060100, 2, 0x1AF4, 0x1100);
    put(d->cfg, LPC_PMBASE, 0x00000001, 4);              /* bit 0: I/O space */
    put(d->wmask, LPC_PMBASE, 0x0000FF80, 4);
    d->wmask[LPC_ACPI_CNTL] = 0x87;                     /* ACPI_EN, SCI IRQ select */
    put(d->cfg, LPC_GPIOBASE, 0x00000001, 4);
    put(d->wmask, LPC_GPIOBASE, 0x0000FFC0, 4);
    d->wmask[LPC_GC] = 0x10;
    for (unsigned i = 0; i < 4; i++) {
        d->cfg[LPC_PIRQA_ROUT + i] = d->cfg[LPC_PIRQE_ROUT + i] = PIRQ_DISABLED;
        d->wmask[LPC_PIRQA_ROUT + i] = d->wmask[LPC_PIRQE_ROUT + i] = 0x8F;
    }
    put(d->wmask, LPC_GEN_PMCON_1, 0xFFFF, 2);
    put(d->wmask, LPC_RCBA, 0xFFFFC001u, 4);
    int r = io_bus_register(&vm->pio, APM_PORT, 2, &apm_ops, l);
    if (r == 0 && (r = pci_bus_add_at(vm->pci, d, Q35_LPC_SLOT)) < 0)
        io_bus_unregister(&vm->pio, APM_PORT);
    if (r < 0) {
        free(l);
        return r;
    }
    return vm_state_register(vm, "ich9-lpc", &lpc_state_ops, l);
}
