/* What the firmware learns through fw_cfg: the e820 map, the CPUs, the
 * boot order, the VMM's ACPI tables (through the table loader) and SMBIOS.
 * Everything is derived from the same config as direct boot. */
#include "firmware.h"
#include "config.h"
#include "platform.h"
#include "vm.h"
#include "acpi/acpi_loader.h"
#include "acpi/smbios.h"
#include "devices/fw_cfg.h"
#include "state.h"
#include "pci/pci.h"

#include <errno.h>
#include <glib.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>

/* KVM's identity-map and TSS pages in firmware boot (see vm_setup_platform):
 * out of the way of a large flash image, and reserved so nothing lands there. */
#define KVM_PRIVATE_BASE 0xFEFFC000ULL
#define KVM_PRIVATE_SIZE 0x4000ULL

static int add_e820(struct vm *vm, struct fw_cfg *fw)
{
    struct e820_entry e[GUEST_MEM_E820_MAX + 1];
    unsigned n = guest_mem_e820(&vm->mem, e);
    e[n++] = (struct e820_entry){ KVM_PRIVATE_BASE, KVM_PRIVATE_SIZE, E820_RESERVED };
    int r = fw_cfg_add_file(fw, "etc/e820", e, n * sizeof(e[0]));
    return r < 0 ? r : 0;
}

/* The slot of the @n-th PCI function named @name (slot order is creation order). */
static int nth_slot(struct vm *vm, const char *name, unsigned n)
{
    for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        const struct pci_device *d = vm->pci->devices[slot];
        if (d && d->name && !strcmp(d->name, name) && n-- == 0)
            return (int)slot;
    }
    return -1;
}

/* OpenFirmware paths SeaBIOS matches against its boot devices: a --kernel
 * first, then disks in --disk order (virtio-blk functions, AHCI ports), then the CD drives,
 * which sit on the AHCI ports after the disks. */
static int add_bootorder(struct vm *vm, struct fw_cfg *fw)
{
    const struct vm_config *cfg = vm->cfg;
    GString *s = g_string_new(NULL);
    /* --kernel: QEMU's path for the option ROM that boots it comes first. */
    if (cfg->kernel)
        g_string_append(s, "/rom@genroms/linuxboot_dma.bin\n");
    int ahci = nth_slot(vm, "ahci", 0);
    unsigned nvirtio = 0, port = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (cfg->disks[i].bus == DISK_BUS_AHCI) {
            if (ahci > 0)
                g_string_append_printf(s, "/pci@i0cf8/*@%x/drive@%x/disk@0\n", ahci, port);
            port++;
        } else {
            int slot = nth_slot(vm, "virtio-blk", nvirtio++);
            if (slot > 0)
                g_string_append_printf(s, "/pci@i0cf8/*@%x\n", slot);
        }
    }
    for (unsigned i = 0; i < cfg->ncdroms && ahci > 0; i++)
        g_string_append_printf(s, "/pci@i0cf8/*@%x/drive@%x/disk@0\n", ahci, port++);
    int r = 0;
    if (s->len)
        r = fw_cfg_add_file(fw, "bootorder", s->str, s->len + 1);
    g_string_free(s, TRUE);
    return r < 0 ? r : 0;
}

static int add_acpi(struct fw_cfg *fw, const struct acpi_config *acfg)
{
    struct acpi_loader_blobs b;
    int r = acpi_loader_build(acfg, &b);
    if (r < 0)
        return r;
    if ((r = fw_cfg_add_file(fw, ACPI_LOADER_RSDP_FILE, b.rsdp, b.rsdp_len)) >= 0 &&
        (r = fw_cfg_add_file(fw, ACPI_LOADER_TABLES_FILE, b.tables, b.tables_len)) >= 0)
        r = fw_cfg_add_file(fw, ACPI_LOADER_SCRIPT_FILE, b.script, b.script_len);
    acpi_loader_free(&b);
    return r < 0 ? r : 0;
}

/* A stable UUID per VM name (name-based, SHA-1, RFC 4122 version 5 bits),
 * so the guest sees the same machine across restarts. */
static void vm_uuid(const char *name, uint8_t uuid[16])
{
    uint8_t digest[20];
    gsize len = sizeof(digest);
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(c, (const guchar *)"domus-vm:", 9);
    g_checksum_update(c, (const guchar *)name, (gssize)strlen(name));
    g_checksum_get_digest(c, digest, &len);
    g_checksum_free(c);
    memcpy(uuid, digest, 16);
    uuid[6] = (uint8_t)((uuid[6] & 0x0F) | 0x50);
    uuid[8] = (uint8_t)((uuid[8] & 0x3F) | 0x80);
}

static int add_smbios(struct vm *vm, struct fw_cfg *fw, const uint8_t uuid_be[16])
{
    struct smbios_config sc = {
        .bios_vendor = "Domus", .bios_date = "01/01/2026",
        .bios_version = vm->cfg->firmware == FIRMWARE_UEFI ? "OVMF" : "SeaBIOS",
        .uefi = vm->cfg->firmware == FIRMWARE_UEFI,
        .product = "Domus VM", .serial = vm->cfg->name, .ncpus = vm->ncpus,
        .ram_size = vm->mem.size,
    };
    /* SMBIOS stores the first three UUID fields little-endian. */
    memcpy(sc.uuid, uuid_be, 16);
    for (int i = 0; i < 2; i++) {
        uint8_t t = sc.uuid[i];
        sc.uuid[i] = sc.uuid[3 - i];
        sc.uuid[3 - i] = t;
    }
    uint8_t t = sc.uuid[4]; sc.uuid[4] = sc.uuid[5]; sc.uuid[5] = t;
    t = sc.uuid[6]; sc.uuid[6] = sc.uuid[7]; sc.uuid[7] = t;
    for (unsigned i = 0; vm->cpuid && i < vm->cpuid->nent; i++) {
        if (vm->cpuid->entries[i].function == 1) {
            sc.cpuid_eax = vm->cpuid->entries[i].eax;
            sc.cpuid_edx = vm->cpuid->entries[i].edx;
        }
    }
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        sc.ram[i].start = vm->mem.regions[i].gpa;
        sc.ram[i].size = vm->mem.regions[i].size;
    }
    sc.nram = vm->mem.nregions;
    uint8_t *tables, anchor[SMBIOS_ANCHOR_LEN];
    size_t len;
    int r = smbios_build(&sc, &tables, &len, anchor);
    if (r < 0)
        return r;
    if ((r = fw_cfg_add_file(fw, "etc/smbios/smbios-tables", tables, len)) >= 0)
        r = fw_cfg_add_file(fw, "etc/smbios/smbios-anchor", anchor, sizeof(anchor));
    g_free(tables);
    return r < 0 ? r : 0;
}

int firmware_cfg_create(struct vm *vm)
{
    struct fw_cfg *fw = fw_cfg_new(&vm->mem);
    if (!fw)
        return -ENOMEM;
    int r = fw_cfg_attach(fw, &vm->pio);
    if (r < 0) {
        fw_cfg_free(fw);
        return r;
    }
    vm->fw_cfg = fw;
    return vm_state_register(vm, "fw-cfg", &fw_cfg_state_ops, fw);
}

int firmware_cfg_finish(struct vm *vm, const struct acpi_config *acfg)
{
    struct fw_cfg *fw = vm->fw_cfg;
    uint8_t uuid[16];
    vm_uuid(vm->cfg->name, uuid);
    uint64_t ram = htole64(vm->mem.size);
    uint32_t irq0_override = htole32(1);   /* the MADT routes IRQ 0 to GSI 2 */
    int r;
    if ((r = fw_cfg_add_item(fw, FW_CFG_UUID, uuid, 16)) < 0 ||
        (r = fw_cfg_add_item(fw, FW_CFG_RAM_SIZE, &ram, 8)) < 0 ||
        (r = fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus)) < 0 ||
        (r = fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus)) < 0 ||
        /* No screen: the firmware's console goes to COM1, as with QEMU's -nographic. */
        (r = fw_cfg_add_u16(fw, FW_CFG_NOGRAPHIC, vm->cfg->ndisplays == 0)) < 0 ||
        (r = fw_cfg_add_u16(fw, FW_CFG_BOOT_MENU, 0)) < 0 ||
        (r = fw_cfg_add_item(fw, FW_CFG_IRQ0_OVERRIDE, &irq0_override, 4)) < 0 ||
        (r = add_e820(vm, fw)) < 0 ||
        /* OVMF keeps only boot options a bootorder entry matches, and its
         * matcher knows QEMU's device names, not SeaBIOS's wildcards. */
        (vm->cfg->firmware == FIRMWARE_BIOS && (r = add_bootorder(vm, fw)) < 0) ||
        (r = add_acpi(fw, acfg)) < 0 || (r = add_smbios(vm, fw, uuid)) < 0)
        return r;
    return 0;
}
