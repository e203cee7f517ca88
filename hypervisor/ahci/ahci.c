/* The AHCI host bus adapter: the PCI function (ICH9 AHCI, ABAR in BAR 5,
 * MSI with INTx fallback), the generic host control registers, controller
 * reset, and drive attachment. Ports live in ahci_port.c, the command sets
 * in ata.c and atapi.c, media changes and the VMM glue in ahci_vm.c. */
#include "ahci_int.h"
#include "block/block.h"
#include "block/block_set.h"
#include "core/config.h"
#include "core/memory.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AHCI_WORKERS   4
#define AHCI_VERSION   0x00010000u   /* 1.0, what guests and firmware expect of ICH9 */
#define CAP_NCS        ((AHCI_SLOTS - 1u) << 8)
#define CAP_ISS_GEN1   (1u << 20)
#define CAP_SAM        (1u << 18)    /* AHCI only: GHC.AE reads 1 */
#define CAP_SCLO       (1u << 24)
#define CAP_SNCQ       (1u << 30)
#define CAP_S64A       (1u << 31)
#define AHCI_CAP_VALUE ((AHCI_PORTS - 1u) | CAP_NCS | CAP_ISS_GEN1 | CAP_SAM | CAP_SCLO | CAP_SNCQ | CAP_S64A)

static uint32_t hba_is(const struct ahci *h)
{
    uint32_t is = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->ports[i].r.is & h->ports[i].r.ie)
            is |= 1u << i;
    return is;
}

/* IS is derived from the ports, so clearing IS while a port still has an
 * enabled bit leaves it set. With MSI every call with something pending
 * sends a message: callers are a device event or a guest write to an
 * interrupt register, and a driver that cleared only part of what was
 * pending must hear about the rest. */
void ahci_update_irq(struct ahci *h)
{
    bool level = (h->ghc & AHCI_GHC_IE) && hba_is(h);
    if (pci_msi_enabled(&h->msi)) {
        if (h->intx_level && h->pci_owned)
            pci_device_set_irq(&h->pci, 0);
        h->intx_level = false;
        if (level) {
            h->msi_sent++;
            pci_msi_notify(&h->msi, h->vm);
        }
        return;
    }
    if (level != h->intx_level && h->pci_owned)
        pci_device_set_irq(&h->pci, level);
    h->intx_level = level;
}

static void hba_reset(struct ahci *h)
{
    /* Requests still running may write guest memory; the guest must not
     * see that after the reset it asked for. Workers never take our lock. */
    block_aio_drain(h->aio);
    h->ghc = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        ahci_port_reset(&h->ports[i], true);
    ahci_update_irq(h);
}

static uint32_t hba_read32(struct ahci *h, unsigned off)
{
    if (off >= AHCI_PORT_BASE) {
        unsigned n = (off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
        return n < AHCI_PORTS ? ahci_port_read(&h->ports[n], (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE) : 0;
    }
    switch (off) {
    case AHCI_CAP: return AHCI_CAP_VALUE;
    case AHCI_GHC: return h->ghc | AHCI_GHC_AE;
    case AHCI_IS: return hba_is(h);
    case AHCI_PI: return (1u << AHCI_PORTS) - 1;
    case AHCI_VS: return AHCI_VERSION;
    default: return 0;               /* CCC, EM, CAP2, BOHC: not implemented */
    }
}

static bool w1c_register(unsigned off)
{
    if (off == AHCI_IS)
        return true;
    if (off < AHCI_PORT_BASE)
        return false;
    unsigned reg = (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE;
    return reg == PORT_IS || reg == PORT_SERR;
}

static void hba_write32(struct ahci *h, unsigned off, uint32_t v)
{
    if (off >= AHCI_PORT_BASE) {
        unsigned n = (off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
        if (n < AHCI_PORTS)
            ahci_port_write(&h->ports[n], (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE, v);
        return;
    }
    switch (off) {
    case AHCI_GHC:
        if (v & AHCI_GHC_HR) {
            hba_reset(h);            /* done at once: HR reads back 0 */
            return;
        }
        h->ghc = v & AHCI_GHC_IE;
        ahci_update_irq(h);
        return;
    case AHCI_IS:
        ahci_update_irq(h);          /* derived; re-signals what is still pending */
        return;
    default:
        return;
    }
}

/* Registers are dwords; narrower accesses read a part and write a part
 * (write-1-to-clear registers see zeroes in the other bytes). */
static uint64_t mmio_read(struct ahci *h, unsigned off, unsigned size)
{
    uint32_t v = hba_read32(h, off & ~3u);
    unsigned shift = 8 * (off & 3);
    return size >= 4 ? v : (v >> shift) & ((1u << (8 * size)) - 1);
}

static void mmio_write(struct ahci *h, unsigned off, uint32_t value, unsigned size)
{
    unsigned base = off & ~3u, shift = 8 * (off & 3);
    if (size >= 4) {
        hba_write32(h, base, value);
        return;
    }
    uint32_t mask = ((1u << (8 * size)) - 1) << shift;
    uint32_t v = (value << shift) & mask;
    if (!w1c_register(base))
        v |= hba_read32(h, base) & ~mask;
    hba_write32(h, base, v);
}

uint64_t ahci_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct ahci *h = opaque;
    if (offset >= AHCI_ABAR_SIZE || (size != 8 && (offset & 3) + size > 4))
        return 0;
    pthread_mutex_lock(&h->lock);
    uint64_t v = mmio_read(h, (unsigned)offset, size == 8 ? 4 : size);
    if (size == 8 && offset + 4 < AHCI_ABAR_SIZE)
        v |= (uint64_t)mmio_read(h, (unsigned)offset + 4, 4) << 32;
    pthread_mutex_unlock(&h->lock);
    return v;
}

void ahci_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct ahci *h = opaque;
    if (offset >= AHCI_ABAR_SIZE || (size != 8 && (offset & 3) + size > 4))
        return;
    pthread_mutex_lock(&h->lock);
    mmio_write(h, (unsigned)offset, (uint32_t)value, size == 8 ? 4 : size);
    if (size == 8 && offset + 4 < AHCI_ABAR_SIZE)
        mmio_write(h, (unsigned)offset + 4, (uint32_t)(value >> 32), 4);
    pthread_mutex_unlock(&h->lock);
}

bool ahci_irq_level(struct ahci *h)
{
    pthread_mutex_lock(&h->lock);
    bool l = h->intx_level;
    pthread_mutex_unlock(&h->lock);
    return l;
}

unsigned ahci_msi_count(struct ahci *h)
{
    pthread_mutex_lock(&h->lock);
    unsigned n = h->msi_sent;
    pthread_mutex_unlock(&h->lock);
    return n;
}

void ahci_wait_idle(struct ahci *h)
{
    block_aio_drain(h->aio);
    ahci_complete(h);
}

/* ---- construction ---- */

struct ahci *ahci_new(const struct guest_mem *mem, struct vm *vm, char **error)
{
    struct ahci *h = calloc(1, sizeof(*h));
    if (!h || !(h->aio = block_aio_new(AHCI_WORKERS))) {
        free(h);
        set_error(error, "AHCI: out of memory");
        return NULL;
    }
    h->mem = mem;
    h->vm = vm;
    pthread_mutex_init(&h->lock, NULL);
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        h->ports[i].hba = h;
        h->ports[i].index = i;
        ahci_port_reset(&h->ports[i], true);
    }
    return h;
}

static void drive_close(struct ahci_drive *d)
{
    if (d->bdev && d->kind == AHCI_DRIVE_DISK)
        block_set_remove(d->bdev);
    if (d->bdev)
        block_close(d->bdev);
    free(d->path);
    d->bdev = NULL;
    d->path = NULL;
}

void ahci_free(struct ahci *h)
{
    if (!h)
        return;
    block_aio_free(h->aio);          /* joins the workers: nothing runs after this */
    while (h->parked) {
        struct ahci_cmd *next = h->parked->next_parked;
        free(h->parked->buf);
        free(h->parked);
        h->parked = next;
    }
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        drive_close(&h->ports[i].drive);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static struct ahci_port *free_port(struct ahci *h, char **error)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->ports[i].drive.kind == AHCI_DRIVE_NONE)
            return &h->ports[i];
    set_error(error, "AHCI: at most %d drives (disks with bus=ahci plus CD drives)", AHCI_PORTS);
    return NULL;
}

/* IDENTIFY serial: the configured one, else the image's file name, ASCII. */
static void set_ident(struct ahci_drive *d, const char *serial, const char *path, const char *model)
{
    const char *src = serial && *serial ? serial : path ? strrchr(path, '/') : NULL;
    if (src && *src == '/')
        src++;
    if (!src || !*src)
        src = "DOMUS-CD";
    memset(d->serial, 0, sizeof(d->serial));
    for (size_t i = 0; i < sizeof(d->serial) - 1 && src[i]; i++)
        d->serial[i] = src[i] > 0x20 && src[i] < 0x7F ? src[i] : '_';
    snprintf(d->model, sizeof(d->model), "%s", model);
}

int ahci_attach_disk(struct ahci *h, const struct disk_config *disk, char **error)
{
    struct ahci_port *p = free_port(h, error);
    if (!p)
        return -ENOSPC;
    struct block_open_opts o = { .format = (enum block_format)disk->format, .readonly = disk->readonly };
    struct block *bdev;
    char *why = NULL;
    int r = block_open(disk->path, &o, &bdev, &why);
    if (r < 0) {
        set_error(error, "cannot open disk %s", why ? why : strerror(-r));
        free(why);
        return r;
    }
    if ((r = block_set_add(bdev)) < 0) {   /* live snapshots' disk snapshots cover it */
        set_error(error, "cannot add disk %s: too many disks", disk->path);
        block_close(bdev);
        return r;
    }
    struct block_info info;
    block_get_info(bdev, &info);
    pthread_mutex_lock(&h->lock);
    struct ahci_drive *d = &p->drive;
    d->kind = AHCI_DRIVE_DISK;
    d->bdev = bdev;
    d->path = strdup(disk->path);
    d->readonly = disk->readonly;
    d->pause_on_error = disk->pause_on_error;
    d->wce = true;
    d->sectors = block_length(bdev) / 512;
    d->discard_unit = disk->readonly ? 0 : info.cluster_size ? info.cluster_size : 4096;
    set_ident(d, disk->serial, disk->path, "DOMUS HARDDISK");
    ahci_port_reset(p, true);
    pthread_mutex_unlock(&h->lock);
    return (int)p->index;
}

int ahci_open_iso(const char *path, struct block **out, char **error)
{
    struct block_open_opts o = { .format = BLOCK_FMT_RAW, .readonly = true };
    char *why = NULL;
    int r = block_open(path, &o, out, &why);
    if (r < 0) {
        set_error(error, "cannot open CD image %s", why ? why : strerror(-r));
        free(why);
    }
    return r;
}

void ahci_drive_insert(struct ahci_drive *d, struct block *bdev, const char *path)
{
    d->bdev = bdev;
    d->path = bdev ? strdup(path) : NULL;
    d->sectors = bdev ? block_length(bdev) / 2048 : 0;
}

int ahci_attach_cdrom(struct ahci *h, const char *path, char **error)
{
    struct ahci_port *p = free_port(h, error);
    if (!p)
        return -ENOSPC;
    struct block *bdev = NULL;
    int r = path ? ahci_open_iso(path, &bdev, error) : 0;
    if (r < 0)
        return r;
    pthread_mutex_lock(&h->lock);
    struct ahci_drive *d = &p->drive;
    d->kind = AHCI_DRIVE_CDROM;
    d->readonly = true;
    ahci_drive_insert(d, bdev, path);
    set_ident(d, NULL, path, "DOMUS DVD-ROM");
    ahci_port_reset(p, true);
    pthread_mutex_unlock(&h->lock);
    return (int)p->index;
}

/* ---- save/restore ---- */

size_t ahci_state_size(void)
{
    return sizeof(struct ahci_state);
}

void ahci_state_save(struct ahci *h, struct ahci_state *s)
{
    pthread_mutex_lock(&h->lock);
    memset(s, 0, sizeof(*s));
    s->version = AHCI_STATE_VERSION;
    s->nports = AHCI_PORTS;
    s->ghc = h->ghc;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        const struct ahci_port *p = &h->ports[i];
        const struct ahci_drive *d = &p->drive;
        struct ahci_port_state *ps = &s->ports[i];
        ps->r = p->r;
        ps->r.ci |= p->issued;       /* started but unfinished: issued again */
        ps->sectors = d->kind == AHCI_DRIVE_DISK ? d->sectors : 0;
        ps->kind = (uint8_t)d->kind;
        ps->sense_key = d->sense_key;
        ps->media_event = d->media_event;
        ps->wce = d->wce;
        ps->multiple = d->multiple;
        ps->xfer_mode = d->xfer_mode;
        ps->locked = d->locked;
        ps->tray_open = d->tray_open;
        ps->unit_attention = d->unit_attention;
        ps->halted = p->halted;
        ps->ncq_err_valid = d->ncq_err_valid;
        ps->ncq_err_tag = d->ncq_err_tag;
        ps->ncq_err_status = d->ncq_err_status;
        ps->ncq_err_error = d->ncq_err_error;
        ps->asc = d->asc;
        ps->ncq_err_lba = d->ncq_err_lba;
    }
    pthread_mutex_unlock(&h->lock);
}

int ahci_state_restore(struct ahci *h, const void *buf, size_t len)
{
    struct ahci_state s;
    if (len != sizeof(s))
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    if (s.version != AHCI_STATE_VERSION || s.nports != AHCI_PORTS)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        const struct ahci_drive *d = &h->ports[i].drive;
        const struct ahci_port_state *ps = &s.ports[i];
        bool flags_ok = ps->wce <= 1 && ps->locked <= 1 && ps->tray_open <= 1 && ps->unit_attention <= 1 &&
                        ps->halted <= 1 && ps->ncq_err_valid <= 1 && ps->ncq_err_tag < 32;
        if (!flags_ok || ps->kind != d->kind || (d->kind == AHCI_DRIVE_DISK && ps->sectors != d->sectors)) {
            pthread_mutex_unlock(&h->lock);
            return -EINVAL;          /* another set of drives, or forged: nothing changed */
        }
    }
    block_aio_drain(h->aio);
    h->ghc = s.ghc & AHCI_GHC_IE;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        struct ahci_port *p = &h->ports[i];
        struct ahci_drive *d = &p->drive;
        const struct ahci_port_state *ps = &s.ports[i];
        p->gen++;
        p->r = ps->r;
        p->issued = 0;
        p->active = -1;
        p->halted = ps->halted;
        d->sense_key = ps->sense_key;
        d->asc = ps->asc;
        d->media_event = ps->media_event;
        d->wce = ps->wce;
        d->multiple = ps->multiple;
        d->xfer_mode = ps->xfer_mode;
        d->locked = ps->locked;
        d->tray_open = ps->tray_open;
        d->unit_attention = ps->unit_attention;
        d->ncq_err_valid = ps->ncq_err_valid;
        d->ncq_err_tag = ps->ncq_err_tag;
        d->ncq_err_status = ps->ncq_err_status;
        d->ncq_err_error = ps->ncq_err_error;
        d->ncq_err_lba = ps->ncq_err_lba;
    }
    ahci_update_irq(h);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

void ahci_state_resume(struct ahci *h)
{
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        ahci_port_write(&h->ports[i], PORT_CI, 0);   /* runs what was issued */
    ahci_update_irq(h);
    pthread_mutex_unlock(&h->lock);
}
