/* The AHCI controller on fake guest memory (no PCI, no KVM), driven the way
 * a driver does: command lists, command tables, PRDTs and received FIS
 * areas in "guest RAM", registers through the ABAR handlers. Disks and CD
 * images are temporary files behind the real block layer. Hostile command
 * lists (PRDs outside RAM, short PRDTs, unknown commands, a reset in the
 * middle of a command) halt only the port they were given to. */
#include "ahci/ahci_int.h"
#include "core/config.h"
#include "core/memory.h"

#include "block/block.h"
#include "block/block_set.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE     (8u << 20)
#define DISK_SECTORS 2048u           /* 1 MiB */
#define ISO_SECTORS  64u
#define DATA         0x200000u       /* data buffers from 2 MiB */
#define P_DISK       0
#define P_CD         1
#define P_RO         2

static uint64_t clb(unsigned p) { return 0x10000 + p * 0x1000; }
static uint64_t fb(unsigned p) { return 0x18000 + p * 0x100; }
static uint64_t ctba(unsigned p, unsigned slot) { return 0x40000 + p * 0x20000 + slot * 0x1000; }
static unsigned preg(unsigned p, unsigned reg) { return AHCI_PORT_BASE + p * AHCI_PORT_SIZE + reg; }

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct ahci *h;
    char *dir, *disk, *rodisk, *iso, *iso2;
};

struct prd { uint64_t addr; uint32_t len; };

static uint32_t rd(struct fx *f, unsigned off) { return (uint32_t)ahci_mmio_read(f->h, off, 4); }
static void wr(struct fx *f, unsigned off, uint32_t v) { ahci_mmio_write(f->h, off, v, 4); }
static uint32_t prd_(struct fx *f, unsigned p, unsigned reg) { return rd(f, preg(p, reg)); }
static void pwr(struct fx *f, unsigned p, unsigned reg, uint32_t v) { wr(f, preg(p, reg), v); }

static char *make_file(struct fx *f, const char *name, size_t size, uint8_t seed)
{
    char *path = g_build_filename(f->dir, name, NULL);
    uint8_t *buf = g_malloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
    g_assert_true(g_file_set_contents(path, (char *)buf, (gssize)size, NULL));
    g_free(buf);
    return path;
}

/* Ports started as a driver does: lists, FIS area, FRE, ST, interrupts. */
static void start_port(struct fx *f, unsigned p)
{
    pwr(f, p, PORT_CLB, (uint32_t)clb(p));
    pwr(f, p, PORT_FB, (uint32_t)fb(p));
    pwr(f, p, PORT_CMD, PORT_CMD_FRE);
    pwr(f, p, PORT_SERR, ~0u);
    pwr(f, p, PORT_IS, ~0u);
    pwr(f, p, PORT_IE, ~0u);
    pwr(f, p, PORT_CMD, PORT_CMD_FRE | PORT_CMD_ST);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    f->dir = g_dir_make_tmp("domus-ahci-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->disk = make_file(f, "disk.raw", DISK_SECTORS * 512, 1);
    f->rodisk = make_file(f, "ro.raw", DISK_SECTORS * 512, 2);
    f->iso = make_file(f, "one.iso", ISO_SECTORS * 2048, 3);
    f->iso2 = make_file(f, "two.iso", 2 * ISO_SECTORS * 2048, 4);
    char *err = NULL;
    f->h = ahci_new(&f->mem, NULL, &err);
    g_assert_nonnull(f->h);
    struct disk_config d = { .path = f->disk, .serial = "SERIAL-1" };
    g_assert_cmpint(ahci_attach_disk(f->h, &d, &err), ==, P_DISK);
    g_assert_cmpint(ahci_attach_cdrom(f->h, f->iso, &err), ==, P_CD);
    struct disk_config ro = { .path = f->rodisk, .readonly = true };
    g_assert_cmpint(ahci_attach_disk(f->h, &ro, &err), ==, P_RO);
    wr(f, AHCI_GHC, AHCI_GHC_IE);
    for (unsigned p = 0; p < 3; p++)
        start_port(f, p);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    ahci_free(f->h);
    const char *files[] = { f->disk, f->rodisk, f->iso, f->iso2 };
    for (unsigned i = 0; i < 4; i++) {
        g_unlink(files[i]);
        g_free((char *)files[i]);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->ram);
}

/* Writes command header + table for @slot; @prdtl overrides the entry count. */
static void build(struct fx *f, unsigned p, unsigned slot, const uint8_t fis[20], const uint8_t *cdb,
                  const struct prd *prds, unsigned n, bool write, int prdtl)
{
    uint64_t t = ctba(p, slot);
    uint32_t hdr[8] = { 0 };
    hdr[0] = 5 | (cdb ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | (uint32_t)(prdtl >= 0 ? prdtl : (int)n) << 16;
    hdr[2] = (uint32_t)t;
    hdr[3] = (uint32_t)(t >> 32);
    memcpy(f->ram + clb(p) + 32 * slot, hdr, sizeof(hdr));
    memset(f->ram + t, 0, 0x80);
    memcpy(f->ram + t, fis, 20);
    if (cdb)
        memcpy(f->ram + t + 0x40, cdb, 12);
    for (unsigned i = 0; i < n; i++) {
        uint32_t e[4] = { (uint32_t)prds[i].addr, (uint32_t)(prds[i].addr >> 32), 0, prds[i].len - 1 };
        memcpy(f->ram + t + 0x80 + 16 * i, e, sizeof(e));
    }
}

static void fis_cmd(uint8_t fis[20], uint8_t cmd, uint64_t lba, uint16_t count)
{
    memset(fis, 0, 20);
    fis[0] = 0x27;
    fis[1] = 0x80;
    fis[2] = cmd;
    fis[4] = (uint8_t)lba; fis[5] = (uint8_t)(lba >> 8); fis[6] = (uint8_t)(lba >> 16);
    fis[7] = 0x40;
    fis[8] = (uint8_t)(lba >> 24); fis[9] = (uint8_t)(lba >> 32); fis[10] = (uint8_t)(lba >> 40);
    fis[12] = (uint8_t)count; fis[13] = (uint8_t)(count >> 8);
}

/* Issues @slot and waits for the block layer. */
static void issue(struct fx *f, unsigned p, unsigned slot)
{
    pwr(f, p, PORT_CI, 1u << slot);
    ahci_wait_idle(f->h);
}

static int ata(struct fx *f, unsigned p, uint8_t cmd, uint64_t lba, uint16_t count,
               const struct prd *prds, unsigned n, bool write)
{
    uint8_t fis[20];
    fis_cmd(fis, cmd, lba, count);
    build(f, p, 0, fis, NULL, prds, n, write, -1);
    pwr(f, p, PORT_IS, ~0u);
    issue(f, p, 0);
    return (int)(prd_(f, p, PORT_TFD) & 0xFFFF);
}

/* Clears a halted port as a driver's error handler does. */
static void recover(struct fx *f, unsigned p)
{
    pwr(f, p, PORT_CMD, PORT_CMD_FRE);
    g_assert_cmpuint(prd_(f, p, PORT_CMD) & PORT_CMD_CR, ==, 0);
    g_assert_cmpuint(prd_(f, p, PORT_CI), ==, 0);
    pwr(f, p, PORT_IS, ~0u);
    pwr(f, p, PORT_CMD, PORT_CMD_FRE | PORT_CMD_ST);
}

static void test_registers(struct fx *f, gconstpointer data)
{
    uint32_t cap = rd(f, AHCI_CAP);
    g_assert_cmpuint(cap & 0x1F, ==, AHCI_PORTS - 1);
    g_assert_cmpuint((cap >> 8) & 0x1F, ==, 31);
    g_assert_true(cap & (1u << 30));                 /* NCQ */
    g_assert_true(cap & (1u << 31));                 /* 64-bit */
    g_assert_cmpuint(rd(f, AHCI_PI), ==, 0x3F);
    g_assert_cmpuint(rd(f, AHCI_VS) >> 16, ==, 1);
    g_assert_cmpuint(rd(f, AHCI_GHC), ==, AHCI_GHC_AE | AHCI_GHC_IE);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SSTS), ==, 0x113);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SIG), ==, ATA_SIG_DISK);
    g_assert_cmpuint(prd_(f, P_CD, PORT_SIG), ==, ATA_SIG_ATAPI);
    g_assert_cmpuint(prd_(f, 4, PORT_SSTS), ==, 0);  /* empty port */
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CMD) & (PORT_CMD_CR | PORT_CMD_FR), ==, PORT_CMD_CR | PORT_CMD_FR);
    /* The signature FIS landed in the FIS area when FRE was set. */
    g_assert_cmpuint(f->ram[fb(P_CD) + RFIS_D2H], ==, 0x34);
    g_assert_cmpuint(f->ram[fb(P_CD) + RFIS_D2H + 6], ==, 0xEB);
    /* Byte access to a W1C register clears only that byte. */
    pwr(f, P_DISK, PORT_SERR, 0);
    g_assert_cmpuint(ahci_mmio_read(f->h, preg(P_DISK, PORT_CMD) + 1, 1), ==, (prd_(f, P_DISK, PORT_CMD) >> 8) & 0xFF);
    /* COMRESET: DET=1 then 0 brings the link back with the signature. */
    pwr(f, P_DISK, PORT_CMD, 0);
    pwr(f, P_DISK, PORT_SCTL, 1);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SSTS) & 0xF, !=, 3);
    pwr(f, P_DISK, PORT_SCTL, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SSTS), ==, 0x113);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_TFD) & 0x88, ==, 0);
    /* HBA reset: back to power-on, HR reads 0. */
    wr(f, AHCI_GHC, AHCI_GHC_HR);
    g_assert_cmpuint(rd(f, AHCI_GHC), ==, AHCI_GHC_AE);
    g_assert_cmpuint(prd_(f, P_CD, PORT_CMD) & PORT_CMD_ST, ==, 0);
    g_assert_cmpuint(prd_(f, P_CD, PORT_SIG), ==, ATA_SIG_ATAPI);
}

static void test_identify(struct fx *f, gconstpointer data)
{
    struct prd b = { DATA, 512 };
    g_assert_cmpint(ata(f, P_DISK, 0xEC, 0, 0, &b, 1, false), ==, ATA_ST_OK);
    uint32_t is = prd_(f, P_DISK, PORT_IS);
    g_assert_true(is & PORT_IS_PSS);
    g_assert_true(is & PORT_IS_DHRS);
    g_assert_cmpuint(f->ram[fb(P_DISK) + RFIS_PIO + 15], ==, ATA_ST_OK);   /* E_Status */
    uint16_t id[256];
    memcpy(id, f->ram + DATA, 512);
    uint8_t sum = 0;
    for (unsigned i = 0; i < 512; i++)
        sum = (uint8_t)(sum + f->ram[DATA + i]);
    g_assert_cmpuint(sum, ==, 0);
    g_assert_cmpuint(id[255] & 0xFF, ==, 0xA5);
    g_assert_cmpuint(id[100] | (uint32_t)id[101] << 16, ==, DISK_SECTORS);
    g_assert_true(id[76] & (1 << 8));               /* NCQ */
    g_assert_true(id[83] & (1 << 10));              /* LBA48 */
    g_assert_cmpuint(id[27], ==, ('D' << 8) | 'O');
    g_assert_cmpuint(id[10], ==, ('S' << 8) | 'E');
    uint32_t prdbc;
    memcpy(&prdbc, f->ram + clb(P_DISK) + 4, 4);
    g_assert_cmpuint(prdbc, ==, 512);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 0);
    g_assert_true(ahci_irq_level(f->h));
    pwr(f, P_DISK, PORT_IS, ~0u);
    g_assert_false(ahci_irq_level(f->h));
    /* A disk aborts IDENTIFY PACKET DEVICE (SeaBIOS tells ATAPI by that). */
    g_assert_cmpint(ata(f, P_DISK, 0xA1, 0, 0, &b, 1, false), ==, ATA_ER_ABRT << 8 | 0x41);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_TFES);
    recover(f, P_DISK);
    /* The CD drive answers it, and aborts IDENTIFY DEVICE with its signature. */
    g_assert_cmpint(ata(f, P_CD, 0xA1, 0, 0, &b, 1, false), ==, ATA_ST_OK);
    memcpy(id, f->ram + DATA, 512);
    g_assert_cmpuint((id[0] >> 8) & 0x1F, ==, 5);
    g_assert_cmpint(ata(f, P_CD, 0xEC, 0, 0, &b, 1, false) & ATA_ST_ERR, ==, ATA_ST_ERR);
    g_assert_cmpuint(f->ram[fb(P_CD) + RFIS_D2H + 6], ==, 0xEB);
}

static void fill(struct fx *f, uint64_t addr, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        f->ram[addr + i] = (uint8_t)(seed ^ (i * 13));
}

static void test_dma_rw(struct fx *f, gconstpointer data)
{
    /* Write 8 sectors from two scattered pieces, read back through three. */
    fill(f, DATA, 1536, 0x11);
    fill(f, DATA + 0x10000, 2560, 0x22);
    struct prd w[2] = { { DATA, 1536 }, { DATA + 0x10000, 2560 } };
    g_assert_cmpint(ata(f, P_DISK, 0x35, 100, 8, w, 2, true), ==, ATA_ST_OK);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_DHRS);
    struct prd r[3] = { { DATA + 0x40000, 1024 }, { DATA + 0x50000, 1024 }, { DATA + 0x60000, 8192 } };
    g_assert_cmpint(ata(f, P_DISK, 0x25, 100, 8, r, 3, false), ==, ATA_ST_OK);
    uint8_t want[4096], got[4096];
    memcpy(want, f->ram + DATA, 1536);
    memcpy(want + 1536, f->ram + DATA + 0x10000, 2560);
    memcpy(got, f->ram + DATA + 0x40000, 1024);
    memcpy(got + 1024, f->ram + DATA + 0x50000, 1024);
    memcpy(got + 2048, f->ram + DATA + 0x60000, 2048);
    g_assert_cmpmem(got, 4096, want, 4096);
    /* The image holds it (after a flush). */
    g_assert_cmpint(ata(f, P_DISK, 0xEA, 0, 0, NULL, 0, false), ==, ATA_ST_OK);
    int fd = open(f->disk, O_RDONLY);
    g_assert_cmpint(pread(fd, got, 4096, 100 * 512), ==, 4096);
    close(fd);
    g_assert_cmpmem(got, 4096, want, 4096);
    /* 28-bit DMA and PIO reads of the same place agree. */
    memset(f->ram + DATA + 0x40000, 0, 4096);
    g_assert_cmpint(ata(f, P_DISK, 0xC8, 100, 8, r, 3, false), ==, ATA_ST_OK);
    g_assert_cmpmem(f->ram + DATA + 0x40000, 1024, want, 1024);
    struct prd one = { DATA + 0x70000, 4096 };
    g_assert_cmpint(ata(f, P_DISK, 0x24, 100, 8, &one, 1, false), ==, ATA_ST_OK);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_PSS);
    g_assert_cmpmem(f->ram + DATA + 0x70000, 4096, want, 4096);
    /* Write cache off: writes go through (and still land). */
    uint8_t fis[20];
    fis_cmd(fis, 0xEF, 0, 0);
    fis[3] = 0x82;
    build(f, P_DISK, 0, fis, NULL, NULL, 0, false, -1);
    issue(f, P_DISK, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_TFD), ==, ATA_ST_OK);
    fill(f, DATA, 512, 0x33);
    g_assert_cmpint(ata(f, P_DISK, 0x35, 5, 1, w, 1, true), ==, ATA_ST_OK);
    fd = open(f->disk, O_RDONLY);
    g_assert_cmpint(pread(fd, got, 512, 5 * 512), ==, 512);
    close(fd);
    g_assert_cmpmem(got, 512, f->ram + DATA, 512);
    /* READ VERIFY, CHECK POWER MODE (count 0xFF in the D2H FIS). */
    g_assert_cmpint(ata(f, P_DISK, 0x42, 0, 16, NULL, 0, false), ==, ATA_ST_OK);
    g_assert_cmpint(ata(f, P_DISK, 0xE5, 0, 0, NULL, 0, false), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[fb(P_DISK) + RFIS_D2H + 12], ==, 0xFF);
}

static void test_ncq(struct fx *f, gconstpointer data)
{
    unsigned n = 8;
    for (unsigned s = 0; s < n; s++) {
        uint8_t fis[20];
        fis_cmd(fis, 0x61, 200 + s * 4, 0);
        fis[3] = 4;                  /* count in FEATURES */
        fis[12] = (uint8_t)(s << 3); /* tag */
        fill(f, DATA + s * 0x1000, 2048, (uint8_t)(0x40 + s));
        struct prd p = { DATA + s * 0x1000, 2048 };
        build(f, P_DISK, s, fis, NULL, &p, 1, true, -1);
    }
    pwr(f, P_DISK, PORT_SACT, 0xFF);
    pwr(f, P_DISK, PORT_CI, 0xFF);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 0);   /* queued commands leave CI at once */
    ahci_wait_idle(f->h);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SACT), ==, 0);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_SDBS);
    g_assert_cmpuint(f->ram[fb(P_DISK) + RFIS_SDB], ==, 0xA1);
    /* Read them back queued, in reverse slot order, and compare. */
    for (unsigned s = 0; s < n; s++) {
        uint8_t fis[20];
        fis_cmd(fis, 0x60, 200 + s * 4, 0);
        fis[3] = 4;
        struct prd p = { DATA + 0x100000 + s * 0x1000, 2048 };
        build(f, P_DISK, 31 - s, fis, NULL, &p, 1, false, -1);
    }
    pwr(f, P_DISK, PORT_IS, ~0u);
    pwr(f, P_DISK, PORT_SACT, 0xFF000000u);
    pwr(f, P_DISK, PORT_CI, 0xFF000000u);
    ahci_wait_idle(f->h);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SACT), ==, 0);
    for (unsigned s = 0; s < n; s++)
        g_assert_cmpmem(f->ram + DATA + 0x100000 + s * 0x1000, 2048, f->ram + DATA + s * 0x1000, 2048);
    /* A queued read past the end: task file error, the NCQ log names the tag. */
    uint8_t fis[20];
    fis_cmd(fis, 0x60, DISK_SECTORS - 1, 0);
    fis[3] = 2;
    struct prd p = { DATA, 1024 };
    build(f, P_DISK, 5, fis, NULL, &p, 1, false, -1);
    pwr(f, P_DISK, PORT_IS, ~0u);
    pwr(f, P_DISK, PORT_SACT, 1u << 5);
    pwr(f, P_DISK, PORT_CI, 1u << 5);
    ahci_wait_idle(f->h);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_TFES);
    recover(f, P_DISK);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_SACT), ==, 0);
    struct prd log = { DATA + 0x8000, 512 };
    uint8_t rl[20];
    fis_cmd(rl, 0x2F, 0x10, 1);
    build(f, P_DISK, 0, rl, NULL, &log, 1, false, -1);
    issue(f, P_DISK, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_TFD), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 0x8000], ==, 5);
    g_assert_true(f->ram[DATA + 0x8000 + 2] & ATA_ST_ERR);
}

static void test_trim(struct fx *f, gconstpointer data)
{
    fill(f, DATA, 4096, 0x55);
    struct prd w = { DATA, 4096 };
    g_assert_cmpint(ata(f, P_DISK, 0x35, 64, 8, &w, 1, true), ==, ATA_ST_OK);
    uint64_t range[64] = { 0 };
    range[0] = 64 | (uint64_t)8 << 48;
    memcpy(f->ram + DATA + 0x10000, range, 512);
    uint8_t fis[20];
    fis_cmd(fis, 0x06, 0, 1);
    fis[3] = 1;                      /* TRIM */
    struct prd r = { DATA + 0x10000, 512 };
    build(f, P_DISK, 0, fis, NULL, &r, 1, true, -1);
    issue(f, P_DISK, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_TFD), ==, ATA_ST_OK);
    /* A range past the end is refused before anything is discarded. */
    range[1] = (DISK_SECTORS - 1) | (uint64_t)9 << 48;
    memcpy(f->ram + DATA + 0x10000, range, 512);
    build(f, P_DISK, 0, fis, NULL, &r, 1, true, -1);
    issue(f, P_DISK, 0);
    g_assert_true(prd_(f, P_DISK, PORT_TFD) & ATA_ST_ERR);
    recover(f, P_DISK);
    /* The read-only disk neither writes nor trims, and says so. */
    g_assert_cmpint(ata(f, P_RO, 0x35, 0, 1, &w, 1, true), ==, ATA_ER_ABRT << 8 | 0x41);
    recover(f, P_RO);
    g_assert_cmpint(ata(f, P_RO, 0x25, 0, 1, &w, 1, false), ==, ATA_ST_OK);
}

/* Garbage from the guest: each case halts the port with an error bit,
 * and the controller (and the other ports) keep working. */
static void test_hostile(struct fx *f, gconstpointer data)
{
    struct prd outside = { RAM_SIZE - 512, 4096 };
    g_assert_cmpint(ata(f, P_DISK, 0x25, 0, 8, &outside, 1, false) & ATA_ST_ERR, ==, ATA_ST_ERR);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_HBFS);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 1);      /* stays set: the driver must recover */
    /* A halted port ignores further commands until ST is cleared. */
    struct prd ok = { DATA, 512 };
    uint8_t fis[20];
    fis_cmd(fis, 0xEC, 0, 0);
    build(f, P_DISK, 1, fis, NULL, &ok, 1, false, -1);
    issue(f, P_DISK, 1);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 3);
    /* Meanwhile the read-only disk's port works. */
    g_assert_cmpint(ata(f, P_RO, 0xEC, 0, 0, &ok, 1, false), ==, ATA_ST_OK);
    recover(f, P_DISK);
    g_assert_cmpint(ata(f, P_DISK, 0xEC, 0, 0, &ok, 1, false), ==, ATA_ST_OK);
    /* PRDT shorter than the transfer: overflow. */
    g_assert_cmpint(ata(f, P_DISK, 0x25, 0, 8, &ok, 1, false) & ATA_ST_ERR, ==, ATA_ST_ERR);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_OFS);
    recover(f, P_DISK);
    /* An absurd PRDT length (65535 entries, none in RAM past the first)
     * for a one-sector read: only what the transfer needs is looked at. */
    struct prd big = { DATA, 0x400000 };
    build(f, P_DISK, 0, (uint8_t[20]){ 0x27, 0x80, 0x25, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 1 }, NULL, &big, 1, false, 65535);
    issue(f, P_DISK, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_TFD), ==, ATA_ST_OK);
    /* ...but a transfer that does reach past RAM through them faults. */
    struct prd two[2] = { { DATA, 512 }, { RAM_SIZE - 256, 0x400000 } };
    build(f, P_DISK, 0, (uint8_t[20]){ 0x27, 0x80, 0x25, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 16 }, NULL, two, 2, false, 65535);
    issue(f, P_DISK, 0);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_HBFS);
    recover(f, P_DISK);
    /* LBA past the end; an unknown command; a FIS that is not a command. */
    g_assert_cmpint(ata(f, P_DISK, 0x25, DISK_SECTORS, 1, &ok, 1, false), ==, (ATA_ER_IDNF | ATA_ER_ABRT) << 8 | 0x41);
    recover(f, P_DISK);
    g_assert_cmpint(ata(f, P_DISK, 0xB0 /* SMART */, 0, 0, &ok, 1, false), ==, ATA_ER_ABRT << 8 | 0x41);
    recover(f, P_DISK);
    fis_cmd(fis, 0x25, 0, 1);
    fis[0] = 0x46;
    build(f, P_DISK, 0, fis, NULL, &ok, 1, false, -1);
    issue(f, P_DISK, 0);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_TFES);
    recover(f, P_DISK);
    /* Command table and command list outside RAM. */
    fis_cmd(fis, 0xEC, 0, 0);
    build(f, P_DISK, 0, fis, NULL, &ok, 1, false, -1);
    uint32_t far = 0xF0000000u;
    memcpy(f->ram + clb(P_DISK) + 8, &far, 4);
    issue(f, P_DISK, 0);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_HBFS);
    recover(f, P_DISK);
    pwr(f, P_DISK, PORT_CMD, PORT_CMD_FRE);
    pwr(f, P_DISK, PORT_CLB, 0xFFFFFC00u);
    pwr(f, P_DISK, PORT_CLBU, 0xFFFF);
    pwr(f, P_DISK, PORT_CMD, PORT_CMD_FRE | PORT_CMD_ST);
    issue(f, P_DISK, 0);
    g_assert_true(prd_(f, P_DISK, PORT_IS) & PORT_IS_HBFS);
    /* Unaligned and odd-sized register accesses do nothing harmful. */
    ahci_mmio_write(f->h, 0x3, 0xFF, 2);
    ahci_mmio_write(f->h, AHCI_ABAR_SIZE + 8, 1, 4);
    g_assert_cmpuint(ahci_mmio_read(f->h, AHCI_ABAR_SIZE, 4), ==, 0);
    /* After a COMRESET the port runs again. */
    pwr(f, P_DISK, PORT_CMD, PORT_CMD_FRE);
    pwr(f, P_DISK, PORT_CLBU, 0);
    start_port(f, P_DISK);
    g_assert_cmpint(ata(f, P_DISK, 0xEC, 0, 0, &ok, 1, false), ==, ATA_ST_OK);
}

/* A reset while commands run: they finish in the block layer but nothing
 * of them reaches the guest's registers or FIS area afterwards. */
static void test_reset_mid_command(struct fx *f, gconstpointer data)
{
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned s = 0; s < 8; s++) {
            uint8_t fis[20];
            fis_cmd(fis, 0x60, s * 64, 0);
            fis[3] = 64;
            struct prd p = { DATA + s * 0x8000, 0x8000 };
            build(f, P_DISK, s, fis, NULL, &p, 1, false, -1);
        }
        pwr(f, P_DISK, PORT_SACT, 0xFF);
        pwr(f, P_DISK, PORT_CI, 0xFF);
        memset(f->ram + fb(P_DISK), 0, 256);
        if (round == 0) {                /* COMRESET */
            pwr(f, P_DISK, PORT_CMD, PORT_CMD_FRE);
            pwr(f, P_DISK, PORT_SCTL, 1);
            pwr(f, P_DISK, PORT_SCTL, 0);
        } else if (round == 1) {         /* controller reset */
            wr(f, AHCI_GHC, AHCI_GHC_HR);
            wr(f, AHCI_GHC, AHCI_GHC_IE);
        } else {                         /* the driver stops the port */
            pwr(f, P_DISK, PORT_CMD, PORT_CMD_FRE);
        }
        pwr(f, P_DISK, PORT_IS, ~0u);
        ahci_wait_idle(f->h);
        g_assert_cmpuint(prd_(f, P_DISK, PORT_SACT), ==, 0);
        g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 0);
        g_assert_cmpuint(prd_(f, P_DISK, PORT_IS) & (PORT_IS_SDBS | PORT_IS_DHRS), ==, 0);
        g_assert_cmpuint(f->ram[fb(P_DISK) + RFIS_SDB], ==, 0);
        g_assert_cmpuint(prd_(f, P_DISK, PORT_CMD) & PORT_CMD_CR, ==, 0);
        start_port(f, P_DISK);
        struct prd ok = { DATA, 512 };
        g_assert_cmpint(ata(f, P_DISK, 0xEC, 0, 0, &ok, 1, false), ==, ATA_ST_OK);
    }
}

/* ---- ATAPI ---- */

static int packet(struct fx *f, const uint8_t cdb[12], uint64_t buf, uint32_t len)
{
    uint8_t fis[20];
    fis_cmd(fis, 0xA0, 0, 0);
    fis[3] = 1;                      /* DMA */
    fis[5] = 0xFE;                   /* byte count limit */
    struct prd p = { buf, len ? len : 2 };
    build(f, P_CD, 0, fis, cdb, &p, 1, false, -1);
    pwr(f, P_CD, PORT_IS, ~0u);
    issue(f, P_CD, 0);
    int tfd = (int)(prd_(f, P_CD, PORT_TFD) & 0xFFFF);
    if (tfd & ATA_ST_ERR)
        recover(f, P_CD);
    return tfd;
}

/* Sense key / ASC / ASCQ as REQUEST SENSE reports them, packed. */
static uint32_t sense(struct fx *f)
{
    uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };
    g_assert_cmpint(packet(f, cdb, DATA + 0x7000, 18), ==, ATA_ST_OK);
    uint8_t *s = f->ram + DATA + 0x7000;
    return (uint32_t)(s[2] & 0xF) << 16 | s[12] << 8 | s[13];
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void test_atapi(struct fx *f, gconstpointer data)
{
    uint8_t tur[12] = { 0 };
    /* The drive has not said "medium changed" before; a fresh one is ready. */
    g_assert_cmpint(packet(f, tur, DATA, 0), ==, ATA_ST_OK);
    uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
    g_assert_cmpint(packet(f, inq, DATA, 36), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA], ==, 0x05);
    g_assert_cmpuint(f->ram[DATA + 1], ==, 0x80);
    g_assert_cmpmem(f->ram + DATA + 8, 5, "DOMUS", 5);
    uint8_t cap[12] = { 0x25 };
    g_assert_cmpint(packet(f, cap, DATA, 8), ==, ATA_ST_OK);
    g_assert_cmpuint(be32(f->ram + DATA), ==, ISO_SECTORS - 1);
    g_assert_cmpuint(be32(f->ram + DATA + 4), ==, 2048);
    /* READ(10) and READ(12) of sectors 3-4 match the image. */
    uint8_t *iso;
    gsize isolen;
    g_assert_true(g_file_get_contents(f->iso, (char **)&iso, &isolen, NULL));
    uint8_t r10[12] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 2 };
    g_assert_cmpint(packet(f, r10, DATA + 0x10000, 4096), ==, ATA_ST_OK);
    g_assert_cmpmem(f->ram + DATA + 0x10000, 4096, iso + 3 * 2048, 4096);
    uint8_t r12[12] = { 0xA8, 0, 0, 0, 0, 3, 0, 0, 0, 2 };
    memset(f->ram + DATA + 0x10000, 0, 4096);
    g_assert_cmpint(packet(f, r12, DATA + 0x10000, 4096), ==, ATA_ST_OK);
    g_assert_cmpmem(f->ram + DATA + 0x10000, 4096, iso + 3 * 2048, 4096);
    g_free(iso);
    /* Past the end: ILLEGAL REQUEST / LBA out of range. */
    uint8_t bad[12] = { 0x28, 0, 0, 0, 0, ISO_SECTORS, 0, 0, 1 };
    g_assert_cmpint(packet(f, bad, DATA, 2048), ==, (SENSE_ILLEGAL << 4) << 8 | 0x41);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_ILLEGAL << 16 | ASC_LBA_OUT_OF_RANGE);
    /* Unknown opcode. */
    uint8_t unk[12] = { 0xEE };
    g_assert_cmpint(packet(f, unk, DATA, 0) & ATA_ST_ERR, ==, ATA_ST_ERR);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_ILLEGAL << 16 | ASC_INVALID_OPCODE);
    /* TOC: track 1 at 0, lead-out at the end; in MSF the lead-in shifts it. */
    uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
    g_assert_cmpint(packet(f, toc, DATA, 100), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 1], ==, 18);
    g_assert_cmpuint(f->ram[DATA + 6], ==, 1);
    g_assert_cmpuint(f->ram[DATA + 14], ==, 0xAA);
    g_assert_cmpuint(be32(f->ram + DATA + 16), ==, ISO_SECTORS);
    toc[1] = 2;
    g_assert_cmpint(packet(f, toc, DATA, 100), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 10], ==, 2);      /* track 1 at 00:02:00 */
    uint8_t ses[12] = { 0x43, 0, 1, 0, 0, 0, 0, 0, 12 };
    g_assert_cmpint(packet(f, ses, DATA, 12), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 1], ==, 10);
    /* Configuration: CD-ROM profile current; capabilities page. */
    uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 200 };
    g_assert_cmpint(packet(f, gc, DATA, 200), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 7], ==, 0x08);
    uint8_t ms[12] = { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 64 };
    g_assert_cmpint(packet(f, ms, DATA, 64), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 8], ==, 0x2A);
    uint8_t di[12] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 };
    g_assert_cmpint(packet(f, di, DATA, 34), ==, ATA_ST_OK);
    g_assert_cmpuint(f->ram[DATA + 2], ==, 0x0E);
}

static uint8_t media_event(struct fx *f)
{
    uint8_t gesn[12] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8 };
    g_assert_cmpint(packet(f, gesn, DATA + 0x7100, 8), ==, ATA_ST_OK);
    return f->ram[DATA + 0x7100 + 4];
}

static void test_media_change(struct fx *f, gconstpointer data)
{
    uint8_t tur[12] = { 0 }, cap[12] = { 0x25 };
    char *err = NULL;
    g_assert_cmpuint(media_event(f), ==, MEDIA_EV_NONE);
    /* Host eject: not ready, medium not present; the guest sees the removal. */
    g_assert_cmpint(ahci_eject(f->h, "cd0", false, &err), ==, 0);
    g_assert_cmpint(packet(f, tur, DATA, 0) >> 12, ==, SENSE_NOT_READY);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_NOT_READY << 16 | ASC_NO_MEDIUM_TRAY_CLOSED);
    g_assert_cmpuint(media_event(f), ==, MEDIA_EV_REMOVED);
    g_assert_cmpuint(media_event(f), ==, MEDIA_EV_NONE);
    /* New disc: one UNIT ATTENTION, then ready with the new capacity. */
    g_assert_cmpint(ahci_change_media(f->h, "cd0", f->iso2, false, &err), ==, 0);
    g_assert_cmpuint(media_event(f), ==, MEDIA_EV_NEW);
    g_assert_cmpint(packet(f, tur, DATA, 0) >> 12, ==, SENSE_UNIT_ATTENTION);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_UNIT_ATTENTION << 16 | ASC_MEDIUM_CHANGED);
    g_assert_cmpint(packet(f, tur, DATA, 0), ==, ATA_ST_OK);
    g_assert_cmpint(packet(f, cap, DATA, 8), ==, ATA_ST_OK);
    g_assert_cmpuint(be32(f->ram + DATA), ==, 2 * ISO_SECTORS - 1);
    /* The guest locks the tray: the host's eject is refused and the guest
     * is asked; the guest's own eject is refused too. */
    uint8_t lock[12] = { 0x1E, 0, 0, 0, 1 }, unlock[12] = { 0x1E };
    uint8_t eject[12] = { 0x1B, 0, 0, 0, 2 }, load[12] = { 0x1B, 0, 0, 0, 3 };
    g_assert_cmpint(packet(f, lock, DATA, 0), ==, ATA_ST_OK);
    g_assert_cmpint(ahci_eject(f->h, "cd0", false, &err), ==, -EBUSY);
    g_assert_nonnull(err);
    free(err);
    err = NULL;
    g_assert_cmpint(ahci_change_media(f->h, "cd0", f->iso, false, &err), ==, -EBUSY);
    free(err);
    err = NULL;
    g_assert_cmpuint(media_event(f), ==, MEDIA_EV_EJECT_REQ);
    g_assert_cmpint(packet(f, eject, DATA, 0) >> 12, ==, SENSE_NOT_READY);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_NOT_READY << 16 | ASC_REMOVAL_PREVENTED);
    /* Unlocked, the guest opens the tray and closes it again. */
    g_assert_cmpint(packet(f, unlock, DATA, 0), ==, ATA_ST_OK);
    g_assert_cmpint(packet(f, eject, DATA, 0), ==, ATA_ST_OK);
    g_assert_cmpint(packet(f, tur, DATA, 0) >> 12, ==, SENSE_NOT_READY);
    g_assert_cmpuint(sense(f), ==, (uint32_t)SENSE_NOT_READY << 16 | ASC_NO_MEDIUM_TRAY_OPEN);
    g_assert_cmpint(packet(f, load, DATA, 0), ==, ATA_ST_OK);
    g_assert_cmpint(packet(f, tur, DATA, 0) >> 12, ==, SENSE_UNIT_ATTENTION);
    g_assert_cmpint(packet(f, tur, DATA, 0), ==, ATA_ST_OK);
    /* Unknown drive names and missing files are errors, nothing changes. */
    g_assert_cmpint(ahci_eject(f->h, "cd7", false, &err), ==, -ENODEV);
    free(err);
    err = NULL;
    g_assert_cmpint(ahci_change_media(f->h, "sata0", f->iso, false, &err), ==, -ENODEV);
    free(err);
    err = NULL;
    g_assert_cmpint(ahci_change_media(f->h, "cd0", "/nonexistent.iso", false, &err), <, 0);
    free(err);
    g_assert_cmpint(packet(f, cap, DATA, 8), ==, ATA_ST_OK);
    g_assert_cmpuint(be32(f->ram + DATA), ==, 2 * ISO_SECTORS - 1);
}

static void test_softreset_and_state(struct fx *f, gconstpointer data)
{
    /* Linux's soft reset: SRST set, then cleared; the signature follows. */
    uint8_t fis[20] = { 0x27, 0x00 };
    fis[15] = 0x04;
    build(f, P_CD, 0, fis, NULL, NULL, 0, false, -1);
    issue(f, P_CD, 0);
    g_assert_cmpuint(prd_(f, P_CD, PORT_CI), ==, 0);
    fis[15] = 0;
    memset(f->ram + fb(P_CD), 0, 256);
    build(f, P_CD, 0, fis, NULL, NULL, 0, false, -1);
    issue(f, P_CD, 0);
    g_assert_cmpuint(f->ram[fb(P_CD) + RFIS_D2H + 5], ==, 0x14);
    g_assert_cmpuint(f->ram[fb(P_CD) + RFIS_D2H + 6], ==, 0xEB);
    /* Save, scribble, restore: the registers come back. */
    size_t size = ahci_state_size();
    struct ahci_state *s = malloc(size);
    ahci_wait_idle(f->h);
    ahci_state_save(f->h, s);
    uint32_t clb_before = prd_(f, P_DISK, PORT_CLB), cmd_before = prd_(f, P_DISK, PORT_CMD);
    wr(f, AHCI_GHC, AHCI_GHC_HR);
    pwr(f, P_DISK, PORT_CLB, 0);
    g_assert_cmpint(ahci_state_restore(f->h, s, size), ==, 0);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CLB), ==, clb_before);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CMD), ==, cmd_before);
    g_assert_cmpuint(rd(f, AHCI_GHC) & AHCI_GHC_IE, ==, AHCI_GHC_IE);
    struct prd ok = { DATA, 512 };
    g_assert_cmpint(ata(f, P_DISK, 0xEC, 0, 0, &ok, 1, false), ==, ATA_ST_OK);
    g_assert_cmpint(ahci_state_restore(f->h, s, size - 1), ==, -EINVAL);
    /* A state taken with other drives is refused and changes nothing. */
    char *err = NULL;
    g_assert_cmpint(ahci_attach_cdrom(f->h, NULL, &err), ==, 3);
    pwr(f, P_DISK, PORT_CLB, 0x1000);
    g_assert_cmpint(ahci_state_restore(f->h, s, size), ==, -EINVAL);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CLB), ==, 0x1000);
    free(s);
}


/* ---- live snapshots ---- */

static struct ahci_state *state_save(struct ahci *h)
{
    struct ahci_state *s = g_malloc(ahci_state_size());
    ahci_wait_idle(h);               /* what the snapshot's quiesce does */
    ahci_state_save(h, s);
    return s;
}

/* Saved with a write just issued and its interrupt pending; restored into
 * a fresh controller on a copy of the RAM with the same drives: the
 * registers and pending interrupt are there, and a read issued after the
 * restore returns the sectors written before the save. Forged states are
 * refused and change nothing. */
static void test_snapshot(struct fx *f, gconstpointer data)
{
    fill(f, DATA, 4096, 0x5A);
    uint8_t fis[20];
    fis_cmd(fis, 0x35, 100, 8);
    struct prd w = { DATA, 4096 };
    build(f, P_DISK, 0, fis, NULL, &w, 1, true, -1);
    pwr(f, P_DISK, PORT_IS, ~0u);
    pwr(f, P_DISK, PORT_CI, 1);      /* in flight when the snapshot comes */
    g_autofree struct ahci_state *s = state_save(f->h);
    size_t size = ahci_state_size();
    uint32_t is = prd_(f, P_DISK, PORT_IS), clb0 = prd_(f, P_DISK, PORT_CLB), cmd0 = prd_(f, P_DISK, PORT_CMD);
    g_assert_true(is & PORT_IS_DHRS);
    g_assert_cmpuint(prd_(f, P_DISK, PORT_CI), ==, 0);
    ahci_free(f->h);                 /* its images are locked while open */
    f->h = NULL;

    struct fx g = { .ram = g_memdup2(f->ram, RAM_SIZE) };
    guest_mem_init_fake(&g.mem, g.ram, RAM_SIZE);
    char *err = NULL;
    g.h = ahci_new(&g.mem, NULL, &err);
    struct disk_config d = { .path = f->disk, .serial = "SERIAL-1" }, ro = { .path = f->rodisk, .readonly = true };
    g_assert_cmpint(ahci_attach_disk(g.h, &d, &err), ==, P_DISK);
    g_assert_cmpint(ahci_attach_cdrom(g.h, f->iso, &err), ==, P_CD);

    /* Another drive set (no third drive yet), then forged flags. */
    g_assert_cmpint(ahci_state_restore(g.h, s, size), ==, -EINVAL);
    g_assert_cmpint(ahci_attach_disk(g.h, &ro, &err), ==, P_RO);
    g_autofree struct ahci_state *bad = g_memdup2(s, size);
    bad->ports[P_DISK].halted = 7;
    g_assert_cmpint(ahci_state_restore(g.h, bad, size), ==, -EINVAL);
    bad->ports[P_DISK].halted = 0;
    bad->ports[P_DISK].ncq_err_tag = 32;
    g_assert_cmpint(ahci_state_restore(g.h, bad, size), ==, -EINVAL);
    bad->ports[P_DISK].ncq_err_tag = 0;
    bad->ports[P_DISK].sectors++;        /* a disk of another size */
    g_assert_cmpint(ahci_state_restore(g.h, bad, size), ==, -EINVAL);
    g_assert_cmpint(ahci_state_restore(g.h, s, size - 1), ==, -EINVAL);
    g_assert_cmpuint(prd_(&g, P_DISK, PORT_CLB), ==, 0);

    g_assert_cmpint(ahci_state_restore(g.h, s, size), ==, 0);
    ahci_state_resume(g.h);
    g_assert_cmphex(prd_(&g, P_DISK, PORT_IS), ==, is);
    g_assert_cmphex(prd_(&g, P_DISK, PORT_CLB), ==, clb0);
    g_assert_cmphex(prd_(&g, P_DISK, PORT_CMD), ==, cmd0);
    g_assert_true(rd(&g, AHCI_IS) & (1u << P_DISK));
    struct prd r = { DATA + 0x40000, 4096 };
    g_assert_cmpint(ata(&g, P_DISK, 0x25, 100, 8, &r, 1, false), ==, ATA_ST_OK);
    g_assert_cmpmem(g.ram + DATA + 0x40000, 4096, f->ram + DATA, 4096);
    ahci_free(g.h);
    g_free(g.ram);
}

/* An AHCI disk is in the disk snapshot a live snapshot takes: after a
 * revert (disks, controller, RAM) a read returns what the disk held at the
 * snapshot, not what was written after. A snapshot the disk lacks, or a
 * raw disk, is refused with its name and nothing changes. */
static void test_snapshot_disk(struct fx *f, gconstpointer data)
{
    char *err = NULL;
    g_assert_cmpint(block_set_snapshot("s1", false, &err), ==, -ENOTSUP);
    g_assert_nonnull(strstr(err, "disk.raw is raw"));
    g_free(err);
    err = NULL;
    ahci_free(f->h);
    g_autofree char *qcow = g_build_filename(f->dir, "disk.qcow2", NULL);
    struct block_create_opts o = { .format = BLOCK_FMT_QCOW2, .size = DISK_SECTORS * 512 };
    g_assert_cmpint(block_create(qcow, &o, &err), ==, 0);
    f->h = ahci_new(&f->mem, NULL, &err);
    struct disk_config d = { .path = qcow };
    g_assert_cmpint(ahci_attach_disk(f->h, &d, &err), ==, 0);
    wr(f, AHCI_GHC, AHCI_GHC_IE);
    start_port(f, 0);
    struct prd w = { DATA, 512 }, r = { DATA + 0x1000, 512 };
    fill(f, DATA, 512, 0xA1);
    g_assert_cmpint(ata(f, 0, 0x35, 10, 1, &w, 1, true), ==, ATA_ST_OK);

    g_autofree struct ahci_state *s = state_save(f->h);
    g_assert_cmpint(block_set_snapshot("s1", false, &err), ==, 0);
    g_autofree uint8_t *ram = g_memdup2(f->ram, RAM_SIZE);
    g_autofree uint8_t *want = g_memdup2(f->ram + DATA, 512);

    fill(f, DATA, 512, 0xB2);
    g_assert_cmpint(ata(f, 0, 0x35, 10, 1, &w, 1, true), ==, ATA_ST_OK);
    g_assert_cmpint(ata(f, 0, 0x25, 10, 1, &r, 1, false), ==, ATA_ST_OK);
    g_assert_cmpmem(f->ram + DATA + 0x1000, 512, f->ram + DATA, 512);

    g_assert_cmpint(block_set_snapshot("nope", true, &err), ==, -ENOENT);
    g_assert_nonnull(strstr(err, "has no snapshot 'nope'"));
    g_free(err);
    err = NULL;
    ahci_wait_idle(f->h);
    g_assert_cmpint(block_set_snapshot("s1", true, &err), ==, 0);
    g_assert_cmpint(ahci_state_restore(f->h, s, ahci_state_size()), ==, 0);
    memcpy(f->ram, ram, RAM_SIZE);
    ahci_state_resume(f->h);
    memset(f->ram + DATA + 0x1000, 0, 512);
    g_assert_cmpint(ata(f, 0, 0x25, 10, 1, &r, 1, false), ==, ATA_ST_OK);
    g_assert_cmpmem(f->ram + DATA + 0x1000, 512, want, 512);
    ahci_free(f->h);
    f->h = NULL;
    g_unlink(qcow);
}

/* A driver thread per port keeps 32 queued reads in flight while another
 * thread completes them as the I/O thread would: every read returns the
 * image's bytes (raw and qcow2, inline page-cache reads and worker reads
 * mixed), nothing is lost or completed twice. */
struct stress {
    struct fx *f;
    unsigned port, rounds;
    const uint8_t *want;
    bool failed;
};

static volatile bool stress_stop;

static void *stress_io(void *opaque)
{
    struct fx *f = opaque;
    struct pollfd pfd = { .fd = block_aio_fd(f->h->aio), .events = POLLIN };
    while (!stress_stop) {
        if (poll(&pfd, 1, 10) > 0)
            ahci_complete(f->h);
    }
    return NULL;
}

static void *stress_driver(void *opaque)
{
    struct stress *st = opaque;
    struct fx *f = st->f;
    unsigned p = st->port;
    uint64_t base = DATA + p * 0x100000ull;
    for (unsigned round = 0; round < st->rounds && !st->failed; round++) {
        uint32_t lba[AHCI_SLOTS];
        for (unsigned s = 0; s < AHCI_SLOTS; s++) {
            lba[s] = (round * 97 + s * 61) % (DISK_SECTORS - 8);
            uint8_t fis[20];
            fis_cmd(fis, 0x60, lba[s], 0);
            fis[3] = 8;
            fis[12] = (uint8_t)(s << 3);
            memset(f->ram + base + s * 4096, 0xEE, 4096);
            struct prd pr[2] = { { base + s * 4096, 1024 }, { base + s * 4096 + 1024, 3072 } };
            build(f, p, s, fis, NULL, pr, 2, false, -1);
        }
        pwr(f, p, PORT_SACT, ~0u);
        pwr(f, p, PORT_CI, ~0u);
        for (unsigned spin = 0; prd_(f, p, PORT_SACT) && spin < 200000; spin++)
            usleep(50);
        if (prd_(f, p, PORT_SACT) || (prd_(f, p, PORT_IS) & PORT_IS_TFES)) {
            st->failed = true;
            break;
        }
        pwr(f, p, PORT_IS, ~0u);
        for (unsigned s = 0; s < AHCI_SLOTS; s++)
            if (memcmp(f->ram + base + s * 4096, st->want + lba[s] * 512ull, 4096))
                st->failed = true;
    }
    return NULL;
}

static void test_concurrent(struct fx *f, gconstpointer data)
{
    char *qpath = g_build_filename(f->dir, "q.qcow2", NULL);
    struct block_create_opts co = { .format = BLOCK_FMT_QCOW2, .size = DISK_SECTORS * 512 };
    g_assert_cmpint(block_create(qpath, &co, NULL), ==, 0);
    uint8_t *want;
    gsize len;
    g_assert_true(g_file_get_contents(f->rodisk, (char **)&want, &len, NULL));
    struct block *b;
    struct block_open_opts oo = { 0 };
    g_assert_cmpint(block_open(qpath, &oo, &b, NULL), ==, 0);
    g_assert_cmpint(block_pwrite(b, want, len, 0), ==, 0);
    block_close(b);
    struct disk_config q = { .path = qpath, .readonly = true };
    g_assert_cmpint(ahci_attach_disk(f->h, &q, NULL), ==, 3);
    start_port(f, 3);
    pthread_t io, drv[2];
    struct stress st[2] = { { f, P_RO, 40, want, false }, { f, 3, 40, want, false } };
    stress_stop = false;
    pthread_create(&io, NULL, stress_io, f);
    for (unsigned i = 0; i < 2; i++)
        pthread_create(&drv[i], NULL, stress_driver, &st[i]);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(drv[i], NULL);
    stress_stop = true;
    pthread_join(io, NULL);
    g_assert_false(st[0].failed);
    g_assert_false(st[1].failed);
    g_free(want);
    g_unlink(qpath);
    g_free(qpath);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/ahci/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    T("registers", test_registers);
    T("identify", test_identify);
    T("dma-rw", test_dma_rw);
    T("ncq", test_ncq);
    T("trim-readonly", test_trim);
    T("hostile", test_hostile);
    T("reset-mid-command", test_reset_mid_command);
    T("atapi", test_atapi);
    T("media-change", test_media_change);
    T("softreset-state", test_softreset_and_state);
    T("concurrent", test_concurrent);
    T("snapshot", test_snapshot);
    T("snapshot-disk", test_snapshot_disk);
    return g_test_run();
}
