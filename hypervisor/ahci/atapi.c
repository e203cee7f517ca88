/* The ATAPI CD/DVD drive (MMC-6 subset over the PACKET command): 2048-byte
 * sectors from an ISO image, sense data, media events for GET EVENT STATUS
 * NOTIFICATION, a lockable tray. Errors are CHECK CONDITION: status ERR,
 * the sense key in the error register, the rest for REQUEST SENSE. */
#include "ahci_int.h"
#include "block/block.h"

#include <errno.h>
#include <string.h>

#define CD_SECTOR        2048
#define CD_MAX_BYTES     (737280000ull)   /* beyond a CD's capacity: a DVD */
#define RESP_MAX         256

enum {
    SCSI_TEST_UNIT_READY = 0x00, SCSI_REQUEST_SENSE = 0x03, SCSI_INQUIRY = 0x12,
    SCSI_START_STOP = 0x1B, SCSI_PREVENT_ALLOW = 0x1E, SCSI_READ_CAPACITY = 0x25,
    SCSI_READ10 = 0x28, SCSI_READ_TOC = 0x43, SCSI_GET_CONFIGURATION = 0x46,
    SCSI_GET_EVENT_STATUS = 0x4A, SCSI_READ_DISC_INFO = 0x51, SCSI_MODE_SENSE10 = 0x5A,
    SCSI_READ12 = 0xA8, SCSI_SET_CD_SPEED = 0xBB,
};

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

void atapi_identify(const struct ahci_drive *d, uint16_t id[256])
{
    memset(id, 0, 512);
    id[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);   /* ATAPI, CD/DVD, removable, 12-byte packets */
    ata_put_string(&id[10], d->serial, 20);
    ata_put_string(&id[23], "1.0", 8);
    ata_put_string(&id[27], d->model, 40);
    id[49] = (1 << 9) | (1 << 8);    /* LBA, DMA */
    id[53] = 0x0007;
    id[63] = 0x0007;
    id[64] = 0x0003;
    id[65] = id[66] = id[68] = 0xB4;
    id[67] = 0x12C;
    id[71] = id[72] = 30;
    id[76] = (1 << 2) | (1 << 1);
    id[80] = 0x001E;                 /* ATA/ATAPI-4 to 7 */
    id[82] = (1 << 14) | (1 << 4);   /* NOP, PACKET */
    id[83] = 1 << 14;
    id[84] = 1 << 14;
    id[85] = (1 << 14) | (1 << 4);
    id[87] = 1 << 14;
    id[88] = 0x203F;
    ata_id_checksum(id);
}

void atapi_check_condition(struct ahci_drive *d, struct ahci_result *res, uint8_t key, uint16_t asc)
{
    d->sense_key = key;
    d->asc = asc;
    *res = (struct ahci_result){ .status = ATA_ST_DRDY | ATA_ST_ERR, .error = (uint8_t)(key << 4) };
}

static int check(struct ahci_drive *d, struct ahci_result *res, uint8_t key, uint16_t asc)
{
    atapi_check_condition(d, res, key, asc);
    return 0;
}

static bool medium_present(const struct ahci_drive *d)
{
    return d->bdev && !d->tray_open;
}

static int not_ready(struct ahci_drive *d, struct ahci_result *res)
{
    return check(d, res, SENSE_NOT_READY, d->tray_open ? ASC_NO_MEDIUM_TRAY_OPEN : ASC_NO_MEDIUM_TRAY_CLOSED);
}

static int good(struct ahci_result *res)
{
    *res = (struct ahci_result){ .status = ATA_ST_OK };
    return 0;
}

/* Data-in for the command: at most @alloc bytes of @buf. */
static int reply(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *buf, size_t len, size_t alloc)
{
    long n = ahci_xfer_to_guest(x, buf, len < alloc ? len : alloc);
    if (n < 0) {
        *res = (struct ahci_result){ .fault = PORT_IS_HBFS };
        return 0;
    }
    good(res);
    res->pio = !(x->fis[3] & 1);
    res->bytes = (uint32_t)n;
    return 0;
}

static int request_sense(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    uint8_t s[18] = { 0x70, 0, d->sense_key, 0, 0, 0, 0, 10 };
    s[12] = (uint8_t)(d->asc >> 8);
    s[13] = (uint8_t)d->asc;
    d->sense_key = SENSE_NONE;
    d->asc = 0;
    return reply(x, res, s, sizeof(s), cdb[4]);
}

static int inquiry(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    if (cdb[1] & 1)                  /* no vital product data pages */
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    uint8_t b[36] = { 0x05, 0x80, 0x00, 0x21, 31 };
    memcpy(b + 8, "DOMUS   ", 8);
    memcpy(b + 16, "DVD-ROM         ", 16);
    memcpy(b + 32, "1.0 ", 4);
    return reply(x, res, b, sizeof(b), be16(cdb + 3));
}

/* An LBA as READ TOC reports it: plain, or minutes/seconds/frames after
 * the two-second lead-in. */
static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
    if (!msf) {
        put32(p, lba);
        return;
    }
    lba += 150;
    p[0] = 0;
    p[1] = (uint8_t)(lba / (60 * 75));
    p[2] = (uint8_t)(lba / 75 % 60);
    p[3] = (uint8_t)(lba % 75);
}

static int read_toc(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    bool msf = cdb[1] & 2;
    unsigned format = cdb[2] & 0xF, track = cdb[6];
    if (!format)
        format = cdb[9] >> 6;        /* the older place for it */
    uint8_t b[32] = { 0 };
    size_t n;
    if (format == 0) {
        if (track > 1 && track != 0xAA)
            return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
        n = 4;
        if (track <= 1) {
            b[n + 1] = 0x14;         /* ADR 1, data track */
            b[n + 2] = 1;
            put_addr(b + n + 4, 0, msf);
            n += 8;
        }
        b[n + 1] = 0x14;
        b[n + 2] = 0xAA;             /* lead-out */
        put_addr(b + n + 4, (uint32_t)d->sectors, msf);
        n += 8;
    } else if (format == 1) {        /* sessions: one */
        n = 12;
        b[5] = 0x14;
        b[6] = 1;
        put_addr(b + 8, 0, msf);
    } else {
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    }
    put16(b, (uint32_t)n - 2);
    b[2] = b[3] = 1;                 /* first and last track / session */
    return reply(x, res, b, n, be16(cdb + 7));
}

static uint16_t current_profile(const struct ahci_drive *d)
{
    if (!medium_present(d))
        return 0;
    return d->sectors * CD_SECTOR > CD_MAX_BYTES ? 0x0010 : 0x0008;   /* DVD-ROM : CD-ROM */
}

/* GET CONFIGURATION: profile list, core, removable medium, random
 * readable, CD read and DVD read features, filtered as RT asks. */
static int get_configuration(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    unsigned rt = cdb[1] & 3, start = be16(cdb + 2);
    uint16_t prof = current_profile(d);
    bool present = medium_present(d);
    if (rt == 3)
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    uint8_t b[RESP_MAX] = { 0 };
    size_t n = 8;
    put16(b + 6, prof);
    struct { uint16_t code; uint8_t flags, len; uint8_t data[8]; bool current; } f[] = {
        { 0x0000, 0x03, 8, { 0x00, 0x10, prof == 0x0010, 0, 0x00, 0x08, prof == 0x0008, 0 }, true },
        { 0x0001, 0x0B, 8, { 0, 0, 0, 2 /* ATAPI */, 0, 0, 0, 0 }, true },
        { 0x0003, 0x03, 4, { 0x29 /* tray, eject, lock */, 0, 0, 0 }, true },
        { 0x0010, (uint8_t)(present ? 1 : 0), 8, { 0, 0, CD_SECTOR >> 8, 0, 0, 1, 0, 0 }, present },
        { 0x001E, (uint8_t)(prof == 0x0008 ? 1 : 0), 4, { 0 }, prof == 0x0008 },
        { 0x001F, (uint8_t)(prof == 0x0010 ? 1 : 0), 4, { 0 }, prof == 0x0010 },
    };
    for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].code < start || (rt == 1 && !f[i].current) || (rt == 2 && f[i].code != start))
            continue;
        put16(b + n, f[i].code);
        b[n + 2] = f[i].flags;
        b[n + 3] = f[i].len;
        memcpy(b + n + 4, f[i].data, f[i].len);
        n += 4 + f[i].len;
    }
    put32(b, (uint32_t)n - 4);
    return reply(x, res, b, n, be16(cdb + 7));
}

/* Polled media events: one event is reported once, then "no change". */
static int get_event_status(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    if (!(cdb[1] & 1))               /* asynchronous notification is not supported */
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    uint8_t b[8] = { 0 };
    size_t n = 4;
    b[3] = 0x10;                     /* supported classes: media */
    if (cdb[4] & 0x10) {
        put16(b, 6);
        b[2] = 0x04;                 /* media class */
        b[4] = d->media_event;
        b[5] = (uint8_t)((d->bdev ? 0x02 : 0) | (d->tray_open ? 0x01 : 0));
        d->media_event = MEDIA_EV_NONE;
        n = 8;
    } else {
        put16(b, 2);
        b[2] = 0x80;                 /* no event available */
    }
    return reply(x, res, b, n, be16(cdb + 7));
}

static int mode_sense(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3F;
    if (pc == 3)
        return check(d, res, SENSE_ILLEGAL, ASC_SAVING_UNSUPPORTED);
    if (page != 0x01 && page != 0x2A && page != 0x3F)
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    uint8_t b[64] = { 0 };
    size_t n = 8;                    /* header, no block descriptors */
    if (page == 0x01 || page == 0x3F) {
        static const uint8_t recovery[8] = { 0x01, 0x06, 0x00, 0x05 };
        memcpy(b + n, recovery, sizeof(recovery));
        n += sizeof(recovery);
    }
    if (page == 0x2A || page == 0x3F) {
        uint8_t *p = b + n;
        p[0] = 0x2A;
        p[1] = 0x12;
        p[2] = 0x3B;                 /* reads CD-R/RW, DVD-ROM/R/RAM, mode 2 */
        p[4] = 0x71;                 /* audio play, mode 2 form 1/2, multi-session */
        p[6] = (uint8_t)(0x29 | (d->locked ? 0x02 : 0));   /* tray, eject, lock (state) */
        put16(p + 8, 706);           /* max speed, kB/s (4x) */
        put16(p + 10, 2);            /* volume levels */
        put16(p + 12, 512);          /* buffer, KiB */
        put16(p + 14, 706);
        n += 20;
    }
    put16(b, (uint32_t)n - 2);
    return reply(x, res, b, n, be16(cdb + 7));
}

static int start_stop(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    bool loej = cdb[4] & 2, start = cdb[4] & 1;
    if (loej && !start) {
        if (d->locked)
            return check(d, res, SENSE_NOT_READY, ASC_REMOVAL_PREVENTED);
        if (!d->tray_open && d->bdev)
            d->media_event = MEDIA_EV_REMOVED;
        d->tray_open = true;
    } else if (loej && start && d->tray_open) {
        d->tray_open = false;
        if (d->bdev) {
            d->media_event = MEDIA_EV_NEW;
            d->unit_attention = true;
        }
    }
    return good(res);
}

static int read_capacity(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    uint8_t b[8];
    put32(b, d->sectors ? (uint32_t)(d->sectors - 1) : 0);
    put32(b + 4, CD_SECTOR);
    return reply(x, res, b, sizeof(b), sizeof(b));
}

static int read_disc_info(struct ahci_xfer *x, struct ahci_result *res, const uint8_t *cdb)
{
    struct ahci_drive *d = &x->port->drive;
    if (cdb[1] & 7)                  /* only standard disc information */
        return check(d, res, SENSE_ILLEGAL, ASC_INVALID_FIELD);
    uint8_t b[34] = { 0 };
    put16(b, 32);
    b[2] = 0x0E;                     /* complete session, finalized disc */
    b[3] = b[4] = b[5] = b[6] = 1;
    b[7] = 0x20;                     /* unrestricted use */
    return reply(x, res, b, sizeof(b), be16(cdb + 7));
}

static int read_sectors(struct ahci_xfer *x, struct ahci_result *res, uint64_t lba, uint64_t count)
{
    struct ahci_drive *d = &x->port->drive;
    if (lba > d->sectors || count > d->sectors - lba)
        return check(d, res, SENSE_ILLEGAL, ASC_LBA_OUT_OF_RANGE);
    if (!count)
        return good(res);
    int err;
    struct ahci_cmd *c = ahci_cmd_new(x, count * CD_SECTOR, &err);
    if (!c) {
        *res = (struct ahci_result){ .fault = err == -ENOSPC ? PORT_IS_OFS : PORT_IS_HBFS };
        return 0;
    }
    c->pio = !(x->fis[3] & 1);
    c->lba = lba;
    c->bytes = (uint32_t)(count * CD_SECTOR);
    c->br.op = BLOCK_OP_READ;
    c->br.off = lba * CD_SECTOR;
    ahci_cmd_submit(x->port, c);
    return 1;
}

/* Commands that report a pending unit attention only when asked for it. */
static bool ua_exempt(uint8_t op)
{
    return op == SCSI_INQUIRY || op == SCSI_REQUEST_SENSE || op == SCSI_GET_CONFIGURATION ||
           op == SCSI_GET_EVENT_STATUS;
}

static bool needs_medium(uint8_t op)
{
    return op == SCSI_READ_CAPACITY || op == SCSI_READ10 || op == SCSI_READ12 || op == SCSI_READ_TOC ||
           op == SCSI_READ_DISC_INFO || op == SCSI_TEST_UNIT_READY;
}

int atapi_execute(struct ahci_xfer *x, struct ahci_result *res)
{
    struct ahci_drive *d = &x->port->drive;
    const uint8_t *cdb = x->acmd;
    uint8_t op = cdb[0];
    if (op != SCSI_REQUEST_SENSE) {
        d->sense_key = SENSE_NONE;
        d->asc = 0;
    }
    if (d->unit_attention && !ua_exempt(op)) {
        d->unit_attention = false;
        return check(d, res, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
    }
    if (needs_medium(op) && !medium_present(d))
        return not_ready(d, res);
    switch (op) {
    case SCSI_TEST_UNIT_READY: return good(res);
    case SCSI_REQUEST_SENSE: return request_sense(x, res, cdb);
    case SCSI_INQUIRY: return inquiry(x, res, cdb);
    case SCSI_READ_CAPACITY: return read_capacity(x, res);
    case SCSI_READ10: return read_sectors(x, res, be32(cdb + 2), be16(cdb + 7));
    case SCSI_READ12: return read_sectors(x, res, be32(cdb + 2), be32(cdb + 6));
    case SCSI_READ_TOC: return read_toc(x, res, cdb);
    case SCSI_GET_CONFIGURATION: return get_configuration(x, res, cdb);
    case SCSI_GET_EVENT_STATUS: return get_event_status(x, res, cdb);
    case SCSI_MODE_SENSE10: return mode_sense(x, res, cdb);
    case SCSI_START_STOP: return start_stop(x, res, cdb);
    case SCSI_PREVENT_ALLOW:
        d->locked = cdb[4] & 1;
        return good(res);
    case SCSI_READ_DISC_INFO: return read_disc_info(x, res, cdb);
    case SCSI_SET_CD_SPEED: return good(res);
    default: return check(d, res, SENSE_ILLEGAL, ASC_INVALID_OPCODE);
    }
}

void atapi_complete(struct ahci_cmd *c, int ret, struct ahci_result *res)
{
    if (ret < 0) {
        atapi_check_condition(&c->port->drive, res, 0x3 /* MEDIUM ERROR */, 0x1100 /* unrecovered read error */);
        return;
    }
    good(res);
    res->pio = c->pio;
    res->bytes = c->bytes;
}
