/* The ATA command set of a SATA disk (ATA8-ACS): IDENTIFY, DMA and PIO
 * reads and writes (28- and 48-bit), NCQ (READ/WRITE FPDMA QUEUED), cache
 * flush, write cache on/off, TRIM, READ VERIFY, the NCQ error log, and the
 * few ATA commands an ATAPI drive answers. Anything else is aborted. */
#include "ahci_int.h"
#include "block/block.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR            512
#define TRIM_MAX_BLOCKS   8          /* 512-byte blocks of ranges per DSM (IDENTIFY word 105) */
#define LOG_DIRECTORY     0x00
#define LOG_NCQ_ERROR     0x10

enum {
    ATA_NOP = 0x00, ATA_DSM = 0x06, ATA_DEVICE_RESET = 0x08, ATA_RECALIBRATE = 0x10,
    ATA_READ_PIO = 0x20, ATA_READ_PIO_NR = 0x21, ATA_READ_PIO_EXT = 0x24, ATA_READ_DMA_EXT = 0x25,
    ATA_READ_MULTI_EXT = 0x29, ATA_READ_LOG_EXT = 0x2F,
    ATA_WRITE_PIO = 0x30, ATA_WRITE_PIO_NR = 0x31, ATA_WRITE_PIO_EXT = 0x34, ATA_WRITE_DMA_EXT = 0x35,
    ATA_WRITE_MULTI_EXT = 0x39, ATA_WRITE_DMA_FUA_EXT = 0x3D,
    ATA_VERIFY = 0x40, ATA_VERIFY_NR = 0x41, ATA_VERIFY_EXT = 0x42,
    ATA_FPDMA_READ = 0x60, ATA_FPDMA_WRITE = 0x61,
    ATA_EXEC_DIAG = 0x90, ATA_INIT_PARAMS = 0x91, ATA_PACKET = 0xA0, ATA_ID_PACKET = 0xA1,
    ATA_READ_MULTI = 0xC4, ATA_WRITE_MULTI = 0xC5, ATA_SET_MULTI = 0xC6,
    ATA_READ_DMA = 0xC8, ATA_READ_DMA_NR = 0xC9, ATA_WRITE_DMA = 0xCA, ATA_WRITE_DMA_NR = 0xCB,
    ATA_WRITE_MULTI_FUA_EXT = 0xCE,
    ATA_STANDBY_NOW = 0xE0, ATA_IDLE_NOW = 0xE1, ATA_STANDBY = 0xE2, ATA_IDLE = 0xE3,
    ATA_CHECK_POWER = 0xE5, ATA_SLEEP = 0xE6, ATA_FLUSH = 0xE7, ATA_FLUSH_EXT = 0xEA,
    ATA_IDENTIFY = 0xEC, ATA_SET_FEATURES = 0xEF,
};

static void ok(struct ahci_result *res)
{
    *res = (struct ahci_result){ .status = ATA_ST_OK };
}

static int aborted(struct ahci_result *res, uint8_t error)
{
    *res = (struct ahci_result){ .status = ATA_ST_DRDY | ATA_ST_ERR, .error = error };
    return 0;
}

/* A PRDT that is outside RAM or too short is the HBA's error, not the device's. */
static int fault(struct ahci_result *res, int err)
{
    *res = (struct ahci_result){ .fault = err == -ENOSPC ? PORT_IS_OFS : err == -ENOMEM ? 0 : PORT_IS_HBFS };
    if (!res->fault)
        return aborted(res, ATA_ER_ABRT);
    return 0;
}

void ata_put_string(uint16_t *words, const char *s, unsigned nbytes)
{
    size_t len = strlen(s);
    for (unsigned i = 0; i < nbytes; i++) {
        uint8_t c = i < len ? (uint8_t)s[i] : ' ';
        /* Each word holds two characters, the first in the high byte. */
        if (i & 1)
            words[i / 2] = (uint16_t)((words[i / 2] & 0xFF00) | c);
        else
            words[i / 2] = (uint16_t)((words[i / 2] & 0x00FF) | c << 8);
    }
}

void ata_id_checksum(uint16_t id[256])
{
    id[255] = 0x00A5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 255; i++)
        sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
    sum = (uint8_t)(sum + 0xA5);
    id[255] |= (uint16_t)((uint8_t)-sum) << 8;
}

static uint16_t udma_word(const struct ahci_drive *d)
{
    uint16_t w = 0x7F;               /* UDMA 0-6 supported */
    if ((d->xfer_mode & 0xF8) == 0x40)
        w |= (uint16_t)(0x100 << (d->xfer_mode & 7));
    else
        w |= 0x2000;                 /* UDMA 5 selected until the driver picks */
    return w;
}

void ata_identify(const struct ahci_drive *d, uint16_t id[256])
{
    memset(id, 0, 512);
    uint64_t lba28 = d->sectors < 0x0FFFFFFF ? d->sectors : 0x0FFFFFFF;
    uint64_t cyl = d->sectors / (16 * 63);
    id[0] = 0x0040;                  /* fixed ATA device */
    id[1] = (uint16_t)(cyl > 16383 ? 16383 : cyl);
    id[3] = 16;
    id[6] = 63;
    ata_put_string(&id[10], d->serial, 20);
    ata_put_string(&id[23], "1.0", 8);
    ata_put_string(&id[27], d->model, 40);
    id[47] = 0x8000 | 16;            /* READ/WRITE MULTIPLE: up to 16 sectors */
    id[49] = (1 << 11) | (1 << 9) | (1 << 8);   /* IORDY, LBA, DMA */
    id[50] = 0x4000;
    id[53] = 0x0007;
    id[54] = id[1];
    id[55] = 16;
    id[56] = 63;
    id[57] = (uint16_t)lba28;
    id[58] = (uint16_t)(lba28 >> 16);
    id[59] = d->multiple ? (uint16_t)(0x100 | d->multiple) : 0;
    id[60] = (uint16_t)lba28;
    id[61] = (uint16_t)(lba28 >> 16);
    id[63] = 0x0007;                 /* MWDMA 0-2 */
    id[64] = 0x0003;                 /* PIO 3-4 */
    id[65] = id[66] = id[67] = id[68] = 120;
    id[75] = AHCI_SLOTS - 1;         /* queue depth - 1 */
    id[76] = (1 << 8) | (1 << 2) | (1 << 1);   /* NCQ, 3.0 and 1.5 Gb/s */
    id[80] = 0x01F0;                 /* ATA/ATAPI-4 to ATA8-ACS */
    id[82] = (1 << 14) | (1 << 5);   /* NOP, volatile write cache */
    id[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10);   /* FLUSH EXT, FLUSH, LBA48 */
    id[84] = (1 << 14) | (1 << 5);   /* general purpose logging */
    id[85] = (uint16_t)((1 << 14) | (d->wce ? 1 << 5 : 0));
    id[86] = (1 << 13) | (1 << 12) | (1 << 10);
    id[87] = (1 << 14) | (1 << 5);
    id[88] = udma_word(d);
    for (unsigned i = 0; i < 4; i++)
        id[100 + i] = (uint16_t)(d->sectors >> (16 * i));
    id[106] = 0x4000;                /* one 512-byte logical sector per physical */
    if (d->discard_unit) {
        id[69] = 1 << 14;            /* deterministic read after TRIM */
        id[105] = TRIM_MAX_BLOCKS;
        id[169] = 1;                 /* DATA SET MANAGEMENT TRIM */
    }
    id[217] = 1;                     /* not rotating */
    ata_id_checksum(id);
}

static uint64_t fis_lba48(const uint8_t *f)
{
    return (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
           (uint64_t)f[8] << 24 | (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
}

static uint64_t fis_lba28(const uint8_t *f)
{
    return (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)(f[7] & 0xF) << 24;
}

static int reply_pio(struct ahci_xfer *x, struct ahci_result *res, const void *buf, size_t len)
{
    long n = ahci_xfer_to_guest(x, buf, len);
    if (n < 0)
        return fault(res, (int)n);
    ok(res);
    res->pio = true;
    res->bytes = (uint32_t)n;
    return 0;
}

/* ---- reads and writes ---- */

static int write_through(struct block_request *br)
{
    int r = block_pwritev(br->bdev, br->iov, br->niov, br->off);
    return r < 0 ? r : block_flush(br->bdev);
}

struct rw {
    uint64_t lba;
    uint32_t count;
    bool write, pio, ncq, fua;
};

static int ata_rw(struct ahci_xfer *x, struct ahci_result *res, const struct rw *rw)
{
    struct ahci_drive *d = &x->port->drive;
    if (rw->write && d->readonly)
        return aborted(res, ATA_ER_ABRT);
    if (rw->lba > d->sectors || rw->count > d->sectors - rw->lba) {
        aborted(res, ATA_ER_IDNF | ATA_ER_ABRT);
        res->lba = rw->lba;
        return 0;
    }
    int err;
    struct ahci_cmd *c = ahci_cmd_new(x, (uint64_t)rw->count * SECTOR, &err);
    if (!c)
        return fault(res, err);
    c->ncq = rw->ncq;
    c->pio = rw->pio;
    c->write = rw->write;
    c->lba = rw->lba;
    c->bytes = rw->count * SECTOR;
    c->br.off = rw->lba * SECTOR;
    c->br.op = rw->write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
    if (rw->write && (rw->fua || !d->wce)) {
        c->br.op = BLOCK_OP_CALL;
        c->br.call = write_through;
    }
    ahci_cmd_submit(x->port, c);
    return 1;
}

static int trim_ranges(struct block_request *br)
{
    struct ahci_cmd *c = br->opaque;
    for (unsigned i = 0; i < c->nranges; i++) {
        uint64_t e = le64toh(((const uint64_t *)c->buf)[i]);
        uint64_t lba = e & 0xFFFFFFFFFFFFull, n = e >> 48;
        if (n) {
            int r = block_discard(br->bdev, lba * SECTOR, n * SECTOR);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* DATA SET MANAGEMENT / TRIM: 8-byte entries of LBA (48 bits) + length. */
static int ata_trim(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    unsigned blocks = x->fis[12] | x->fis[13] << 8;
    if (!(x->fis[3] & 1) || !d->discard_unit || blocks == 0 || blocks > TRIM_MAX_BLOCKS)
        return aborted(res, ATA_ER_ABRT);
    size_t len = (size_t)blocks * SECTOR;
    uint8_t *buf = malloc(len);
    if (!buf)
        return aborted(res, ATA_ER_ABRT);
    long n = ahci_xfer_from_guest(x, buf, len, true);
    if (n < 0) {
        free(buf);
        return fault(res, (int)n);
    }
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t e = le64toh(((const uint64_t *)buf)[i]);
        uint64_t lba = e & 0xFFFFFFFFFFFFull, cnt = e >> 48;
        if (cnt && (lba > d->sectors || cnt > d->sectors - lba)) {
            free(buf);
            return aborted(res, ATA_ER_IDNF | ATA_ER_ABRT);
        }
    }
    int err;
    struct ahci_cmd *c = ahci_cmd_new(x, 0, &err);
    if (!c) {
        free(buf);
        return fault(res, err);
    }
    c->buf = buf;
    c->nranges = (unsigned)(len / 8);
    c->write = true;
    c->br.op = BLOCK_OP_CALL;
    c->br.call = trim_ranges;
    ahci_cmd_submit(x->port, c);
    return 1;
}

static int ata_flush(struct ahci_xfer *x, struct ahci_result *res)
{
    int err;
    struct ahci_cmd *c = ahci_cmd_new(x, 0, &err);
    if (!c)
        return fault(res, err);
    c->write = true;
    c->br.op = BLOCK_OP_FLUSH;
    ahci_cmd_submit(x->port, c);
    return 1;
}

/* READ LOG EXT: the log directory and the NCQ command error log, which
 * Linux reads after a queued command failed to learn which one it was. */
static int ata_read_log(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    unsigned log = x->fis[4], page = x->fis[5] | x->fis[9] << 8, count = x->fis[12] | x->fis[13] << 8;
    uint8_t buf[SECTOR] = { 0 };
    if (count != 1 || page != 0 || (log != LOG_DIRECTORY && log != LOG_NCQ_ERROR))
        return aborted(res, ATA_ER_ABRT);
    if (log == LOG_DIRECTORY) {
        buf[0] = 1;                  /* version */
        buf[2 * LOG_NCQ_ERROR] = 1;  /* one page at 10h */
    } else {
        if (d->ncq_err_valid) {
            buf[0] = d->ncq_err_tag;
            buf[2] = d->ncq_err_status;
            buf[3] = d->ncq_err_error;
            for (unsigned i = 0; i < 3; i++) {
                buf[4 + i] = (uint8_t)(d->ncq_err_lba >> (8 * i));
                buf[8 + i] = (uint8_t)(d->ncq_err_lba >> (24 + 8 * i));
            }
            buf[7] = 0x40;
        } else {
            buf[0] = 0x80;           /* NQ: no queued command failed */
        }
        d->ncq_err_valid = false;
        uint8_t sum = 0;
        for (unsigned i = 0; i < SECTOR - 1; i++)
            sum = (uint8_t)(sum + buf[i]);
        buf[SECTOR - 1] = (uint8_t)-sum;
    }
    return reply_pio(x, res, buf, sizeof(buf));
}

static int ata_set_features(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    switch (x->fis[3]) {
    case 0x02: d->wce = true; break;
    case 0x82: d->wce = false; break;
    case 0x03: d->xfer_mode = x->fis[12]; break;
    case 0x55: case 0xAA: case 0x66: case 0xCC: break;   /* look-ahead, defaults */
    default: return aborted(res, ATA_ER_ABRT);
    }
    ok(res);
    return 0;
}

/* The ATA commands an ATAPI drive takes; everything else goes through PACKET. */
static int atapi_ata_command(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    uint16_t id[256];
    switch (x->fis[2]) {
    case ATA_PACKET:
        return atapi_execute(x, res);
    case ATA_ID_PACKET:
        atapi_identify(d, id);
        return reply_pio(x, res, id, sizeof(id));
    case ATA_DEVICE_RESET:
    case ATA_EXEC_DIAG:
        d->sense_key = SENSE_NONE;
        d->asc = 0;
        d->locked = false;
        *res = (struct ahci_result){ .status = 0, .error = 1, .signature = true };
        return 0;
    case ATA_IDENTIFY:
        /* ATAPI devices abort it and show their signature (ATA8-ACS 7.16). */
        *res = (struct ahci_result){ .status = ATA_ST_DRDY | ATA_ST_ERR, .error = ATA_ER_ABRT, .signature = true };
        return 0;
    case ATA_SET_FEATURES:
        return ata_set_features(x, res);
    case ATA_CHECK_POWER:
        ok(res);
        res->count = 0xFF;
        return 0;
    case ATA_IDLE_NOW: case ATA_STANDBY_NOW: case ATA_IDLE: case ATA_STANDBY: case ATA_SLEEP:
        ok(res);
        return 0;
    default:
        return aborted(res, ATA_ER_ABRT);
    }
}

int ata_execute(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    const uint8_t *f = x->fis;
    uint8_t cmd = f[2];
    if (d->kind == AHCI_DRIVE_CDROM)
        return atapi_ata_command(x, res);
    unsigned c28 = f[12] ? f[12] : 256, c48 = (f[12] | f[13] << 8) ? (unsigned)(f[12] | f[13] << 8) : 65536;
    struct rw rw = { .lba = fis_lba28(f), .count = c28 };
    uint16_t id[256];
    switch (cmd) {
    case ATA_IDENTIFY:
        ata_identify(d, id);
        return reply_pio(x, res, id, sizeof(id));
    case ATA_READ_DMA: case ATA_READ_DMA_NR:
        return ata_rw(x, res, &rw);
    case ATA_WRITE_DMA: case ATA_WRITE_DMA_NR:
        rw.write = true;
        return ata_rw(x, res, &rw);
    case ATA_READ_PIO: case ATA_READ_PIO_NR:
        rw.pio = true;
        return ata_rw(x, res, &rw);
    case ATA_WRITE_PIO: case ATA_WRITE_PIO_NR:
        rw.pio = rw.write = true;
        return ata_rw(x, res, &rw);
    case ATA_READ_MULTI: case ATA_WRITE_MULTI:
        if (!d->multiple)
            return aborted(res, ATA_ER_ABRT);
        rw.pio = true;
        rw.write = cmd == ATA_WRITE_MULTI;
        return ata_rw(x, res, &rw);
    case ATA_READ_DMA_EXT: case ATA_WRITE_DMA_EXT: case ATA_WRITE_DMA_FUA_EXT:
    case ATA_READ_PIO_EXT: case ATA_WRITE_PIO_EXT:
    case ATA_READ_MULTI_EXT: case ATA_WRITE_MULTI_EXT: case ATA_WRITE_MULTI_FUA_EXT:
        if ((cmd == ATA_READ_MULTI_EXT || cmd == ATA_WRITE_MULTI_EXT || cmd == ATA_WRITE_MULTI_FUA_EXT) &&
            !d->multiple)
            return aborted(res, ATA_ER_ABRT);
        rw = (struct rw){ .lba = fis_lba48(f), .count = c48,
                          .write = cmd == ATA_WRITE_DMA_EXT || cmd == ATA_WRITE_DMA_FUA_EXT ||
                                   cmd == ATA_WRITE_PIO_EXT || cmd == ATA_WRITE_MULTI_EXT ||
                                   cmd == ATA_WRITE_MULTI_FUA_EXT,
                          .pio = cmd != ATA_READ_DMA_EXT && cmd != ATA_WRITE_DMA_EXT && cmd != ATA_WRITE_DMA_FUA_EXT,
                          .fua = cmd == ATA_WRITE_DMA_FUA_EXT || cmd == ATA_WRITE_MULTI_FUA_EXT };
        return ata_rw(x, res, &rw);
    case ATA_FPDMA_READ: case ATA_FPDMA_WRITE: {
        unsigned n = f[3] | f[11] << 8;
        rw = (struct rw){ .lba = fis_lba48(f), .count = n ? n : 65536, .ncq = true,
                          .write = cmd == ATA_FPDMA_WRITE, .fua = f[7] & 0x80 };
        return ata_rw(x, res, &rw);
    }
    case ATA_VERIFY: case ATA_VERIFY_NR: case ATA_VERIFY_EXT: {
        uint64_t lba = cmd == ATA_VERIFY_EXT ? fis_lba48(f) : rw.lba;
        uint32_t n = cmd == ATA_VERIFY_EXT ? c48 : c28;
        if (lba > d->sectors || n > d->sectors - lba)
            return aborted(res, ATA_ER_IDNF | ATA_ER_ABRT);
        ok(res);
        return 0;
    }
    case ATA_FLUSH: case ATA_FLUSH_EXT:
        return ata_flush(x, res);
    case ATA_DSM:
        if (d->readonly)
            return aborted(res, ATA_ER_ABRT);
        return ata_trim(x, res);
    case ATA_READ_LOG_EXT:
        return ata_read_log(x, res);
    case ATA_SET_FEATURES:
        return ata_set_features(x, res);
    case ATA_SET_MULTI:
        if (f[12] > 16 || (f[12] & (f[12] - 1)))
            return aborted(res, ATA_ER_ABRT);
        d->multiple = f[12];
        ok(res);
        return 0;
    case ATA_CHECK_POWER:
        ok(res);
        res->count = 0xFF;           /* active or idle */
        return 0;
    case ATA_EXEC_DIAG:
        *res = (struct ahci_result){ .status = ATA_ST_OK, .error = 1, .signature = true };
        return 0;
    case ATA_IDLE_NOW: case ATA_STANDBY_NOW: case ATA_IDLE: case ATA_STANDBY: case ATA_SLEEP:
    case ATA_RECALIBRATE: case ATA_INIT_PARAMS:
        ok(res);
        return 0;
    default:                         /* NOP, PACKET, IDENTIFY PACKET, SMART, security, ... */
        return aborted(res, ATA_ER_ABRT);
    }
}

void ata_complete(struct ahci_cmd *c, int ret, struct ahci_result *res)
{
    if (ret < 0) {
        aborted(res, c->write ? ATA_ER_ABRT : ATA_ER_UNC);
        res->lba = c->lba;
        return;
    }
    ok(res);
    res->pio = c->pio && !c->write;
    res->bytes = c->bytes;
    res->lba = c->lba;
}
