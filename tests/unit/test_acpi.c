/* ACPI tables: structure checked by walking them the way an OS does (RSDP ->
 * XSDT -> tables, FADT -> DSDT/FACS) with offsets taken from the spec, not
 * from acpi.c's structs; the AML checked by ACPICA's own disassembler
 * (iasl) and interpreter (acpiexec) when they are installed. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "acpi/acpi.h"
#include "acpi/aml.h"
#include "core/platform.h"

#define TABLES_GPA  PLAT_ACPI_BASE
#define TABLES_SIZE PLAT_ACPI_SIZE
#define NSLOTS 32

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static const struct acpi_config *config(unsigned ncpus)
{
    static struct acpi_config cfg;
    cfg = (struct acpi_config){
        .ncpus = ncpus,
        .ecam_base = PLAT_ECAM_BASE, .ecam_buses = PLAT_ECAM_BUSES,
        .mmio32_base = PLAT_PCI_MMIO32_BASE, .mmio32_size = PLAT_PCI_MMIO32_SIZE,
        .mmio64_base = 0x280000000ULL, .mmio64_size = PLAT_PCI_MMIO64_SIZE,
        .pci_io_base = PLAT_PCI_IO_BASE, .pci_io_size = PLAT_PCI_IO_SIZE,
        .pci_slots = NSLOTS,
    };
    return &cfg;
}

struct tables {
    uint8_t buf[TABLES_SIZE];
    long used;
};

static struct tables *build(unsigned ncpus)
{
    struct tables *t = g_new0(struct tables, 1);
    memset(t->buf, 0xA5, sizeof(t->buf));  /* stale bytes must not leak into tables */
    t->used = acpi_build_tables(config(ncpus), t->buf, sizeof(t->buf), TABLES_GPA);
    g_assert_cmpint(t->used, >, 0);
    g_assert_cmpint(t->used, <=, TABLES_SIZE);
    return t;
}

/* The table at guest address @gpa, checked to lie inside the used bytes,
 * with a consistent length and a zero checksum. */
static const uint8_t *table_at(const struct tables *t, uint64_t gpa, const char *sig)
{
    g_assert_cmpuint(gpa, >=, TABLES_GPA);
    g_assert_cmpuint(gpa + 36, <=, TABLES_GPA + (uint64_t)t->used);
    const uint8_t *p = t->buf + (gpa - TABLES_GPA);
    uint32_t len = rd32(p + 4);
    g_assert_cmpuint(len, >=, 36);
    g_assert_cmpuint(gpa + len, <=, TABLES_GPA + (uint64_t)t->used);
    if (sig)
        g_assert_cmpmem(p, 4, sig, 4);
    g_assert_cmpuint(acpi_checksum(p, len), ==, 0);
    g_assert_cmpmem(p + 10, 6, "DOMUS ", 6);
    g_assert_cmpmem(p + 16, 8, "DOMUSVMM", 8);
    return p;
}

/* Finds @sig through the XSDT, checking that the RSDT lists the same. */
static const uint8_t *find_table(const struct tables *t, const char *sig)
{
    const uint8_t *rsdp = t->buf;
    const uint8_t *xsdt = table_at(t, rd64(rsdp + 24), "XSDT");
    const uint8_t *rsdt = table_at(t, rd32(rsdp + 16), "RSDT");
    unsigned n = (rd32(xsdt + 4) - 36) / 8;
    g_assert_cmpuint(rd32(xsdt + 4), ==, 36 + 8 * n);
    g_assert_cmpuint(rd32(rsdt + 4), ==, 36 + 4 * n);
    const uint8_t *found = NULL;
    for (unsigned i = 0; i < n; i++) {
        uint64_t at = rd64(xsdt + 36 + 8 * i);
        g_assert_cmpuint(rd32(rsdt + 36 + 4 * i), ==, at);
        const uint8_t *tab = table_at(t, at, NULL);
        if (!memcmp(tab, sig, 4))
            found = tab;
    }
    return found;
}

static void check_rsdp(const struct tables *t)
{
    const uint8_t *r = t->buf;
    g_assert_cmpmem(r, 8, "RSD PTR ", 8);
    g_assert_cmpuint(acpi_checksum(r, 20), ==, 0);
    g_assert_cmpuint(r[15], ==, 2);
    g_assert_cmpuint(rd32(r + 20), ==, 36);
    g_assert_cmpuint(acpi_checksum(r, 36), ==, 0);
}

static void check_fadt(const struct tables *t)
{
    const uint8_t *f = find_table(t, "FACP");
    g_assert_nonnull(f);
    g_assert_cmpuint(rd32(f + 4), ==, 276);
    g_assert_cmpuint(f[8], ==, 6);
    g_assert_cmpuint(rd32(f + 36), ==, rd64(f + 132));   /* FACS, 32 and 64 */
    g_assert_cmpuint(rd32(f + 40), ==, rd64(f + 140));   /* DSDT, 32 and 64 */
    uint64_t facs = rd64(f + 132);
    g_assert_cmpuint(facs % 64, ==, 0);
    g_assert_cmpmem(t->buf + (facs - TABLES_GPA), 4, "FACS", 4);
    g_assert_cmpuint(rd32(t->buf + (facs - TABLES_GPA) + 4), ==, 64);
    table_at(t, rd64(f + 140), "DSDT");

    g_assert_cmpuint(rd16(f + 46), ==, PLAT_SCI_IRQ);
    g_assert_cmpuint(rd32(f + 48), ==, 0);                /* SMI_CMD */
    g_assert_cmpuint(rd32(f + 56), ==, PLAT_PM1_EVT);
    g_assert_cmpuint(rd32(f + 64), ==, PLAT_PM1_CNT);
    g_assert_cmpuint(rd32(f + 76), ==, PLAT_PM_TMR);
    g_assert_cmpuint(rd32(f + 80), ==, PLAT_GPE0_BLK);
    g_assert_cmpuint(f[88], ==, 4);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmpuint(f[92], ==, 8);
    g_assert_cmpuint(f[108], ==, 0x32);                   /* century */
    g_assert_cmpuint(rd16(f + 109), ==, 0x3);             /* legacy devices + 8042 */
    uint32_t flags = rd32(f + 112);
    g_assert_cmpuint(flags, ==, 1u << 0 | 1u << 2 | 1u << 5 | 1u << 10);
    /* RESET_REG: system I/O, 8 bits, at 0xCF9; value 6 */
    g_assert_cmpuint(f[116], ==, 1);
    g_assert_cmpuint(f[117], ==, 8);
    g_assert_cmpuint(rd64(f + 120), ==, 0xCF9);
    g_assert_cmpuint(f[128], ==, 6);
    /* X_PM1a_EVT_BLK, X_PM1a_CNT_BLK, X_PM_TMR_BLK, X_GPE0_BLK mirror the legacy fields */
    static const struct { unsigned off; uint64_t addr; unsigned bits; } x[] = {
        { 148, PLAT_PM1_EVT, 32 }, { 172, PLAT_PM1_CNT, 16 },
        { 208, PLAT_PM_TMR, 32 },  { 220, PLAT_GPE0_BLK, 64 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(x); i++) {
        g_assert_cmpuint(f[x[i].off], ==, 1);
        g_assert_cmpuint(f[x[i].off + 1], ==, x[i].bits);
        g_assert_cmpuint(rd64(f + x[i].off + 4), ==, x[i].addr);
    }
}

static void check_madt(const struct tables *t, unsigned ncpus)
{
    const uint8_t *m = find_table(t, "APIC");
    g_assert_nonnull(m);
    g_assert_cmpuint(rd32(m + 36), ==, PLAT_LAPIC_BASE);
    g_assert_cmpuint(rd32(m + 40) & 1, ==, 1);
    unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
    uint32_t len = rd32(m + 4), off = 44;
    while (off < len) {
        const uint8_t *e = m + off;
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, len);
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[2], ==, lapics);           /* processor UID */
            g_assert_cmpuint(e[3], ==, lapics);           /* APIC ID */
            g_assert_cmpuint(rd32(e + 4) & 1, ==, 1);     /* enabled */
            lapics++;
            break;
        case 1:
            g_assert_cmpuint(rd32(e + 4), ==, PLAT_IOAPIC_BASE);
            g_assert_cmpuint(rd32(e + 8), ==, 0);
            g_assert_cmpuint(e[2], >=, ncpus);            /* distinct from APIC IDs */
            ioapics++;
            break;
        case 2:
            if (e[3] == 0)
                g_assert_cmpuint(rd32(e + 4), ==, 2);
            else
                g_assert_cmpuint(rd32(e + 4), ==, PLAT_SCI_IRQ);
            isos++;
            break;
        case 4:
            g_assert_cmpuint(e[2], ==, 0xFF);
            g_assert_cmpuint(e[5], ==, 1);
            nmis++;
            break;
        default:
            g_assert_not_reached();
        }
        off += e[1];
    }
    g_assert_cmpuint(off, ==, len);
    g_assert_cmpuint(lapics, ==, ncpus);
    g_assert_cmpuint(ioapics, ==, 1);
    g_assert_cmpuint(isos, ==, 2);
    g_assert_cmpuint(nmis, ==, 1);
}

static void check_mcfg(const struct tables *t)
{
    const uint8_t *m = find_table(t, "MCFG");
    g_assert_nonnull(m);
    g_assert_cmpuint(rd32(m + 4), ==, 36 + 8 + 16);
    g_assert_cmpuint(rd64(m + 44), ==, PLAT_ECAM_BASE);
    g_assert_cmpuint(rd16(m + 52), ==, 0);
    g_assert_cmpuint(m[54], ==, 0);
    g_assert_cmpuint(m[55], ==, PLAT_ECAM_BUSES - 1);
}

static void test_tables(gconstpointer data)
{
    unsigned ncpus = GPOINTER_TO_UINT(data);
    struct tables *t = build(ncpus);
    check_rsdp(t);
    check_fadt(t);
    check_madt(t, ncpus);
    check_mcfg(t);
    g_free(t);
}

static void test_errors(void)
{
    uint8_t small[256];
    g_assert_cmpint(acpi_build_tables(config(1), small, sizeof(small), TABLES_GPA), ==, -ENOSPC);
    g_assert_cmpint(acpi_build_tables(config(1), small, sizeof(small), TABLES_GPA + 4), ==, -EINVAL);
    g_assert_cmpint(acpi_build_tables(config(0), small, sizeof(small), TABLES_GPA), ==, -EINVAL);
}

/* ---- PkgLength ------------------------------------------------------- */

static void test_pkglen(void)
{
    static const struct { size_t value, bytes; } cases[] = {
        { 0, 1 }, { 63, 1 }, { 64, 2 }, { 4095, 2 }, { 4096, 3 },
        { (1u << 20) - 1, 3 }, { 1u << 20, 4 }, { AML_PKGLEN_MAX, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint8_t enc[4];
        size_t value = 0;
        size_t n = aml_pkglen_encode(enc, cases[i].value);
        g_assert_cmpuint(n, ==, cases[i].bytes);
        g_assert_cmpuint(aml_pkglen_decode(enc, n, &value), ==, n);
        g_assert_cmpuint(value, ==, cases[i].value);
        if (n > 1)      /* truncated input is refused */
            g_assert_cmpuint(aml_pkglen_decode(enc, n - 1, &value), ==, 0);
    }
    uint8_t enc[4];
    g_assert_cmpuint(aml_pkglen_encode(enc, AML_PKGLEN_MAX + 1), ==, 0);

    /* aml_close around bodies at the size boundaries: the PkgLength it
     * inserts must count itself and the whole body, in as few bytes as
     * that total allows. */
    static const struct { size_t body, bytes; } closes[] = {
        { 0, 1 }, { 62, 1 }, { 63, 2 }, { 4093, 2 }, { 4094, 3 },
        { (1u << 20) - 4, 3 }, { (1u << 20) - 3, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(closes); i++) {
        GByteArray *a = g_byte_array_new();
        aml_byte(a, AML_SCOPE_OP);
        size_t m = a->len;
        g_byte_array_set_size(a, a->len + closes[i].body);
        memset(a->data + m, 0x5A, closes[i].body);
        aml_close(a, m);
        size_t value, n = aml_pkglen_decode(a->data + 1, a->len - 1, &value);
        g_assert_cmpuint(n, ==, closes[i].bytes);
        g_assert_cmpuint(value, ==, a->len - 1);
        g_assert_cmpuint(value, ==, closes[i].body + n);
        if (closes[i].body)     /* the body moved behind the PkgLength intact */
            g_assert_cmpuint(a->data[1 + n], ==, 0x5A);
        g_byte_array_unref(a);
    }
}

static void test_encodings(void)
{
    GByteArray *a = g_byte_array_new();
    aml_int(a, 0);
    aml_int(a, 1);
    aml_int(a, 0xFF);
    aml_int(a, 0x100);
    aml_int(a, 0x10000);
    aml_int(a, 0x100000000ULL);
    aml_namestring(a, "\\_SB.PCI0");
    aml_namestring(a, "RTC");
    static const uint8_t want[] = {
        0x00, 0x01, 0x0A, 0xFF, 0x0B, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x01, 0x00,
        0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        '\\', 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
        'R', 'T', 'C', '_',
    };
    g_assert_cmpmem(a->data, a->len, want, sizeof(want));
    g_assert_cmphex(aml_eisaid_value("PNP0A03"), ==, 0x030AD041);
    g_byte_array_unref(a);
}

/* ---- ACPICA ---------------------------------------------------------- */

/* Runs @argv in @dir and returns stdout+stderr; exit status 0 is required. */
static char *run_tool(const char *dir, const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int status;
    GError *error = NULL;
    gboolean ok = g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &err, &status, &error);
    g_assert_no_error(error);
    g_assert_true(ok);
    char *all = g_strconcat(out, err, NULL);
    g_free(out);
    g_free(err);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s failed:\n%s", argv[0], all);
    return all;
}

/* Writes every table to @dir as <sig>.dat (what acpidump/acpixtract make). */
static void dump_tables(const struct tables *t, const char *dir)
{
    const uint8_t *xsdt = t->buf + (rd64(t->buf + 24) - TABLES_GPA);
    unsigned n = (rd32(xsdt + 4) - 36) / 8;
    const uint8_t *fadt = find_table(t, "FACP");
    const uint8_t *list[16];
    unsigned count = 0;
    list[count++] = xsdt;
    list[count++] = t->buf + (rd64(fadt + 140) - TABLES_GPA);
    for (unsigned i = 0; i < n && count < G_N_ELEMENTS(list); i++)
        list[count++] = t->buf + (rd64(xsdt + 36 + 8 * i) - TABLES_GPA);
    for (unsigned i = 0; i < count; i++) {
        g_autofree char *name = g_strdup_printf("%s/%.4s.dat", dir, (const char *)list[i]);
        GError *error = NULL;
        g_file_set_contents(name, (const char *)list[i], rd32(list[i] + 4), &error);
        g_assert_no_error(error);
    }
}

/* Tables for 2 CPUs dumped into a new temporary directory, or NULL (and
 * the test skipped) when @tool is not installed. */
static char *tables_for_tool(const char *tool)
{
    g_autofree char *path = g_find_program_in_path(tool);
    if (!path) {
        g_autofree char *why = g_strdup_printf("%s not installed (apt-get install acpica-tools)", tool);
        g_test_skip(why);
        return NULL;
    }
    struct tables *t = build(2);
    char *dir = g_dir_make_tmp("test-acpi-XXXXXX", NULL);
    g_assert_nonnull(dir);
    dump_tables(t, dir);
    g_free(t);
    return dir;
}

/* Removes @dir and the (flat) files the tools wrote into it. */
static void remove_dir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    for (const char *name; (name = g_dir_read_name(d));) {
        g_autofree char *file = g_build_filename(dir, name, NULL);
        g_assert_cmpint(g_remove(file), ==, 0);
    }
    g_dir_close(d);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* True if ACPICA's output reports an error or a warning; its summary line
 * ("0 Errors, 0 Warnings") counts only when the numbers are not zero. */
static bool complains(const char *out)
{
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (strstr(*l, " 0 Errors, 0 Warnings"))
            continue;
        if (strstr(*l, "Error") || strstr(*l, "Warning") || strstr(*l, "Invalid"))
            return true;
    }
    return false;
}

static void test_iasl(void)
{
    g_autofree char *dir = tables_for_tool("iasl");
    if (!dir)
        return;

    static const char *const sigs[] = { "XSDT", "DSDT", "FACP", "APIC", "MCFG" };
    for (unsigned i = 0; i < G_N_ELEMENTS(sigs); i++) {
        g_autofree char *file = g_strdup_printf("%s.dat", sigs[i]);
        const char *argv[] = { "iasl", "-d", file, NULL };
        g_autofree char *out = run_tool(dir, argv);
        if (complains(out))
            g_error("iasl -d %s complained:\n%s", file, out);
    }

    g_autofree char *dsl_path = g_build_filename(dir, "DSDT.dsl", NULL);
    g_autofree char *dsl = NULL;
    g_assert_true(g_file_get_contents(dsl_path, &dsl, NULL, NULL));
    static const char *const want[] = {
        "Scope (\\_SB)", "Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")",
        "Name (_PRT, Package (0x80)", "Method (_OSC, 4", "Name (\\_S5, Package (0x04)",
        "EisaId (\"PNP0501\")", "EisaId (\"PNP0B00\")", "EisaId (\"PNP0303\")",
        "Device (C001)", "\"ACPI0007\"",
        "WordBusNumber (ResourceProducer", "0x00FF,", "0x0CF8,", "0x0CF7,",
        "0x1000,", "0xFFFF,", "0xC0000000,", "0xFEBFFFFF,",
        "0x0000000280000000,", "0x000000127FFFFFFF,", "0x03F8,", "IRQNoFlags ()\n",
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++)
        if (!strstr(dsl, want[i]))
            g_error("DSDT.dsl lacks \"%s\":\n%s", want[i], dsl);

    /* The disassembly must compile back: iasl's compiler checks names,
     * resource templates and predefined objects much harder. */
    const char *compile[] = { "iasl", "-p", "DSDT2", "DSDT.dsl", NULL };
    g_autofree char *cout = run_tool(dir, compile);
    if (complains(cout))
        g_error("iasl could not compile the disassembly cleanly:\n%s", cout);

    remove_dir(dir);
}

/* acpiexec loads the tables into ACPICA, the interpreter Linux uses, and
 * evaluates what an OS evaluates at boot: its FADT conversion checks the
 * PM blocks, its predefined-name checks a _PRT or _CRS of the wrong shape.
 * _OSC runs three times: a good request comes back as it was (all control
 * granted), a bad revision gets bit 3 and an unknown UUID bit 2. */
#define OSC_UUID "(5b 4d db 33 f7 1f 1c 40 96 57 74 41 c0 3d d7 66)"
#define OSC_BAD_UUID "(00 4d db 33 f7 1f 1c 40 96 57 74 41 c0 3d d7 66)"
#define OSC_DWORDS " 3 (01 00 00 00 1f 00 00 00 1d 00 00 00)"

static void test_acpiexec(void)
{
    g_autofree char *dir = tables_for_tool("acpiexec");
    if (!dir)
        return;
    const char *argv[] = {
        "acpiexec", "-b",
        "evaluate \\_S5; evaluate \\_SB.PCI0._CRS; evaluate \\_SB.PCI0._PRT; "
        "evaluate \\_SB.COM1._CRS; evaluate \\_SB.RTC._CRS; evaluate \\_SB.KBD._CRS; "
        "evaluate \\_SB.PCI0._OSC " OSC_UUID " 1" OSC_DWORDS "; "
        "evaluate \\_SB.PCI0._OSC " OSC_UUID " 2" OSC_DWORDS "; "
        "evaluate \\_SB.PCI0._OSC " OSC_BAD_UUID " 1" OSC_DWORDS,
        "FACP.dat", "DSDT.dat", "APIC.dat", "MCFG.dat", NULL,
    };
    g_autofree char *out = run_tool(dir, argv);

    /* acpiexec's built-in interface tests poke PM2_CNT and GPE block 1,
     * which this platform does not have; their lines name aetests. */
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++)
        if (!strstr(*l, "(aetests-") && (complains(*l) || strstr(*l, "AE_")))
            g_error("acpiexec complained:\n%s", out);
    static const char *const osc[] = {
        "01 00 00 00 1F 00 00 00 1D 00 00 00",
        "09 00 00 00 1F 00 00 00 1D 00 00 00",
        "05 00 00 00 1F 00 00 00 1D 00 00 00",
    };
    const char *p = out;
    for (unsigned i = 0; i < G_N_ELEMENTS(osc); i++) {
        p = strstr(p, osc[i]);
        if (!p)
            g_error("_OSC result %u is not \"%s\":\n%s", i, osc[i], out);
    }

    remove_dir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/acpi/tables/1cpu", GUINT_TO_POINTER(1), test_tables);
    g_test_add_data_func("/acpi/tables/2cpu", GUINT_TO_POINTER(2), test_tables);
    g_test_add_data_func("/acpi/tables/64cpu", GUINT_TO_POINTER(64), test_tables);
    g_test_add_func("/acpi/errors", test_errors);
    g_test_add_func("/acpi/aml/pkglen", test_pkglen);
    g_test_add_func("/acpi/aml/encodings", test_encodings);
    g_test_add_func("/acpi/iasl", test_iasl);
    g_test_add_func("/acpi/acpiexec", test_acpiexec);
    return g_test_run();
}
