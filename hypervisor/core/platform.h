/* The PC platform domus-vmm presents: one memory and I/O map shared by the
 * loader, the ACPI tables and the devices, so they can never disagree.
 * Modelled on a q35-like machine so firmware boot can come later. */
#pragma once
#include <stdint.h>

/* Guest physical memory map */
#define PLAT_LOWMEM_TOP        0xB0000000ULL  /* RAM below 4 GiB ends here (PCI hole) */
#define PLAT_ECAM_BASE         0xB0000000ULL  /* PCIe ECAM, 256 buses x 1 MiB */
#define PLAT_ECAM_SIZE         0x10000000ULL
#define PLAT_ECAM_BUSES        256
#define PLAT_PCI_MMIO32_BASE   0xC0000000ULL  /* 32-bit BAR window */
#define PLAT_PCI_MMIO32_SIZE   0x3EC00000ULL  /* up to 0xFEC00000 */
#define PLAT_IOAPIC_BASE       0xFEC00000ULL
#define PLAT_LAPIC_BASE        0xFEE00000ULL
#define PLAT_HIGHMEM_BASE      0x100000000ULL /* RAM above the hole continues here */
#define PLAT_PCI_MMIO64_SIZE   0x1000000000ULL /* 64 GiB, placed after high RAM, 1 GiB aligned */

/* Low memory layout used by direct kernel boot */
#define PLAT_GDT_ADDR          0x00000500ULL
#define PLAT_BOOT_PARAMS_ADDR  0x00007000ULL
#define PLAT_PML4_ADDR         0x00009000ULL  /* + PDPT at 0xA000, 4 PDs at 0xB000..0xEFFF */
#define PLAT_CMDLINE_ADDR      0x00020000ULL
#define PLAT_CMDLINE_MAX       0x00010000ULL
#define PLAT_EBDA_START        0x0009FC00ULL  /* reserved from here to 1 MiB */
#define PLAT_ACPI_BASE         0x000E0000ULL  /* RSDP + tables in the BIOS area */
#define PLAT_ACPI_SIZE         0x00020000ULL
#define PLAT_KERNEL_ADDR       0x00100000ULL

/* Legacy I/O ports and interrupts */
#define PLAT_COM1_PORT         0x3F8
#define PLAT_COM1_IRQ          4
#define PLAT_RTC_PORT          0x70
#define PLAT_RTC_IRQ           8
#define PLAT_I8042_PORT        0x60           /* data 0x60, command/status 0x64 */
#define PLAT_PCI_CONFIG_PORT   0xCF8          /* config address; 0xCFC data */
#define PLAT_RESET_PORT        0xCF9          /* byte access: reset control */
#define PLAT_RESET_VALUE       0x06
#define PLAT_PCI_IO_BASE       0x1000         /* I/O BAR window */
#define PLAT_PCI_IO_SIZE       0xF000         /* up to 0xFFFF (SeaBIOS starts at 0xC000) */

/* ACPI PM block (ICH9-like layout) */
#define PLAT_PM_BASE           0x600
#define PLAT_PM1_EVT           (PLAT_PM_BASE + 0x00)  /* status(2) + enable(2) */
#define PLAT_PM1_EVT_LEN       4
#define PLAT_PM1_CNT           (PLAT_PM_BASE + 0x04)
#define PLAT_PM1_CNT_LEN       2
#define PLAT_PM_TMR            (PLAT_PM_BASE + 0x08)
#define PLAT_PM_TMR_LEN        4
#define PLAT_GPE0_BLK          (PLAT_PM_BASE + 0x20)
#define PLAT_GPE0_BLK_LEN      8
#define PLAT_PM_LEN            0x40
#define PLAT_SCI_IRQ           9
#define PLAT_ACPI_S5_SLP_TYP   5              /* the value _S5 tells the OS to write */

/* PCI INTx: slot s, pin p (0=INTA) -> GSI 16 + (s + p) % 8 (no link devices) */
#define PLAT_PCI_GSI_BASE      16
#define PLAT_PCI_GSI_COUNT     8
#define PLAT_IOAPIC_PINS       24

static inline unsigned plat_pci_intx_gsi(unsigned slot, unsigned pin)
{
    return PLAT_PCI_GSI_BASE + (slot + pin) % PLAT_PCI_GSI_COUNT;
}
