/* ACPI tables for the PC platform of core/platform.h.
 *
 * Everything lands in one caller-supplied buffer that the guest sees at a
 * fixed guest-physical address: the RSDP first (the OS scans the BIOS area
 * for it on 16-byte boundaries), then FACS, DSDT, FADT, MADT, MCFG and the
 * two root tables. The FADT describes a full (not hardware-reduced) PM
 * block, so the guest gets the PM timer, SCI, the fixed power button and S5
 * through PM1 control. The DSDT's AML is built by aml.c. */
#include "acpi/acpi.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "acpi/aml.h"
#include "core/platform.h"

/* Tables are written as packed structs in host byte order, which is only
 * right because the host, like the guest, is x86 (little-endian). */
G_STATIC_ASSERT(G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define PACKED __attribute__((packed))

#define OEM_ID        "DOMUS "
#define OEM_TABLE_ID  "DOMUSVMM"
#define OEM_REVISION  1
#define CREATOR_ID    "DOMU"
#define CREATOR_REV   1

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
} PACKED;

/* Generic Address Structure */
struct acpi_gas {
    uint8_t space;                   /* 0 system memory, 1 system I/O */
    uint8_t bit_width, bit_offset;
    uint8_t access_size;             /* 1 byte, 2 word, 3 dword, 4 qword */
    uint64_t address;
} PACKED;

struct acpi_rsdp {
    char signature[8];
    uint8_t checksum;                /* over the first 20 bytes (ACPI 1.0 part) */
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;       /* over all 36 bytes */
    uint8_t reserved[3];
} PACKED;

struct acpi_fadt {
    struct acpi_header h;
    uint32_t firmware_ctrl, dsdt;
    uint8_t reserved0, preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
    uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
    uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl, x_dsdt;
    struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
    struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
    struct acpi_gas sleep_control_reg, sleep_status_reg;
    uint64_t hypervisor_vendor_id;
} PACKED;
G_STATIC_ASSERT(sizeof(struct acpi_fadt) == 276);

struct acpi_facs {
    char signature[4];
    uint32_t length;
    uint32_t hardware_signature, firmware_waking_vector, global_lock, flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version;
    uint8_t reserved0[3];
    uint32_t ospm_flags;
    uint8_t reserved1[24];
} PACKED;
G_STATIC_ASSERT(sizeof(struct acpi_facs) == 64);

struct madt_lapic {                  /* type 0 */
    uint8_t type, length, processor_uid, apic_id;
    uint32_t flags;                  /* bit 0: enabled */
} PACKED;

struct madt_ioapic {                 /* type 1 */
    uint8_t type, length, ioapic_id, reserved;
    uint32_t address, gsi_base;
} PACKED;

struct madt_iso {                    /* type 2: interrupt source override */
    uint8_t type, length, bus, source;
    uint32_t gsi;
    uint16_t flags;                  /* polarity bits 1-0, trigger bits 3-2 */
} PACKED;

struct madt_lapic_nmi {              /* type 4 */
    uint8_t type, length, processor_uid;
    uint16_t flags;
    uint8_t lint;
} PACKED;

struct acpi_madt {
    struct acpi_header h;
    uint32_t lapic_address;
    uint32_t flags;                  /* bit 0: PCAT_COMPAT, 8259 pair present */
} PACKED;

struct mcfg_alloc {
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus, end_bus;
    uint32_t reserved;
} PACKED;

struct acpi_mcfg {
    struct acpi_header h;
    uint8_t reserved[8];
    struct mcfg_alloc alloc;
} PACKED;

/* FADT flags we set (ACPI spec table "Fixed ACPI Description Table Fixed
 * Feature Flags"). PWR_BUTTON stays clear: the power button is the fixed
 * feature in PM1, which is what pm_create() emulates. */
#define FADT_F_WBINVD         (1u << 0)
#define FADT_F_PROC_C1        (1u << 2)
#define FADT_F_SLP_BUTTON     (1u << 5)   /* set = no sleep button */
#define FADT_F_RESET_REG_SUP  (1u << 10)

#define BOOT_ARCH_LEGACY_DEVICES  (1u << 0)
#define BOOT_ARCH_8042            (1u << 1)

#define GAS_IO 1
enum { ACC_BYTE = 1, ACC_WORD = 2, ACC_DWORD = 3 };

/* MADT interrupt flags */
#define MPS_HIGH_EDGE   0x0005
#define MPS_HIGH_LEVEL  0x000D

#define RTC_CENTURY_INDEX 0x32           /* CMOS register holding the century */
#define MAX_CPUS 254                     /* xAPIC ids below 0xFF; the IOAPIC takes ncpus */
#define MAX_SLOTS 32

/* ---- layout ------------------------------------------------------------- */

struct out {
    uint8_t *buf;
    size_t size, used;
    uint64_t gpa;
};

/* Reserves @len zeroed bytes whose guest address is @align-aligned, or
 * returns NULL when the buffer is too small. */
static void *reserve(struct out *o, size_t len, size_t align, uint32_t *gpa)
{
    uint64_t addr = (o->gpa + o->used + align - 1) & ~(uint64_t)(align - 1);
    size_t off = (size_t)(addr - o->gpa);
    if (off > o->size || len > o->size - off)
        return NULL;
    memset(o->buf + o->used, 0, off + len - o->used);
    o->used = off + len;
    *gpa = (uint32_t)addr;           /* o->size keeps every table below 4 GiB */
    return o->buf + off;
}

uint8_t acpi_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t sum = 0;
    while (len--)
        sum += *p++;
    return (uint8_t)-sum;
}

static void header_init(void *table, const char *sig, size_t len, uint8_t rev)
{
    struct acpi_header *h = table;
    memcpy(h->signature, sig, 4);
    h->length = (uint32_t)len;
    h->revision = rev;
    memcpy(h->oem_id, OEM_ID, 6);
    memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
    h->oem_revision = OEM_REVISION;
    memcpy(h->creator_id, CREATOR_ID, 4);
    h->creator_revision = CREATOR_REV;
}

/* Last step for a table: every byte must be in place before this. */
static void header_seal(void *table)
{
    struct acpi_header *h = table;
    h->checksum = 0;
    h->checksum = acpi_checksum(table, h->length);
}

static struct acpi_gas gas_io(uint16_t port, unsigned len, uint8_t access)
{
    return (struct acpi_gas){ .space = GAS_IO, .bit_width = (uint8_t)(len * 8),
                              .access_size = access, .address = port };
}

/* ---- DSDT ------------------------------------------------------------- */

/* Name(_CRS, ResourceTemplate() { ... }) from a finished template. */
static void name_crs(GByteArray *a, GByteArray *rt)
{
    aml_res_end(rt);
    aml_name(a, "_CRS");
    aml_buffer(a, rt->data, rt->len);
    g_byte_array_set_size(rt, 0);
}

static void pci0_crs(GByteArray *a, const struct acpi_config *cfg)
{
    GByteArray *rt = g_byte_array_new();
    aml_res_word_bus(rt, 0, (uint16_t)(cfg->ecam_buses - 1));
    /* The config mechanism #1 ports belong to the bridge itself ... */
    aml_res_io(rt, PLAT_PCI_CONFIG_PORT, 8);
    /* ... and it forwards the legacy range below them and the BAR window. */
    aml_res_word_io(rt, 0x0000, PLAT_PCI_CONFIG_PORT - 1);
    if (cfg->pci_io_size)
        aml_res_word_io(rt, (uint16_t)cfg->pci_io_base,
                        (uint16_t)(cfg->pci_io_base + cfg->pci_io_size - 1));
    if (cfg->mmio32_size)
        aml_res_dword_mem(rt, (uint32_t)cfg->mmio32_base,
                          (uint32_t)(cfg->mmio32_base + cfg->mmio32_size - 1), false);
    /* Cacheable, not prefetchable: Linux keeps non-prefetchable BARs out
     * of a prefetchable window, and 64-bit BARs of both kinds go here. */
    if (cfg->mmio64_size)
        aml_res_qword_mem(rt, cfg->mmio64_base, cfg->mmio64_base + cfg->mmio64_size - 1, true);
    name_crs(a, rt);
    g_byte_array_unref(rt);
}

/* _PRT: every slot's INTA-INTD straight to an IOAPIC GSI (source 0), no
 * link devices; the OS then treats them as level, active-low. */
static void pci0_prt(GByteArray *a, const struct acpi_config *cfg)
{
    aml_name(a, "_PRT");
    size_t prt = aml_package_open(a, cfg->pci_slots * 4);
    for (unsigned slot = 0; slot < cfg->pci_slots; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            size_t e = aml_package_open(a, 4);
            aml_int(a, (uint64_t)slot << 16 | 0xFFFF);  /* any function of the slot */
            aml_int(a, pin);
            aml_int(a, 0);
            aml_int(a, plat_pci_intx_gsi(slot, pin));
            aml_close(a, e);
        }
    }
    aml_close(a, prt);
}

/* _OSC for the PCI host bridge: grants the OS every control it asks for
 * (there is no firmware here that could want to keep any), and flags an
 * unknown UUID or revision as the spec says:
 *
 *   Method (_OSC, 4) {
 *     CreateDWordField (Arg3, 0, CDW1)
 *     If (Arg0 == ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766")) {
 *       If (Arg1 != 1) { CDW1 |= 0x08 }   // unrecognized revision
 *     } Else { CDW1 |= 0x04 }             // unrecognized UUID
 *     Return (Arg3)
 *   }
 *
 * Returning Arg3 unchanged leaves the control dword as requested. */
static void or_cdw1(GByteArray *a, uint8_t bit)
{
    aml_byte(a, AML_OR_OP);
    aml_namestring(a, "CDW1");
    aml_int(a, bit);
    aml_namestring(a, "CDW1");
}

static void pci0_osc(GByteArray *a)
{
    size_t m = aml_method_open(a, "_OSC", 4, false);
    aml_byte(a, AML_CREATE_DWORD_FIELD_OP);
    aml_byte(a, AML_ARG0 + 3);
    aml_int(a, 0);
    aml_namestring(a, "CDW1");

    size_t if_uuid = aml_if_open(a);
    aml_byte(a, AML_LEQUAL_OP);
    aml_byte(a, AML_ARG0);
    aml_uuid(a, "33db4d5b-1ff7-401c-9657-7441c03dd766");  /* PCI host bridge */
    size_t if_rev = aml_if_open(a);
    aml_byte(a, AML_LNOT_OP);          /* LNotEqual is LNot(LEqual) */
    aml_byte(a, AML_LEQUAL_OP);
    aml_byte(a, AML_ARG0 + 1);
    aml_int(a, 1);
    or_cdw1(a, 0x08);
    aml_close(a, if_rev);
    aml_close(a, if_uuid);
    size_t els = aml_else_open(a);
    or_cdw1(a, 0x04);
    aml_close(a, els);

    aml_byte(a, AML_RETURN_OP);
    aml_byte(a, AML_ARG0 + 3);
    aml_close(a, m);
}

static void pci0(GByteArray *a, const struct acpi_config *cfg)
{
    size_t dev = aml_device_open(a, "PCI0");
    aml_name_eisaid(a, "_HID", "PNP0A08");  /* PCI Express root bridge */
    aml_name_eisaid(a, "_CID", "PNP0A03");  /* ... compatible with plain PCI */
    /* No _ADR: the spec has a device carry _HID or _ADR, not both. */
    aml_name_int(a, "_SEG", 0);
    aml_name_int(a, "_BBN", 0);
    aml_name_int(a, "_UID", 0);
    pci0_crs(a, cfg);
    pci0_prt(a, cfg);
    pci0_osc(a);
    aml_close(a, dev);
}

/* An ISA-style device: _HID, optional _UID, I/O ports and one IRQ. */
static void isa_device(GByteArray *a, const char *name, const char *hid, int uid,
                       const uint16_t *ports, const uint8_t *lens, unsigned nports,
                       unsigned irq)
{
    size_t dev = aml_device_open(a, name);
    aml_name_eisaid(a, "_HID", hid);
    if (uid >= 0)
        aml_name_int(a, "_UID", (uint64_t)uid);
    GByteArray *rt = g_byte_array_new();
    for (unsigned i = 0; i < nports; i++)
        aml_res_io(rt, ports[i], lens[i]);
    aml_res_irq_noflags(rt, irq);
    name_crs(a, rt);
    g_byte_array_unref(rt);
    aml_close(a, dev);
}

/* The legacy devices sit directly under \_SB: there is no LPC bridge
 * function on the PCI bus to hang them from. */
static void legacy_devices(GByteArray *a)
{
    static const uint16_t com1_port[] = { PLAT_COM1_PORT };
    static const uint8_t com1_len[] = { 8 };
    static const uint16_t rtc_port[] = { PLAT_RTC_PORT };
    static const uint8_t rtc_len[] = { 2 };
    static const uint16_t kbd_port[] = { PLAT_I8042_PORT, PLAT_I8042_PORT + 4 };
    static const uint8_t kbd_len[] = { 1, 1 };
    isa_device(a, "COM1", "PNP0501", 1, com1_port, com1_len, 1, PLAT_COM1_IRQ);
    isa_device(a, "RTC", "PNP0B00", -1, rtc_port, rtc_len, 1, PLAT_RTC_IRQ);
    isa_device(a, "KBD", "PNP0303", -1, kbd_port, kbd_len, 2, 1 /* keyboard IRQ */);
    /* The PS/2 mouse: OSes (Linux, Windows' i8042prt) use the AUX port only
     * when ACPI lists it. */
    isa_device(a, "MOU", "PNP0F13", -1, NULL, NULL, 0, 12 /* mouse IRQ */);
}

/* Processor devices (ACPI 6 style, not the deprecated Processor op); the
 * OS pairs _UID with the MADT's processor UID. */
static void processors(GByteArray *a, unsigned ncpus)
{
    for (unsigned i = 0; i < ncpus; i++) {
        char name[5];
        g_snprintf(name, sizeof(name), "C%03X", i);
        size_t dev = aml_device_open(a, name);
        aml_name_string(a, "_HID", "ACPI0007");
        aml_name_int(a, "_UID", i);
        aml_close(a, dev);
    }
}

static GByteArray *dsdt_aml(const struct acpi_config *cfg)
{
    GByteArray *a = g_byte_array_new();
    size_t sb = aml_scope_open(a, "\\_SB");
    pci0(a, cfg);
    legacy_devices(a);
    processors(a, cfg->ncpus);
    aml_close(a, sb);

    /* \_S5: the SLP_TYP the OS writes to PM1a/PM1b_CNT to power off. */
    aml_name(a, "\\_S5");
    size_t s5 = aml_package_open(a, 4);
    aml_int(a, PLAT_ACPI_S5_SLP_TYP);
    aml_int(a, PLAT_ACPI_S5_SLP_TYP);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_close(a, s5);
    return a;
}

/* ---- fixed tables ------------------------------------------------------ */

static void fill_fadt(struct acpi_fadt *f, uint32_t facs, uint32_t dsdt)
{
    header_init(f, "FACP", sizeof(*f), 6);
    f->minor_version = 5;             /* ACPI 6.5 layout */
    f->firmware_ctrl = facs;
    f->x_firmware_ctrl = facs;
    f->dsdt = dsdt;
    f->x_dsdt = dsdt;
    f->sci_int = PLAT_SCI_IRQ;
    /* SMI_CMD 0: no SMM handshake, the machine is always in ACPI mode. */
    f->pm1a_evt_blk = PLAT_PM1_EVT;
    f->pm1a_cnt_blk = PLAT_PM1_CNT;
    f->pm_tmr_blk = PLAT_PM_TMR;
    f->gpe0_blk = PLAT_GPE0_BLK;
    f->pm1_evt_len = PLAT_PM1_EVT_LEN;
    f->pm1_cnt_len = PLAT_PM1_CNT_LEN;
    f->pm_tmr_len = PLAT_PM_TMR_LEN;
    f->gpe0_blk_len = PLAT_GPE0_BLK_LEN;
    /* Latencies past the limits (100 and 1000 us) say "no C2 / no C3". */
    f->p_lvl2_lat = 101;
    f->p_lvl3_lat = 1001;
    f->century = RTC_CENTURY_INDEX;
    f->iapc_boot_arch = BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042;
    /* TMR_VAL_EXT clear: the PM timer is 24 bits. */
    f->flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP;
    f->reset_reg = gas_io(PLAT_RESET_PORT, 1, ACC_BYTE);
    f->reset_value = PLAT_RESET_VALUE;
    /* The X_ blocks repeat the legacy ones; access sizes are the natural
     * register widths (PM1 status/enable and control are 16-bit, GPE
     * registers are accessed a byte at a time). */
    f->x_pm1a_evt_blk = gas_io(PLAT_PM1_EVT, PLAT_PM1_EVT_LEN, ACC_WORD);
    f->x_pm1a_cnt_blk = gas_io(PLAT_PM1_CNT, PLAT_PM1_CNT_LEN, ACC_WORD);
    f->x_pm_tmr_blk = gas_io(PLAT_PM_TMR, PLAT_PM_TMR_LEN, ACC_DWORD);
    f->x_gpe0_blk = gas_io(PLAT_GPE0_BLK, PLAT_GPE0_BLK_LEN, ACC_BYTE);
    header_seal(f);
}

static size_t madt_size(unsigned ncpus)
{
    return sizeof(struct acpi_madt) + ncpus * sizeof(struct madt_lapic) +
           sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_iso) +
           sizeof(struct madt_lapic_nmi);
}

static void fill_madt(struct acpi_madt *m, unsigned ncpus)
{
    header_init(m, "APIC", madt_size(ncpus), 5);
    m->lapic_address = (uint32_t)PLAT_LAPIC_BASE;
    m->flags = 1;                     /* PCAT_COMPAT: KVM's irqchip has the 8259s */
    uint8_t *p = (uint8_t *)(m + 1);

    for (unsigned i = 0; i < ncpus; i++) {
        struct madt_lapic e = { .type = 0, .length = sizeof(e), .processor_uid = (uint8_t)i,
                                .apic_id = (uint8_t)i, .flags = 1 };
        memcpy(p, &e, sizeof(e));
        p += sizeof(e);
    }
    /* The IOAPIC id follows the last APIC id so all ids are distinct. */
    struct madt_ioapic io = { .type = 1, .length = sizeof(io), .ioapic_id = (uint8_t)ncpus,
                              .address = (uint32_t)PLAT_IOAPIC_BASE, .gsi_base = 0 };
    memcpy(p, &io, sizeof(io));
    p += sizeof(io);

    /* The PIT's IRQ 0 is wired to IOAPIC pin 2; the SCI is level-triggered
     * but active-high, unlike the ISA default. */
    const struct madt_iso iso[2] = {
        { .type = 2, .length = sizeof(struct madt_iso), .bus = 0, .source = 0, .gsi = 2,
          .flags = MPS_HIGH_EDGE },
        { .type = 2, .length = sizeof(struct madt_iso), .bus = 0, .source = PLAT_SCI_IRQ,
          .gsi = PLAT_SCI_IRQ, .flags = MPS_HIGH_LEVEL },
    };
    memcpy(p, iso, sizeof(iso));
    p += sizeof(iso);

    /* NMI arrives on LINT1 of every processor (UID 0xFF = all). */
    struct madt_lapic_nmi nmi = { .type = 4, .length = sizeof(nmi), .processor_uid = 0xFF,
                                  .flags = 0, .lint = 1 };
    memcpy(p, &nmi, sizeof(nmi));
    header_seal(m);
}

static void fill_mcfg(struct acpi_mcfg *m, const struct acpi_config *cfg)
{
    header_init(m, "MCFG", sizeof(*m), 1);
    m->alloc.base = cfg->ecam_base;
    m->alloc.segment = 0;
    m->alloc.start_bus = 0;
    m->alloc.end_bus = (uint8_t)(cfg->ecam_buses - 1);
    header_seal(m);
}

static bool config_ok(const struct acpi_config *cfg, size_t size, uint64_t gpa)
{
    return cfg->ncpus >= 1 && cfg->ncpus <= MAX_CPUS &&
           cfg->ecam_buses >= 1 && cfg->ecam_buses <= 256 &&
           cfg->pci_slots <= MAX_SLOTS &&
           cfg->mmio32_base + cfg->mmio32_size <= 0x100000000ULL &&
           (uint64_t)cfg->pci_io_base + cfg->pci_io_size <= 0x10000 &&
           /* RSDP alignment; the tables must sit below 4 GiB for the
            * 32-bit pointers (RSDT, FADT), see acpi_build_tables. */
           gpa % 16 == 0 && gpa < 0x100000000ULL;
}

/* Records that the @size-byte field at @field holds a table address. */
static void link_ptr(struct acpi_links *l, const uint8_t *buf, const void *field, uint8_t size)
{
    if (l && l->nptr < ACPI_MAX_LINKS)
        l->ptr[l->nptr++] = (typeof(l->ptr[0])){ (uint32_t)((const uint8_t *)field - buf), size };
}

static void link_cksum(struct acpi_links *l, const uint8_t *buf, const void *start, uint32_t len,
                       const void *field)
{
    if (l && l->ncksum < ACPI_MAX_LINKS)
        l->cksum[l->ncksum++] = (typeof(l->cksum[0])){
            (uint32_t)((const uint8_t *)field - buf), (uint32_t)((const uint8_t *)start - buf), len };
}

static void link_table(struct acpi_links *l, const uint8_t *buf, const void *table)
{
    const struct acpi_header *h = table;
    link_cksum(l, buf, h, h->length, &h->checksum);
}

static long build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t size, uint64_t gpa,
                         struct acpi_links *l)
{
    if (!config_ok(cfg, size, gpa))
        return -EINVAL;

    enum { NTABLES = 3 };             /* FADT, MADT, MCFG */
    /* Only the part of the buffer below 4 GiB is usable. */
    struct out o = { .buf = buf, .size = MIN(size, 0x100000000ULL - gpa), .gpa = gpa };
    GByteArray *aml = dsdt_aml(cfg);
    uint32_t at_rsdp, at_facs, at_dsdt, at_fadt, at_madt, at_mcfg, at_xsdt, at_rsdt;
    struct acpi_rsdp *rsdp = reserve(&o, sizeof(*rsdp), 16, &at_rsdp);
    struct acpi_facs *facs = reserve(&o, sizeof(*facs), 64, &at_facs);
    struct acpi_header *dsdt = reserve(&o, sizeof(*dsdt) + aml->len, 16, &at_dsdt);
    struct acpi_fadt *fadt = reserve(&o, sizeof(*fadt), 16, &at_fadt);
    struct acpi_madt *madt = reserve(&o, madt_size(cfg->ncpus), 16, &at_madt);
    struct acpi_mcfg *mcfg = reserve(&o, sizeof(*mcfg), 16, &at_mcfg);
    struct acpi_header *xsdt = reserve(&o, sizeof(*xsdt) + NTABLES * 8, 16, &at_xsdt);
    struct acpi_header *rsdt = reserve(&o, sizeof(*rsdt) + NTABLES * 4, 16, &at_rsdt);
    if (!rsdp || !facs || !dsdt || !fadt || !madt || !mcfg || !xsdt || !rsdt) {
        g_byte_array_unref(aml);
        return -ENOSPC;
    }

    memcpy(facs->signature, "FACS", 4);
    facs->length = sizeof(*facs);
    facs->version = 2;

    /* DSDT revision 2: AML integers are 64-bit. */
    header_init(dsdt, "DSDT", sizeof(*dsdt) + aml->len, 2);
    memcpy(dsdt + 1, aml->data, aml->len);
    header_seal(dsdt);
    g_byte_array_unref(aml);

    fill_fadt(fadt, at_facs, at_dsdt);
    fill_madt(madt, cfg->ncpus);
    fill_mcfg(mcfg, cfg);

    const uint32_t tables[NTABLES] = { at_fadt, at_madt, at_mcfg };
    header_init(xsdt, "XSDT", sizeof(*xsdt) + NTABLES * 8, 1);
    header_init(rsdt, "RSDT", sizeof(*rsdt) + NTABLES * 4, 1);
    for (int i = 0; i < NTABLES; i++) {
        uint64_t x = tables[i];       /* entries are unaligned: copy, don't cast */
        memcpy((uint8_t *)(xsdt + 1) + 8 * i, &x, 8);
        memcpy((uint8_t *)(rsdt + 1) + 4 * i, &tables[i], 4);
    }
    header_seal(xsdt);
    header_seal(rsdt);

    memcpy(rsdp->signature, "RSD PTR ", 8);
    memcpy(rsdp->oem_id, OEM_ID, 6);
    rsdp->revision = 2;
    rsdp->rsdt_address = at_rsdt;
    rsdp->length = sizeof(*rsdp);
    rsdp->xsdt_address = at_xsdt;
    rsdp->checksum = acpi_checksum(rsdp, 20);
    rsdp->extended_checksum = acpi_checksum(rsdp, sizeof(*rsdp));

    if (l) {
        /* Pointers first, then each table's checksum, the RSDP's last:
         * the loader recomputes them in this order after relocating. */
        link_ptr(l, buf, &fadt->firmware_ctrl, 4);
        link_ptr(l, buf, &fadt->dsdt, 4);
        link_ptr(l, buf, &fadt->x_firmware_ctrl, 8);
        link_ptr(l, buf, &fadt->x_dsdt, 8);
        for (int i = 0; i < NTABLES; i++) {
            link_ptr(l, buf, (uint8_t *)(xsdt + 1) + 8 * i, 8);
            link_ptr(l, buf, (uint8_t *)(rsdt + 1) + 4 * i, 4);
        }
        link_ptr(l, buf, &rsdp->rsdt_address, 4);
        link_ptr(l, buf, &rsdp->xsdt_address, 8);
        link_table(l, buf, dsdt);
        link_table(l, buf, fadt);
        link_table(l, buf, madt);
        link_table(l, buf, mcfg);
        link_table(l, buf, xsdt);
        link_table(l, buf, rsdt);
        link_cksum(l, buf, rsdp, 20, &rsdp->checksum);
        link_cksum(l, buf, rsdp, sizeof(*rsdp), &rsdp->extended_checksum);
        l->rsdp_len = sizeof(*rsdp);
        l->tables_start = at_facs - (uint32_t)gpa;
    }
    return (long)o.used;
}

long acpi_build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t size, uint64_t gpa)
{
    return build_tables(cfg, buf, size, gpa, NULL);
}

long acpi_build_tables_linked(const struct acpi_config *cfg, uint8_t *buf, size_t size,
                              struct acpi_links *links)
{
    memset(links, 0, sizeof(*links));
    return build_tables(cfg, buf, size, 0, links);
}
