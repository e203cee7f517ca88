/* PCI Express host bridge (bus 0 only), configuration space through both
 * the legacy 0xCF8/0xCFC mechanism and ECAM, and BAR placement. The VMM
 * assigns BARs before boot (no firmware yet) and follows the guest when it
 * sizes or moves them, remapping the device's io_ops on the buses. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "core/bus.h"

struct vm;

#define PCI_CFG_SIZE       4096
#define PCI_NUM_BARS       6
#define PCI_ROM_BAR        PCI_NUM_BARS  /* bars[] index of the expansion ROM */
#define PCI_MAX_DEVICES    32

#define PCI_BAR_IO         0x1
#define PCI_BAR_MEM64      0x4
#define PCI_BAR_PREFETCH   0x8
#define PCI_BAR_UNMAPPED   UINT64_MAX  /* bar_remap: "not mapped" */

/* Standard header offsets and bits used outside pci.c */
#define PCI_COMMAND            0x04
#define PCI_COMMAND_IO         0x0001
#define PCI_COMMAND_MEMORY     0x0002
#define PCI_COMMAND_MASTER     0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS             0x06
#define PCI_STATUS_INTERRUPT   0x0008
#define PCI_STATUS_CAP_LIST    0x0010
#define PCI_BAR0               0x10
#define PCI_ROM_ADDRESS        0x30
#define PCI_ROM_ADDRESS_ENABLE 0x1
#define PCI_CAPABILITY_LIST    0x34
#define PCI_INTERRUPT_LINE     0x3C
#define PCI_INTERRUPT_PIN      0x3D

struct pci_bar {
    uint64_t size;                   /* power of two; 0 = unused */
    unsigned flags;                  /* PCI_BAR_* */
    const struct io_ops *ops;
    void *opaque;
    uint64_t addr;                   /* current guest address */
    bool mapped;                     /* registered on a bus now */
};

struct pci_device;
struct pci_device_ops {
    /* Called after the generic code has applied a config write (for
     * capabilities such as MSI-X enable); may be NULL. */
    void (*config_write)(struct pci_device *dev, unsigned offset, uint32_t value, unsigned size);
    /* Called when a BAR's mapping changes (e.g. to move ioeventfds); may be
     * NULL. old_addr is where it was mapped, new_addr where it is mapped
     * now; either is PCI_BAR_UNMAPPED when not mapped (mapped says which).
     * Also called once from pci_bus_add() for the initial placement.
     * Callbacks run without the bus lock, so they may take the device's
     * own lock and call pci_device_set_irq(). */
    void (*bar_remap)(struct pci_device *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr, bool mapped);
};

struct pci_device {
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];     /* bits the guest may write */
    uint8_t w1cmask[PCI_CFG_SIZE];   /* write-1-to-clear bits */
    struct pci_bar bars[PCI_NUM_BARS + 1];   /* + the expansion ROM */
    const struct pci_device_ops *ops;
    void *opaque;                    /* owner (e.g. the virtio transport) */
    struct pci_bus *bus;
    unsigned slot;                   /* device number on bus 0 */
    unsigned gsi;                    /* INTx line, from platform.h routing */
    uint8_t last_cap;                /* offset of the last capability, 0 if none */
    uint16_t cap_end;                /* first free byte after the capabilities */
    const char *name;
    uint8_t reset_cfg[256];          /* header as placed by pci_bus_add(), for reset */
};

struct pci_bus {
    struct vm *vm;
    pthread_mutex_t lock;
    struct pci_device *devices[PCI_MAX_DEVICES];
    struct pci_device host_bridge;
    uint32_t config_address;         /* latched 0xCF8 value */
    uint8_t reset_control;           /* 0xCF9 (bits 1 and 3 are kept) */
    uint64_t mmio32_next, io_next;   /* BAR allocators */
    struct io_bus *pio, *mmio;
    bool firmware_assigns;           /* BARs start unassigned, decoding off */
};

/* Sets vendor/device/class/revision and the write masks of a type-0 header. */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision,
                     uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares a BAR before pci_bus_add(); size is rounded up to a power of two. */
void pci_device_set_bar(struct pci_device *dev, unsigned bar, uint64_t size, unsigned flags,
                        const struct io_ops *ops, void *opaque);
/* Declares an expansion ROM of @size bytes (read through @ops) before
 * pci_bus_add(); it decodes only while the guest sets the ROM enable bit. */
void pci_device_set_rom(struct pci_device *dev, uint64_t size, const struct io_ops *ops, void *opaque);
/* Appends a capability of @len bytes (id + next filled in); returns its offset or 0 when full. */
unsigned pci_device_add_capability(struct pci_device *dev, uint8_t cap_id, unsigned len);
/* Sets the INTx pin (1 = INTA) so the guest sees a legacy interrupt line. */
void pci_device_set_intx(struct pci_device *dev, unsigned pin);
/* Asserts / deasserts INTx (sets the interrupt status bit, honours INTx disable). */
void pci_device_set_irq(struct pci_device *dev, int level);

/* Creates bus 0 with the host bridge at 00:00.0 and hooks 0xCF8-0xCFF
 * (including the 0xCF9 reset control byte) and ECAM. */
int pci_bus_init(struct pci_bus *bus, struct vm *vm, struct io_bus *pio, struct io_bus *mmio);
/* Plugs a device into the next free slot, places and maps its BARs with
 * I/O and memory decoding on (as firmware leaves them; bus mastering is
 * the driver's to enable). Returns the slot or -errno. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev);
/* As pci_bus_add, in slot @slot (-EBUSY if taken). */
int pci_bus_add_at(struct pci_bus *bus, struct pci_device *dev, unsigned slot);
/* Firmware boot: devices added from now on come up as after a PCI reset,
 * BARs zero and decoding off, for the firmware to assign (it may put them
 * anywhere, so the VMM's own placement could only get in its way). */
void pci_bus_set_firmware_assigns(struct pci_bus *bus);
/* Returns every header (and capability) to its state after pci_bus_add():
 * BARs at the VMM's placement, MSI/MSI-X off, INTx lowered. For an
 * in-process reset; a reboot that re-executes the VMM does not need it. */
void pci_bus_reset(struct pci_bus *bus);
/* Registers every header (BARs, MSI-X enable, INTx status...) as the "pci"
 * state section; done by pci_bus_init() when it has a VM. */
int pci_bus_register_state(struct pci_bus *bus);

/* Config space access, as reached from either mechanism (exposed for unit tests). */
uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, uint32_t value, unsigned size);
