/* fw_cfg and the UEFI flash as firmware drives them: the port interface (signature, ID, file
 * directory), DMA (select + read, skip, zero fill past the end, errors
 * written back), the ACPI table loader run the way SeaBIOS's
 * romfile_loader does it (ALLOCATE at two addresses, ADD_POINTER,
 * ADD_CHECKSUM, then walk RSDP -> XSDT -> FADT -> DSDT), and the SMBIOS
 * tables walked structure by structure. */
#include <endian.h>
#include <glib.h>
#include <string.h>

#include "acpi/acpi_loader.h"
#include "acpi/smbios.h"
#include "core/bus.h"
#include "core/memory.h"
#include "core/platform.h"
#include "devices/fw_cfg.h"
#include "devices/pflash.h"
#include "core/vm.h"

#define RAM_SIZE (1u << 20)

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct io_bus pio;
    struct fw_cfg *fw;
};

static void setup(struct fixture *f)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    io_bus_init(&f->pio, "pio");
    f->fw = fw_cfg_new(&f->mem);
    g_assert_nonnull(f->fw);
    g_assert_cmpint(fw_cfg_attach(f->fw, &f->pio), ==, 0);
}

static void teardown(struct fixture *f)
{
    fw_cfg_free(f->fw);
    io_bus_destroy(&f->pio);
    g_free(f->ram);
}

static void sel(struct fixture *f, uint16_t key)
{
    g_assert_true(io_bus_write(&f->pio, FW_CFG_PORT_SEL, &key, 2));
}

static uint8_t data(struct fixture *f)
{
    uint8_t v;
    g_assert_true(io_bus_read(&f->pio, FW_CFG_PORT_DATA, &v, 1));
    return v;
}

/* One DMA access with the descriptor at @at; returns the control word after. */
static uint32_t dma(struct fixture *f, uint32_t at, uint32_t control, uint32_t len, uint64_t addr)
{
    uint32_t d[4] = { htobe32(control), htobe32(len), htobe32((uint32_t)(addr >> 32)), htobe32((uint32_t)addr) };
    memcpy(f->ram + at, d, sizeof(d));
    uint32_t hi = 0, lo = htobe32(at);
    io_bus_write(&f->pio, FW_CFG_PORT_DMA, &hi, 4);
    io_bus_write(&f->pio, FW_CFG_PORT_DMA + 4, &lo, 4);
    uint32_t c;
    memcpy(&c, f->ram + at, 4);
    return be32toh(c);
}

static void test_ports(void)
{
    struct fixture f;
    setup(&f);
    sel(&f, FW_CFG_SIGNATURE);
    char sig[5] = { 0 };
    for (int i = 0; i < 4; i++)
        sig[i] = (char)data(&f);
    g_assert_cmpstr(sig, ==, "QEMU");
    sel(&f, FW_CFG_ID);
    g_assert_cmpuint(data(&f), ==, 3);       /* traditional + DMA */
    /* The DMA register reads as "QEMU CFG". */
    uint64_t v = 0;
    io_bus_read(&f.pio, FW_CFG_PORT_DMA, &v, 4);
    g_assert_cmpmem(&v, 4, "QEMU", 4);

    g_assert_cmpint(fw_cfg_add_file(f.fw, "etc/one", "abc", 3), ==, FW_CFG_FILE_FIRST);
    g_assert_cmpint(fw_cfg_add_file(f.fw, "etc/two", "xy", 2), ==, FW_CFG_FILE_FIRST + 1);
    g_assert_cmpint(fw_cfg_add_file(f.fw, "etc/one", "z", 1), ==, -EEXIST);
    char longname[80];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    g_assert_cmpint(fw_cfg_add_file(f.fw, longname, "z", 1), ==, -EINVAL);

    sel(&f, FW_CFG_FILE_DIR);
    uint8_t dir[4 + 2 * 64];
    for (unsigned i = 0; i < sizeof(dir); i++)
        dir[i] = data(&f);
    uint32_t count;
    memcpy(&count, dir, 4);
    g_assert_cmpuint(be32toh(count), ==, 2);
    uint32_t size;
    uint16_t select;
    memcpy(&size, dir + 4 + 64, 4);
    memcpy(&select, dir + 4 + 64 + 4, 2);
    g_assert_cmpuint(be32toh(size), ==, 2);
    g_assert_cmpuint(be16toh(select), ==, FW_CFG_FILE_FIRST + 1);
    g_assert_cmpstr((char *)dir + 4 + 64 + 8, ==, "etc/two");

    /* Past the end, and for a key nobody set, the data port reads 0. */
    sel(&f, FW_CFG_FILE_FIRST + 1);
    g_assert_cmpuint(data(&f), ==, 'x');
    g_assert_cmpuint(data(&f), ==, 'y');
    g_assert_cmpuint(data(&f), ==, 0);
    sel(&f, 0x1234);
    g_assert_cmpuint(data(&f), ==, 0);
    teardown(&f);
}

static void test_dma(void)
{
    struct fixture f;
    setup(&f);
    g_assert_cmpint(fw_cfg_add_file(f.fw, "etc/blob", "0123456789", 10), ==, FW_CFG_FILE_FIRST);

    memset(f.ram + 0x2000, 0xAA, 32);
    uint32_t sel_read = (FW_CFG_FILE_FIRST << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ;
    g_assert_cmpuint(dma(&f, 0x1000, sel_read, 4, 0x2000), ==, 0);
    g_assert_cmpmem(f.ram + 0x2000, 4, "0123", 4);
    /* The position carries on; skip, then read past the end: zero filled. */
    g_assert_cmpuint(dma(&f, 0x1000, FW_CFG_DMA_SKIP, 2, 0), ==, 0);
    g_assert_cmpuint(dma(&f, 0x1000, FW_CFG_DMA_READ, 8, 0x2000), ==, 0);
    g_assert_cmpmem(f.ram + 0x2000, 8, "6789\0\0\0\0", 8);
    g_assert_cmpuint(f.ram[0x2008], ==, 0xAA);
    /* The port interface sees the same position. */
    g_assert_cmpuint(dma(&f, 0x1000, sel_read, 1, 0x2000), ==, 0);
    g_assert_cmpuint(data(&f), ==, '1');

    /* A destination outside RAM, and any write, report an error. */
    g_assert_cmpuint(dma(&f, 0x1000, sel_read, 16, RAM_SIZE - 8), ==, FW_CFG_DMA_ERROR);
    g_assert_cmpuint(dma(&f, 0x1000, sel_read, 16, 1ULL << 40), ==, FW_CFG_DMA_ERROR);
    g_assert_cmpuint(dma(&f, 0x1000, (FW_CFG_FILE_FIRST << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE,
                         4, 0x2000), ==, FW_CFG_DMA_ERROR);
    /* A descriptor outside RAM is ignored (nowhere to report to). */
    uint32_t hi = 0, lo = htobe32(RAM_SIZE - 4);
    io_bus_write(&f.pio, FW_CFG_PORT_DMA, &hi, 4);
    io_bus_write(&f.pio, FW_CFG_PORT_DMA + 4, &lo, 4);
    teardown(&f);
}

/* ---- the table loader, run as SeaBIOS runs it ---- */

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s += *p++;
    return s;
}

struct loaded {
    const char *name;
    uint8_t *data;
    size_t len;
    uint64_t addr;
};

static struct loaded *find_loaded(struct loaded *l, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(l[i].name, name))
            return &l[i];
    g_assert_not_reached();
}

/* The table at guest address @addr inside the loaded tables: checksum 0. */
static const uint8_t *table_at(struct loaded *t, uint64_t addr, const char *sig)
{
    g_assert_cmpuint(addr, >=, t->addr);
    g_assert_cmpuint(addr + 36, <=, t->addr + t->len);
    const uint8_t *p = t->data + (addr - t->addr);
    g_assert_cmpmem(p, 4, sig, 4);
    g_assert_cmpuint(addr + rd32(p + 4), <=, t->addr + t->len);
    g_assert_cmpuint(sum(p, rd32(p + 4)), ==, 0);
    return p;
}

static void test_table_loader(void)
{
    struct acpi_config cfg = {
        .ncpus = 2, .ecam_base = PLAT_ECAM_BASE, .ecam_buses = PLAT_ECAM_BUSES,
        .mmio32_base = PLAT_PCI_MMIO32_BASE, .mmio32_size = PLAT_PCI_MMIO32_SIZE,
        .mmio64_base = 0x280000000ULL, .mmio64_size = PLAT_PCI_MMIO64_SIZE,
        .pci_io_base = PLAT_PCI_IO_BASE, .pci_io_size = PLAT_PCI_IO_SIZE, .pci_slots = 32,
    };
    struct acpi_loader_blobs b;
    g_assert_cmpint(acpi_loader_build(&cfg, &b), ==, 0);
    g_assert_cmpuint(b.script_len % ACPI_LOADER_ENTRY_SIZE, ==, 0);

    /* Two different placements: nothing may depend on where they land. */
    const uint64_t places[2][2] = { { 0xF5A10, 0x7FFE0000 }, { 0xFFF00, 0x1000 } };
    for (int p = 0; p < 2; p++) {
        struct loaded l[2] = {
            { ACPI_LOADER_RSDP_FILE, g_memdup2(b.rsdp, b.rsdp_len), b.rsdp_len, places[p][0] },
            { ACPI_LOADER_TABLES_FILE, g_memdup2(b.tables, b.tables_len), b.tables_len, places[p][1] },
        };
        unsigned nalloc = 0;
        for (size_t off = 0; off < b.script_len; off += ACPI_LOADER_ENTRY_SIZE) {
            const uint8_t *e = b.script + off;
            uint32_t cmd = rd32(e);
            if (cmd == ACPI_LOADER_ALLOCATE) {
                struct loaded *x = find_loaded(l, 2, (const char *)e + 4);
                uint32_t align = rd32(e + 60);
                g_assert_cmpuint(x->addr % align, ==, 0);
                g_assert_cmpuint(e[64], ==, x == &l[0] ? ACPI_LOADER_ZONE_FSEG : ACPI_LOADER_ZONE_HIGH);
                nalloc++;
            } else if (cmd == ACPI_LOADER_ADD_POINTER) {
                g_assert_cmpuint(nalloc, ==, 2);   /* allocations come first */
                struct loaded *dst = find_loaded(l, 2, (const char *)e + 4);
                struct loaded *src = find_loaded(l, 2, (const char *)e + 60);
                uint32_t o = rd32(e + 116);
                uint8_t size = e[120];
                g_assert_true(size == 4 || size == 8);
                g_assert_cmpuint(o + size, <=, dst->len);
                uint64_t v = 0;
                memcpy(&v, dst->data + o, size);
                g_assert_cmpuint(v, <, src->len);  /* an offset into the source */
                v += src->addr;
                memcpy(dst->data + o, &v, size);
            } else if (cmd == ACPI_LOADER_ADD_CHECKSUM) {
                struct loaded *x = find_loaded(l, 2, (const char *)e + 4);
                uint32_t field = rd32(e + 60), start = rd32(e + 64), len = rd32(e + 68);
                g_assert_cmpuint(start + len, <=, x->len);
                g_assert_cmpuint(field, <, x->len);
                x->data[field] -= sum(x->data + start, len);
            } else {
                g_assert_not_reached();
            }
        }
        const uint8_t *rsdp = l[0].data;
        g_assert_cmpmem(rsdp, 8, "RSD PTR ", 8);
        g_assert_cmpuint(sum(rsdp, 20), ==, 0);
        g_assert_cmpuint(sum(rsdp, 36), ==, 0);
        const uint8_t *rsdt = table_at(&l[1], rd32(rsdp + 16), "RSDT");
        const uint8_t *xsdt = table_at(&l[1], rd64(rsdp + 24), "XSDT");
        unsigned n = (rd32(xsdt + 4) - 36) / 8;
        g_assert_cmpuint(n, ==, 3);
        const char *sigs[3] = { "FACP", "APIC", "MCFG" };
        for (unsigned i = 0; i < n; i++) {
            g_assert_cmpuint(rd64(xsdt + 36 + 8 * i), ==, rd32(rsdt + 36 + 4 * i));
            table_at(&l[1], rd64(xsdt + 36 + 8 * i), sigs[i]);
        }
        const uint8_t *fadt = table_at(&l[1], rd64(xsdt + 36), "FACP");
        table_at(&l[1], rd64(fadt + 140), "DSDT");
        g_assert_cmpuint(rd32(fadt + 40), ==, rd64(fadt + 140));
        uint64_t facs = rd64(fadt + 132);
        g_assert_cmpuint(facs % 64, ==, 0);
        g_assert_cmpmem(l[1].data + (facs - l[1].addr), 4, "FACS", 4);
        g_free(l[0].data);
        g_free(l[1].data);
    }
    acpi_loader_free(&b);
}

static void test_smbios(void)
{
    struct smbios_config c = {
        .bios_vendor = "Domus", .bios_version = "1", .bios_date = "01/01/2026",
        .product = "Domus VM", .serial = "guest", .ncpus = 3, .ram_size = 5ULL << 30,
        .ram = { { 0, 0xB0000000 }, { 0x100000000ULL, 0x50000000 } }, .nram = 2,
    };
    uint8_t *t, a[SMBIOS_ANCHOR_LEN];
    size_t len;
    g_assert_cmpint(smbios_build(&c, &t, &len, a), ==, 0);
    g_assert_cmpmem(a, 4, "_SM_", 4);
    g_assert_cmpuint(sum(a, SMBIOS_ANCHOR_LEN), ==, 0);
    g_assert_cmpuint(sum(a + 16, 15), ==, 0);
    g_assert_cmpuint(a[22] | a[23] << 8, ==, len);

    /* Walk: formatted area, then strings up to a double NUL. */
    GString *types = g_string_new(NULL);
    size_t off = 0, maxsize = 0;
    unsigned count = 0;
    while (off < len) {
        const uint8_t *s = t + off;
        g_assert_cmpuint(off + s[1], <=, len);
        size_t end = off + s[1];
        while (end + 1 < len && (t[end] || t[end + 1]))
            end++;
        end += 2;
        g_assert_cmpuint(end, <=, len);
        g_string_append_printf(types, "%u ", s[0]);
        if (s[0] == 17)
            g_assert_cmpuint(s[12] | s[13] << 8, ==, 5 * 1024);   /* MiB */
        if (s[0] == 19 && s[4] | s[5] << 8 | s[6] << 16)
            g_assert_cmpuint(rd32(s + 4), ==, 0x100000000ULL >> 10);
        maxsize = MAX(maxsize, end - off);
        count++;
        off = end;
    }
    g_assert_cmpuint(off, ==, len);
    g_assert_cmpstr(types->str, ==, "0 1 3 4 4 4 16 17 19 19 32 127 ");
    g_assert_cmpuint(a[28] | a[29] << 8, ==, count);
    g_assert_cmpuint(a[8] | a[9] << 8, ==, maxsize);
    g_string_free(types, TRUE);
    g_free(t);
}

/* The CFI flash under OVMF's QemuFlash driver: its detection probe sees
 * flash (not ROM or RAM), byte programs and block erases land in the
 * backing memory, and the status register reads back in status mode. */
/* Saved mid-read of a file with a DMA address half latched; restored
 * into a fresh fw_cfg with the same items, the next byte and the DMA
 * transfer go on. A state naming an item this VM lacks, or forged, is
 * refused and the reader there goes on undisturbed. */
static void test_fw_cfg_snapshot(void)
{
    struct fixture f, g, h;
    setup(&f);
    setup(&g);
    setup(&h);
    g_assert_cmpint(fw_cfg_add_file(f.fw, "etc/one", "abcdef", 6), ==, FW_CFG_FILE_FIRST);
    g_assert_cmpint(fw_cfg_add_file(g.fw, "etc/one", "abcdef", 6), ==, FW_CFG_FILE_FIRST);
    sel(&f, FW_CFG_FILE_FIRST);
    g_assert_cmpuint(data(&f), ==, 'a');
    g_assert_cmpuint(data(&f), ==, 'b');
    uint8_t blob[64];
    long n = fw_cfg_state_save(f.fw, blob, sizeof(blob));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(fw_cfg_state_save(f.fw, blob, (size_t)n - 1), ==, -ENOSPC);

    sel(&h, FW_CFG_SIGNATURE);
    g_assert_cmpuint(data(&h), ==, 'Q');
    g_assert_cmpint(fw_cfg_state_load(h.fw, blob, (size_t)n), ==, -EINVAL);   /* h has no etc/one */
    uint8_t bad[64];
    memcpy(bad, blob, (size_t)n);
    bad[0] ^= 1;                                                          /* version */
    g_assert_cmpint(fw_cfg_state_load(h.fw, bad, (size_t)n), ==, -EINVAL);
    g_assert_cmpint(fw_cfg_state_load(h.fw, blob, (size_t)n - 1), ==, -EINVAL);
    g_assert_cmpuint(data(&h), ==, 'E');

    g_assert_cmpint(fw_cfg_state_load(g.fw, blob, (size_t)n), ==, 0);
    g_assert_cmpuint(data(&g), ==, 'c');
    g_assert_cmpuint(data(&g), ==, 'd');
    teardown(&f);
    teardown(&g);
    teardown(&h);
}

static uint8_t fl_read(struct io_bus *b, uint64_t a)
{
    uint8_t v;
    g_assert_true(io_bus_read(b, a, &v, 1));
    return v;
}

static void fl_write(struct io_bus *b, uint64_t a, uint8_t v)
{
    g_assert_true(io_bus_write(b, a, &v, 1));
}

static void test_pflash(void)
{
    static struct vm vm;
    memset(&vm, 0, sizeof(vm));
    vm.vm_fd = vm.kvm_fd = -1;
    io_bus_init(&vm.mmio, "mmio");
    const uint64_t base = 0xFFC00000, size = 4 * PFLASH_BLOCK_SIZE;
    uint8_t *mem = g_malloc(size);
    memset(mem, 0xFF, size);
    memcpy(mem + 0x40, "_FVH", 4);
    struct pflash *f;
    g_assert_cmpint(pflash_create(&vm, base, mem, size, 9, &f), ==, 0);

    /* QemuFlashDetected(): clear status, read (array data), read status. */
    uint64_t probe = base + 0x40;
    uint8_t orig = fl_read(&vm.mmio, probe);
    g_assert_cmpuint(orig, ==, '_');
    fl_write(&vm.mmio, probe, 0x50);
    g_assert_cmpuint(fl_read(&vm.mmio, probe), ==, orig);   /* not RAM */
    fl_write(&vm.mmio, probe, 0x70);
    g_assert_cmpuint(fl_read(&vm.mmio, probe), ==, 0x00);   /* flash, status clear */
    fl_write(&vm.mmio, probe, 0xFF);
    g_assert_cmpuint(fl_read(&vm.mmio, probe), ==, orig);

    /* QemuFlashWrite(): program byte by byte, then back to read array. */
    const char *data = "VARS";
    for (int i = 0; i < 4; i++) {
        fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE + i, 0x10);
        fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE + i, (uint8_t)data[i]);
    }
    fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE + 3, 0xFF);
    g_assert_cmpmem(mem + PFLASH_BLOCK_SIZE, 4, "VARS", 4);
    g_assert_cmpuint(fl_read(&vm.mmio, base + PFLASH_BLOCK_SIZE + 1), ==, 'A');
    fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE, 0x70);
    g_assert_cmpuint(fl_read(&vm.mmio, base + PFLASH_BLOCK_SIZE) & 0x80, ==, 0x80);   /* ready */
    fl_write(&vm.mmio, base, 0xFF);

    /* QemuFlashEraseBlock(): that block only is all ones again. */
    fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE + 8, 0x20);
    fl_write(&vm.mmio, base + PFLASH_BLOCK_SIZE + 8, 0xD0);
    fl_write(&vm.mmio, base, 0xFF);
    for (uint64_t i = 0; i < PFLASH_BLOCK_SIZE; i++)
        g_assert_cmpuint(mem[PFLASH_BLOCK_SIZE + i], ==, 0xFF);
    g_assert_cmpmem(mem + 0x40, 4, "_FVH", 4);
    /* An erase not confirmed changes nothing and flags an error. */
    fl_write(&vm.mmio, base + 0x40, 0x20);
    fl_write(&vm.mmio, base + 0x40, 0xFF);
    g_assert_cmpmem(mem + 0x40, 4, "_FVH", 4);
    fl_write(&vm.mmio, base, 0x70);
    g_assert_cmpuint(fl_read(&vm.mmio, base) & 0x20, ==, 0x20);
    /* Past the end nothing is decoded. */
    uint8_t v;
    g_assert_false(io_bus_read(&vm.mmio, base + size, &v, 1));

    /* Snapshots carry the store and the command state: saved in status
     * mode, restored over a blank store, the variables and the mode are
     * back; another size or a forged state is refused, nothing changed. */
    size_t slen = 64 + size;
    uint8_t *blob = g_malloc(slen), *other = g_malloc(size);
    long n = pflash_state_save(f, blob, slen);
    g_assert_cmpint(n, >, (long)size);
    g_assert_cmpint(pflash_state_save(f, blob, (size_t)n - 1), ==, -ENOSPC);
    memset(other, 0xFF, size);
    struct pflash *g;
    g_assert_cmpint(pflash_create(NULL, base, other, size, 10, &g), ==, 0);
    g_assert_cmpint(pflash_state_load(g, blob, (size_t)n - PFLASH_BLOCK_SIZE), ==, -EINVAL);
    blob[5] = 0x77;                  /* a first command cycle that does not exist */
    g_assert_cmpint(pflash_state_load(g, blob, (size_t)n), ==, -EINVAL);
    g_assert_cmpuint(other[0x40], ==, 0xFF);
    blob[5] = 0;
    g_assert_cmpint(pflash_state_load(g, blob, (size_t)n), ==, 0);
    g_assert_cmpmem(other, size, mem, size);
    g_free(g);
    g_free(other);
    g_free(blob);
    io_bus_destroy(&vm.mmio);
    g_free(mem);
    g_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fw_cfg/ports", test_ports);
    g_test_add_func("/fw_cfg/dma", test_dma);
    g_test_add_func("/fw_cfg/table-loader", test_table_loader);
    g_test_add_func("/fw_cfg/smbios", test_smbios);
    g_test_add_func("/fw_cfg/pflash", test_pflash);
    g_test_add_func("/fw_cfg/snapshot", test_fw_cfg_snapshot);
    return g_test_run();
}
