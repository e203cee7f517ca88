/* One AHCI port: its registers, the command list engine (command headers,
 * command FIS, PRDT scatter-gather straight into guest RAM), the received
 * FIS area, and completions from the block layer.
 *
 * Guest structures are hostile: a command list, table, PRD or FIS area
 * outside RAM is a host bus fatal error (PxIS.HBFS), a PRDT too short for
 * the transfer an overflow (PxIS.OFS), an unknown command a task file error
 * (ABRT). Each halts the port until the driver restarts it (PxCMD.ST
 * cleared), as real hardware does; nothing else is affected. */
#include "ahci_int.h"
#include "core/memory.h"
#include "core/vm.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_HDR_SIZE     32
#define CMD_TABLE_PRDT   0x80
#define PRD_SIZE         16
#define PRD_DBC_MASK     0x3FFFFFu
#define PRD_IRQ          (1u << 31)
#define PORT_IE_MASK     0xFDC000FFu
#define PORT_CMD_WMASK   (PORT_CMD_ST | PORT_CMD_FRE | PORT_CMD_ATAPI | (7u << 25))

static uint64_t port_clb(const struct ahci_port *p)
{
    return ((uint64_t)p->r.clbu << 32 | p->r.clb) & ~0x3FFull;
}

static bool drive_present(const struct ahci_port *p)
{
    return p->drive.kind != AHCI_DRIVE_NONE;
}

static uint32_t drive_signature(const struct ahci_port *p)
{
    return p->drive.kind == AHCI_DRIVE_CDROM ? ATA_SIG_ATAPI : ATA_SIG_DISK;
}

/* ---- received FIS area ---- */

static void post_fis(struct ahci_port *p, unsigned off, const uint8_t *fis, unsigned len)
{
    if (!(p->r.cmd & PORT_CMD_FRE))
        return;
    uint64_t fb = ((uint64_t)p->r.fbu << 32 | p->r.fb) & ~0xFFull;
    if (guest_mem_write(p->hba->mem, fb + off, fis, len) < 0)
        p->r.is |= PORT_IS_HBFS;
}

static void post_d2h(struct ahci_port *p, const struct ahci_result *res, bool irq)
{
    uint8_t f[20] = { 0x34, irq ? 0x40 : 0, res->status, res->error };
    if (res->signature) {
        uint32_t sig = drive_signature(p);
        f[12] = (uint8_t)sig;
        f[4] = (uint8_t)(sig >> 8);
        f[5] = (uint8_t)(sig >> 16);
        f[6] = (uint8_t)(sig >> 24);
    } else {
        for (unsigned i = 0; i < 3; i++) {
            f[4 + i] = (uint8_t)(res->lba >> (8 * i));
            f[8 + i] = (uint8_t)(res->lba >> (24 + 8 * i));
        }
        f[7] = 0x40;                 /* LBA mode */
        f[12] = (uint8_t)res->count;
        f[13] = (uint8_t)(res->count >> 8);
    }
    post_fis(p, RFIS_D2H, f, sizeof(f));
    p->r.tfd = (uint32_t)res->error << 8 | res->status;
    if (irq)
        p->r.is |= PORT_IS_DHRS;
}

/* Before the data of a PIO data-in command. Status carries DRQ as the
 * device sends it; E_Status is the status once the data is through (Linux
 * reads that one, SeaBIOS the first). */
static void post_pio_setup(struct ahci_port *p, const struct ahci_result *res)
{
    uint8_t f[20] = { 0x5F, 0x20 | 0x40, res->status | ATA_ST_DRQ, res->error };
    f[15] = res->status;
    f[16] = (uint8_t)res->bytes;
    f[17] = (uint8_t)(res->bytes >> 8);
    post_fis(p, RFIS_PIO, f, sizeof(f));
    p->r.is |= PORT_IS_PSS;
}

static void post_sdb(struct ahci_port *p, uint32_t done, uint8_t status, uint8_t error)
{
    uint8_t f[8] = { 0xA1, 0x40, status & 0x77, error,
                     (uint8_t)done, (uint8_t)(done >> 8), (uint8_t)(done >> 16), (uint8_t)(done >> 24) };
    post_fis(p, RFIS_SDB, f, sizeof(f));
    p->r.is |= PORT_IS_SDBS;
    p->hba->irq_dirty = true;
}

static void post_signature(struct ahci_port *p)
{
    struct ahci_result res = { .status = (uint8_t)p->r.tfd, .signature = true };
    if (!(p->r.cmd & PORT_CMD_FRE)) {
        p->sig_pending = true;
        return;
    }
    post_d2h(p, &res, false);
    p->sig_pending = false;
}

/* ---- PRDT ---- */

typedef void (*prd_fn)(void *ctx, uint8_t *host, size_t n);

/* Walks the PRDT for the first @len bytes. Returns the bytes it covers
 * (less than @len when the table ends first) or -EFAULT. */
static long prdt_walk(struct ahci_xfer *x, uint64_t len, prd_fn fn, void *ctx, bool *irq)
{
    const struct guest_mem *mem = x->port->hba->mem;
    uint64_t done = 0;
    for (unsigned i = 0; i < x->prdtl && done < len; i++) {
        uint32_t prd[4];
        if (guest_mem_read(mem, x->ctba + CMD_TABLE_PRDT + (uint64_t)PRD_SIZE * i, prd, sizeof(prd)) < 0)
            return -EFAULT;
        uint64_t dba = ((uint64_t)le32toh(prd[1]) << 32 | le32toh(prd[0])) & ~1ull;
        uint32_t dw3 = le32toh(prd[3]);
        uint64_t n = (dw3 & PRD_DBC_MASK) + 1;
        if (n > len - done)
            n = len - done;
        uint8_t *host = guest_mem_ptr(mem, dba, n);
        if (!host)
            return -EFAULT;
        if ((dw3 & PRD_IRQ) && irq)
            *irq = true;
        fn(ctx, host, n);
        done += n;
    }
    return (long)done;
}

struct copy_ctx {
    uint8_t *buf;
    bool to_guest;
};

static void copy_piece(void *opaque, uint8_t *host, size_t n)
{
    struct copy_ctx *c = opaque;
    if (c->to_guest)
        memcpy(host, c->buf, n);
    else
        memcpy(c->buf, host, n);
    c->buf += n;
}

long ahci_xfer_to_guest(struct ahci_xfer *x, const void *buf, size_t len)
{
    struct copy_ctx c = { (uint8_t *)buf, true };
    return prdt_walk(x, len, copy_piece, &c, NULL);
}

long ahci_xfer_from_guest(struct ahci_xfer *x, void *buf, size_t len, bool need_all)
{
    struct copy_ctx c = { buf, false };
    long n = prdt_walk(x, len, copy_piece, &c, NULL);
    return n >= 0 && need_all && (size_t)n < len ? -ENOSPC : n;
}

static void add_iov(void *opaque, uint8_t *host, size_t n)
{
    struct ahci_cmd *c = opaque;
    struct iovec *last = c->niov ? &c->iov[c->niov - 1] : NULL;
    if (last && (uint8_t *)last->iov_base + last->iov_len == host)
        last->iov_len += n;          /* contiguous in the host too: one iovec */
    else
        c->iov[c->niov++] = (struct iovec){ host, n };
}

struct ahci_cmd *ahci_cmd_new(struct ahci_xfer *x, uint64_t len, int *err)
{
    unsigned cap = len ? x->prdtl : 0;
    struct ahci_cmd *c = calloc(1, sizeof(*c) + sizeof(struct iovec) * cap);
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    c->slot = x->slot;
    c->command = x->fis[2];
    if (len) {
        long n = prdt_walk(x, len, add_iov, c, &c->prd_irq);
        if (n < 0 || (uint64_t)n < len) {
            *err = n < 0 ? (int)n : -ENOSPC;
            free(c);
            return NULL;
        }
    }
    c->br.iov = c->iov;
    c->br.niov = c->niov;
    return c;
}

/* ---- completion ---- */

static void write_prdbc(struct ahci_port *p, unsigned slot, uint32_t bytes)
{
    uint32_t v = htole32(bytes);
    if (guest_mem_write(p->hba->mem, port_clb(p) + (uint64_t)CMD_HDR_SIZE * slot + 4, &v, 4) < 0)
        p->r.is |= PORT_IS_HBFS;
}

/* A non-queued command is done: FISes, PxTFD, PxCI. After an error the
 * slot stays set in PxCI and the port halts (AHCI 6.2.2.1). */
static void port_finish(struct ahci_port *p, unsigned slot, const struct ahci_result *res, bool prd_irq)
{
    uint32_t bit = 1u << slot;
    p->active = -1;
    p->hba->irq_dirty = true;
    if (res->fault) {
        p->r.is |= res->fault;
        p->r.tfd = (uint32_t)ATA_ER_ABRT << 8 | ATA_ST_DRDY | ATA_ST_ERR;
        p->halted = true;
        return;
    }
    write_prdbc(p, slot, res->bytes);
    bool error = res->status & ATA_ST_ERR;
    if (res->pio && !error)
        post_pio_setup(p, res);
    post_d2h(p, res, true);
    if (prd_irq && !error)
        p->r.is |= PORT_IS_DPS;
    if (error) {
        p->r.is |= PORT_IS_TFES;
        p->halted = true;
        return;
    }
    p->r.ci &= ~bit;
    p->r.sact &= ~bit;
    p->issued &= ~bit;
}

/* A queued command is done. Successes are gathered into one set device
 * bits FIS per batch (*sdb); an error is logged for READ LOG EXT 10h and
 * halts the port. */
static void ncq_finish(struct ahci_port *p, unsigned slot, uint64_t lba, const struct ahci_result *res, uint32_t *sdb)
{
    uint32_t bit = 1u << slot;
    if (res->fault || (res->status & ATA_ST_ERR)) {
        struct ahci_drive *d = &p->drive;
        d->ncq_err_valid = true;
        d->ncq_err_tag = (uint8_t)slot;
        d->ncq_err_status = res->status | ATA_ST_ERR;
        d->ncq_err_error = res->error ? res->error : ATA_ER_ABRT;
        d->ncq_err_lba = lba;
        p->r.tfd = (uint32_t)d->ncq_err_error << 8 | d->ncq_err_status;
        p->r.is |= res->fault ? res->fault : PORT_IS_TFES;
        post_sdb(p, 0, d->ncq_err_status, d->ncq_err_error);
        p->halted = true;
        return;
    }
    p->r.sact &= ~bit;
    if (sdb) {
        *sdb |= bit;
    } else {
        post_sdb(p, bit, ATA_ST_OK, 0);
    }
}

static void cmd_done(struct ahci_cmd *c, uint32_t *sdb)
{
    struct ahci_port *p = c->port;
    p->inflight--;
    /* Dropped by a reset or a stopped port, or behind an error: the guest
     * issues it again, or has given up on it. */
    if (c->gen == p->gen && !p->halted && (p->r.cmd & PORT_CMD_ST)) {
        struct ahci_result res = { 0 };
        if (p->drive.kind == AHCI_DRIVE_CDROM)
            atapi_complete(c, c->br.ret, &res);
        else
            ata_complete(c, c->br.ret, &res);
        if (c->ncq)
            ncq_finish(p, c->slot, c->lba, &res, sdb);
        else
            port_finish(p, c->slot, &res, c->prd_irq);
    }
    free(c->buf);
    free(c);
}

/* block_aio_start() is only for the reaping thread because of unlocked
 * bookkeeping; every caller here holds the controller lock, which
 * serializes it just the same. */
void ahci_cmd_submit(struct ahci_port *p, struct ahci_cmd *c)
{
    c->port = p;
    c->gen = p->gen;
    c->br.bdev = p->drive.bdev;
    c->br.opaque = c;
    p->inflight++;
    if (c->ncq) {
        /* Queued: the device takes it at once and PxCI clears; PxSACT
         * stays set until the set device bits FIS. */
        uint32_t bit = 1u << c->slot;
        p->r.ci &= ~bit;
        p->issued &= ~bit;
        p->r.tfd = ATA_ST_OK;
    } else {
        p->active = (int)c->slot;
    }
    if (block_aio_start(p->hba->aio, &c->br))
        cmd_done(c, NULL);          /* a read served from the page cache right here */
}

static void flush_irq(struct ahci *h)
{
    if (h->irq_dirty) {
        h->irq_dirty = false;
        ahci_update_irq(h);
    }
}

static void port_kick(struct ahci_port *p);

static bool pausable(const struct ahci_cmd *c)
{
    const struct ahci_port *p = c->port;
    int e = c->br.ret;
    return p->drive.pause_on_error && p->hba->vm && c->gen == p->gen &&
           (e == -ENOSPC || e == -EIO || e == -EDQUOT);
}

void ahci_complete(struct ahci *h)
{
    struct block_request *list = block_aio_reap(h->aio);
    uint32_t sdb[AHCI_PORTS] = { 0 };
    bool pause = false;
    pthread_mutex_lock(&h->lock);
    while (list) {
        struct ahci_cmd *c = list->opaque;
        list = list->next;
        if (c->br.ret < 0 && pausable(c)) {
            if (!h->parked)
                fprintf(stderr, "domus-vmm: disk %s: %s; pausing the guest until 'resume'\n",
                        c->port->drive.path, strerror(-c->br.ret));
            c->next_parked = h->parked;
            h->parked = c;
            pause = true;
            continue;
        }
        cmd_done(c, &sdb[c->port->index]);
    }
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (sdb[i])
            post_sdb(&h->ports[i], sdb[i], ATA_ST_OK, 0);
        port_kick(&h->ports[i]);
    }
    flush_irq(h);
    pthread_mutex_unlock(&h->lock);
    if (pause)
        vm_request(h->vm, VM_REQ_PAUSE);
}

void ahci_retry_parked(struct ahci *h)
{
    pthread_mutex_lock(&h->lock);
    struct ahci_cmd *c = h->parked;
    h->parked = NULL;
    while (c) {
        struct ahci_cmd *next = c->next_parked;
        if (c->gen == c->port->gen) {
            block_aio_submit(h->aio, &c->br);
        } else {
            c->port->inflight--;
            free(c->buf);
            free(c);
        }
        c = next;
    }
    pthread_mutex_unlock(&h->lock);
}

/* ---- command list ---- */

/* A FIS without the C bit updates the device control register: Linux's
 * soft reset sets SRST, then clears it and waits for the signature. */
static void control_fis(struct ahci_port *p, unsigned slot, const uint8_t *fis)
{
    uint32_t bit = 1u << slot;
    p->r.ci &= ~bit;
    p->issued &= ~bit;
    if (fis[15] & 0x04)
        return;
    p->r.tfd = p->drive.kind == AHCI_DRIVE_CDROM ? 0 : ATA_ST_OK;
    post_signature(p);
    p->hba->irq_dirty = true;
}

static void port_start_slot(struct ahci_port *p, unsigned slot)
{
    const struct guest_mem *mem = p->hba->mem;
    struct ahci_result res = { 0 };
    uint32_t hdr[4];
    uint8_t tbl[0x50];               /* command FIS + ATAPI command */
    p->issued |= 1u << slot;
    if (guest_mem_read(mem, port_clb(p) + (uint64_t)CMD_HDR_SIZE * slot, hdr, sizeof(hdr)) < 0) {
        res.fault = PORT_IS_HBFS;
        port_finish(p, slot, &res, false);
        return;
    }
    uint32_t dw0 = le32toh(hdr[0]);
    uint64_t ctba = ((uint64_t)le32toh(hdr[3]) << 32 | le32toh(hdr[2])) & ~0x7Full;
    if (guest_mem_read(mem, ctba, tbl, sizeof(tbl)) < 0) {
        res.fault = PORT_IS_HBFS;
        port_finish(p, slot, &res, false);
        return;
    }
    if (tbl[0] != 0x27) {            /* only a host-to-device register FIS is a command */
        res = (struct ahci_result){ .status = ATA_ST_DRDY | ATA_ST_ERR, .error = ATA_ER_ABRT };
        port_finish(p, slot, &res, false);
        return;
    }
    if (!(tbl[1] & 0x80)) {
        control_fis(p, slot, tbl);
        return;
    }
    struct ahci_xfer x = { .port = p, .slot = slot, .fis = tbl, .acmd = tbl + 0x40, .ctba = ctba,
                           .prdtl = dw0 >> 16, .write_flag = dw0 & (1u << 6) };
    if (ata_execute(&x, &res) != 0)
        return;
    if (p->drive.kind == AHCI_DRIVE_DISK && (tbl[2] == 0x60 || tbl[2] == 0x61)) {
        /* a queued command refused at once: reported as queued ones are */
        p->r.ci &= ~(1u << slot);
        p->issued &= ~(1u << slot);
        ncq_finish(p, slot, res.lba, &res, NULL);
        return;
    }
    port_finish(p, slot, &res, false);
}

/* Starts what the guest has issued, in slot order. A non-queued command
 * runs alone: the next one starts when it is done. */
static void port_kick(struct ahci_port *p)
{
    while ((p->r.cmd & PORT_CMD_ST) && !p->halted && p->active < 0 && drive_present(p)) {
        uint32_t pending = p->r.ci & ~p->issued;
        if (!pending)
            return;
        port_start_slot(p, (unsigned)__builtin_ctz(pending));
    }
}

/* ---- registers ---- */

/* PxCMD.ST cleared: PxCI and PxSACT clear, queued commands are dropped;
 * PxCMD.CR stays set while commands the block layer holds finish. */
static void port_stop(struct ahci_port *p)
{
    p->r.ci = 0;
    p->r.sact = 0;
    p->issued = 0;
    p->active = -1;
    p->halted = false;
    p->gen++;
}

void ahci_port_reset(struct ahci_port *p, bool hba_reset)
{
    struct ahci_port_regs *r = &p->r;
    struct ahci_drive *d = &p->drive;
    port_stop(p);
    if (hba_reset) {
        r->is = r->ie = r->sctl = 0;
        r->cmd = PORT_CMD_SUD | PORT_CMD_POD;
    }
    r->serr = 0;
    if (drive_present(p)) {
        r->ssts = SSTS_PRESENT;
        r->sig = drive_signature(p);
        /* ATAPI devices come out of reset without DRDY (ATA8-ACS 9.12). */
        r->tfd = d->kind == AHCI_DRIVE_CDROM ? 0 : ATA_ST_OK;
    } else {
        r->ssts = 0;
        r->sig = 0xFFFFFFFFu;
        r->tfd = 0x7F;
    }
    d->multiple = 0;
    d->wce = true;
    d->locked = false;
    d->sense_key = SENSE_NONE;
    d->asc = 0;
    d->ncq_err_valid = false;
    p->sig_pending = drive_present(p);
}

uint32_t ahci_port_read(struct ahci_port *p, unsigned reg)
{
    const struct ahci_port_regs *r = &p->r;
    switch (reg) {
    case PORT_CLB: return r->clb;
    case PORT_CLBU: return r->clbu;
    case PORT_FB: return r->fb;
    case PORT_FBU: return r->fbu;
    case PORT_IS: return r->is;
    case PORT_IE: return r->ie;
    case PORT_CMD: {
        uint32_t v = r->cmd & ~(PORT_CMD_FR | PORT_CMD_CR | (0x1Fu << 8));
        if (v & PORT_CMD_FRE)
            v |= PORT_CMD_FR;
        if ((v & PORT_CMD_ST) || p->inflight)
            v |= PORT_CMD_CR;
        if (p->active >= 0)
            v |= (uint32_t)p->active << 8;
        return v;
    }
    case PORT_TFD: return r->tfd;
    case PORT_SIG: return r->sig;
    case PORT_SSTS: return r->ssts;
    case PORT_SCTL: return r->sctl;
    case PORT_SERR: return r->serr;
    case PORT_SACT: return r->sact;
    case PORT_CI: return r->ci;
    default: return 0;
    }
}

/* PxSCTL.DET: 1 holds the link in COMRESET, 1 -> 0 brings it up with the
 * device reset and its signature sent; 4 takes the PHY offline. */
static void port_write_sctl(struct ahci_port *p, uint32_t v)
{
    unsigned old = p->r.sctl & 0xF, det = v & 0xF;
    p->r.sctl = v & 0xFFF;
    bool present = drive_present(p);
    if (det == 1 && old != 1) {
        /* Commands running now must not write guest memory after the reset. */
        block_aio_drain(p->hba->aio);
        ahci_port_reset(p, false);
        p->r.ssts = present ? 1 : 0;
    } else if (det == 0 && old != 0) {
        p->r.ssts = present ? SSTS_PRESENT : 0;
        if (present)
            post_signature(p);
    } else if (det == 4) {
        p->r.ssts = present ? 4 : 0;
    }
}

void ahci_port_write(struct ahci_port *p, unsigned reg, uint32_t v)
{
    struct ahci *h = p->hba;
    struct ahci_port_regs *r = &p->r;
    switch (reg) {
    case PORT_CLB: r->clb = v & ~0x3FFu; break;
    case PORT_CLBU: r->clbu = v; break;
    case PORT_FB: r->fb = v & ~0xFFu; break;
    case PORT_FBU: r->fbu = v; break;
    case PORT_IS:
        r->is &= ~v;
        ahci_update_irq(h);
        break;
    case PORT_IE:
        r->ie = v & PORT_IE_MASK;
        ahci_update_irq(h);
        break;
    case PORT_CMD: {
        uint32_t old = r->cmd;
        r->cmd = (old & ~PORT_CMD_WMASK) | (v & PORT_CMD_WMASK) | PORT_CMD_SUD | PORT_CMD_POD;
        if (v & PORT_CMD_CLO)        /* command list override: BSY and DRQ go */
            r->tfd &= ~(uint32_t)(ATA_ST_BSY | ATA_ST_DRQ);
        if ((old & PORT_CMD_ST) && !(v & PORT_CMD_ST))
            port_stop(p);
        if (!(old & PORT_CMD_FRE) && (v & PORT_CMD_FRE) && p->sig_pending)
            post_signature(p);
        break;
    }
    case PORT_SCTL: port_write_sctl(p, v); break;
    case PORT_SERR: r->serr &= ~v; break;
    case PORT_SACT:
        if (r->cmd & PORT_CMD_ST)
            r->sact |= v;
        break;
    case PORT_CI:
        if (r->cmd & PORT_CMD_ST)
            r->ci |= v;
        break;
    default:
        return;
    }
    port_kick(p);
    flush_irq(h);
}
