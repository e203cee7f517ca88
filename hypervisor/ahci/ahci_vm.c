/* The controller in the VMM: PCI plumbing, completions on the I/O thread,
 * media changes and the control socket's eject / change-media /
 * query-media commands, and carrying changed media across a reboot. */
#include "ahci_int.h"
#include "block/block.h"
#include "core/config.h"
#include "core/event_loop.h"
#include "core/state.h"
#include "core/vm.h"
#include "devices/control.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define CD_ENV_PREFIX "DOMUS_VMM_CDROM"

/* ---- media ---- */

/* "sata0".. for disks and "cd0".. for CD drives, counted in port order. */
static struct ahci_port *find_drive(struct ahci *h, const char *name)
{
    unsigned ndisk = 0, ncd = 0;
    char buf[16];
    for (unsigned i = 0; i < AHCI_PORTS && name; i++) {
        enum ahci_drive_kind k = h->ports[i].drive.kind;
        if (k == AHCI_DRIVE_NONE)
            continue;
        snprintf(buf, sizeof(buf), k == AHCI_DRIVE_CDROM ? "cd%u" : "sata%u", k == AHCI_DRIVE_CDROM ? ncd++ : ndisk++);
        if (!strcmp(buf, name))
            return &h->ports[i];
    }
    return NULL;
}

static struct ahci_drive *find_cd(struct ahci *h, const char *name, char **error)
{
    struct ahci_port *p = find_drive(h, name);
    if (!p || p->drive.kind != AHCI_DRIVE_CDROM) {
        set_error(error, "no CD drive named '%s'", name ? name : "");
        return NULL;
    }
    return &p->drive;
}

/* Caller holds the lock. A locked tray refuses, and the guest is told
 * the user wants the disc out (as pressing the drive's button would). */
static int check_unlocked(struct ahci_drive *d, const char *name, bool force, char **error)
{
    if (!d->locked || force)
        return 0;
    d->media_event = MEDIA_EV_EJECT_REQ;
    set_error(error, "the guest has locked %s's tray; ask it to eject, or use force", name);
    return -EBUSY;
}

/* Swaps the medium; the old one is closed once reads from it are done. */
static void swap_medium(struct ahci *h, struct ahci_drive *d, struct block *bdev, const char *path)
{
    block_aio_drain(h->aio);
    struct block *old = d->bdev;
    free(d->path);
    ahci_drive_insert(d, bdev, path);
    d->tray_open = false;
    d->locked = false;
    if (bdev) {
        d->media_event = MEDIA_EV_NEW;
        d->unit_attention = true;
    } else if (old) {
        d->media_event = MEDIA_EV_REMOVED;
    }
    if (old)
        block_close(old);
}

int ahci_eject(struct ahci *h, const char *name, bool force, char **error)
{
    pthread_mutex_lock(&h->lock);
    struct ahci_drive *d = find_cd(h, name, error);
    int r = d ? check_unlocked(d, name, force, error) : -ENODEV;
    if (r == 0)
        swap_medium(h, d, NULL, NULL);
    pthread_mutex_unlock(&h->lock);
    return r;
}

int ahci_change_media(struct ahci *h, const char *name, const char *path, bool force, char **error)
{
    pthread_mutex_lock(&h->lock);
    struct ahci_drive *d = find_cd(h, name, error);
    int r = d ? check_unlocked(d, name, force, error) : -ENODEV;
    pthread_mutex_unlock(&h->lock);
    if (r < 0)
        return r;
    struct block *bdev;
    if ((r = ahci_open_iso(path, &bdev, error)) < 0)
        return r;
    pthread_mutex_lock(&h->lock);
    if ((r = check_unlocked(d, name, force, error)) == 0)   /* the guest may have locked it meanwhile */
        swap_medium(h, d, bdev, path);
    else
        block_close(bdev);
    pthread_mutex_unlock(&h->lock);
    return r;
}

/* ---- control socket ---- */

static const char *arg_string(JsonObject *args, const char *name)
{
    JsonNode *n = args ? json_object_get_member(args, name) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
}

static bool arg_bool(JsonObject *args, const char *name)
{
    JsonNode *n = args ? json_object_get_member(args, name) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}

static const char *error_class(int r)
{
    return r == -ENODEV ? "DeviceNotFound" : r == -EBUSY ? "DeviceLocked" : "GenericError";
}

/* {"execute":"eject","arguments":{"device":"cd0"[,"force":true]}} */
static JsonNode *cmd_eject(void *opaque, JsonObject *args, const char **cls, char **desc)
{
    int r = ahci_eject(opaque, arg_string(args, "device"), arg_bool(args, "force"), desc);
    if (r < 0)
        *cls = error_class(r);
    return NULL;
}

/* {"execute":"change-media","arguments":{"device":"cd0","file":"/path/x.iso"[,"force":true]}} */
static JsonNode *cmd_change_media(void *opaque, JsonObject *args, const char **cls, char **desc)
{
    const char *file = arg_string(args, "file");
    if (!file || !*file) {
        *cls = "GenericError";
        set_error(desc, "change-media needs \"file\" (use eject to empty the drive)");
        return NULL;
    }
    int r = ahci_change_media(opaque, arg_string(args, "device"), file, arg_bool(args, "force"), desc);
    if (r < 0)
        *cls = error_class(r);
    return NULL;
}

/* {"execute":"query-media"} -> [{"device":"cd0","port":1,"type":"cdrom","file":…,"tray-open":false,"locked":true}, …] */
static JsonNode *cmd_query_media(void *opaque, JsonObject *args, const char **cls, char **desc)
{
    struct ahci *h = opaque;
    JsonBuilder *b = json_builder_new();
    json_builder_begin_array(b);
    pthread_mutex_lock(&h->lock);
    unsigned ndisk = 0, ncd = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        const struct ahci_drive *d = &h->ports[i].drive;
        if (d->kind == AHCI_DRIVE_NONE)
            continue;
        bool cd = d->kind == AHCI_DRIVE_CDROM;
        char name[16];
        snprintf(name, sizeof(name), cd ? "cd%u" : "sata%u", cd ? ncd++ : ndisk++);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "device");
        json_builder_add_string_value(b, name);
        json_builder_set_member_name(b, "port");
        json_builder_add_int_value(b, i);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, cd ? "cdrom" : "disk");
        json_builder_set_member_name(b, "file");
        if (d->path && d->bdev)
            json_builder_add_string_value(b, d->path);
        else
            json_builder_add_null_value(b);
        if (cd) {
            json_builder_set_member_name(b, "tray-open");
            json_builder_add_boolean_value(b, d->tray_open);
            json_builder_set_member_name(b, "locked");
            json_builder_add_boolean_value(b, d->locked);
        }
        json_builder_end_object(b);
    }
    pthread_mutex_unlock(&h->lock);
    json_builder_end_array(b);
    JsonNode *n = json_builder_get_root(b);
    g_object_unref(b);
    return n;
}

/* ---- the VMM's controller ---- */

static struct ahci *vm_ahci;

static void on_completion(void *opaque, uint32_t events)
{
    ahci_complete(opaque);
}

static void on_resume(void *opaque)
{
    ahci_retry_parked(opaque);
}

static void ahci_config_write(struct pci_device *dev, unsigned offset, uint32_t value, unsigned size)
{
    struct ahci *h = dev->opaque;
    if (!h->msi.cap || offset + size <= h->msi.cap || offset >= h->msi.cap + 4)
        return;
    pthread_mutex_lock(&h->lock);    /* MSI switched on or off: move the interrupt over */
    ahci_update_irq(h);
    pthread_mutex_unlock(&h->lock);
}

/* ---- snapshots ---- */

/* Every command finishes first; one parked by on-error=pause has no place
 * in a snapshot, so that refuses. The disks' contents are the disk
 * snapshot's business (block_set: AHCI disks are in it like virtio-blk's). */
static int ahci_quiesce(void *opaque)
{
    struct ahci *h = opaque;
    ahci_wait_idle(h);
    pthread_mutex_lock(&h->lock);
    bool parked = h->parked != NULL;
    pthread_mutex_unlock(&h->lock);
    return parked ? -EBUSY : 0;
}

static long ahci_save(void *opaque, void *buf, size_t max)
{
    size_t n = ahci_state_size();
    struct ahci_state *s = malloc(n);
    if (!s)
        return -ENOMEM;
    ahci_state_save(opaque, s);
    long r = state_save_struct(buf, max, s, n);
    free(s);
    return r;
}

static int ahci_load(void *opaque, const void *buf, size_t len)
{
    return ahci_state_restore(opaque, buf, len);
}

/* Once RAM is back: commands the saved state had issued run now. */
static void ahci_loaded(void *opaque)
{
    ahci_state_resume(opaque);
}

static const struct state_ops ahci_state_ops = {
    .version = 1, .save = ahci_save, .load = ahci_load, .quiesce = ahci_quiesce, .loaded = ahci_loaded,
};

static const struct pci_device_ops ahci_pci_ops = { .config_write = ahci_config_write };
static const struct io_ops ahci_mmio_ops = { .read = ahci_mmio_read, .write = ahci_mmio_write };

/* After a reboot (re-exec), a medium the user changed stays in its drive. */
static const char *cdrom_path(const struct vm_config *cfg, unsigned i)
{
    char var[32];
    snprintf(var, sizeof(var), CD_ENV_PREFIX "%u", i);
    const char *env = getenv(var);
    if (env)
        return *env ? env : NULL;
    return cfg->cdroms[i];
}

int ahci_create(struct vm *vm)
{
    const struct vm_config *cfg = vm->cfg;
    unsigned nahci = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        nahci += cfg->disks[i].bus == DISK_BUS_AHCI;
    if (!nahci && !cfg->ncdroms)
        return 0;
    char *err = NULL;
    struct ahci *h = ahci_new(&vm->mem, vm, &err);
    int r = h ? 0 : -ENOMEM;
    for (unsigned i = 0; r >= 0 && i < cfg->ndisks; i++)
        if (cfg->disks[i].bus == DISK_BUS_AHCI)
            r = ahci_attach_disk(h, &cfg->disks[i], &err);
    for (unsigned i = 0; r >= 0 && i < cfg->ncdroms; i++) {
        const char *path = cdrom_path(cfg, i);
        r = ahci_attach_cdrom(h, path, &err);
        if (r < 0 && path != cfg->cdroms[i]) {
            /* a medium changed at run time that is gone now: an empty drive */
            fprintf(stderr, "domus-vmm: %s; the drive is empty\n", err ? err : "cannot reopen CD image");
            free(err);
            err = NULL;
            r = ahci_attach_cdrom(h, NULL, &err);
        }
    }
    if (r < 0) {
        fprintf(stderr, "domus-vmm: %s\n", err ? err : strerror(-r));
        free(err);
        ahci_free(h);
        return r;
    }
    pci_device_init(&h->pci, "ahci", 0x8086, 0x2922, 0x010601, 2, 0x1AF4, 0x1100);
    pci_device_set_bar(&h->pci, 5, AHCI_ABAR_SIZE, 0, &ahci_mmio_ops, h);
    pci_device_set_intx(&h->pci, 1);
    pci_msi_init(&h->msi, &h->pci);
    h->pci.ops = &ahci_pci_ops;
    h->pci.opaque = h;
    h->pci_owned = true;
    if ((r = pci_bus_add(vm->pci, &h->pci)) < 0 ||
        (r = event_loop_add(vm->loop, block_aio_fd(h->aio), EPOLLIN, on_completion, h)) < 0) {
        fprintf(stderr, "domus-vmm: cannot add the AHCI controller: %s\n", strerror(-r));
        return r;                    /* the VMM exits; the PCI bus may hold it */
    }
    vm_add_resume_hook(vm, on_resume, h);
    if ((r = vm_state_register(vm, "ahci", &ahci_state_ops, h)) < 0) {
        fprintf(stderr, "domus-vmm: cannot register the AHCI controller's state: %s\n", strerror(-r));
        return r;
    }
    control_add_command("eject", cmd_eject, h);
    control_add_command("change-media", cmd_change_media, h);
    control_add_command("query-media", cmd_query_media, h);
    vm_ahci = h;
    return 0;
}

/* The media in the CD drives go into the environment first: a guest
 * reboot re-executes the VMM, and a disc the user changed stays in. */
void ahci_close_all(void)
{
    struct ahci *h = vm_ahci;
    if (!h)
        return;
    unsigned ncd = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        const struct ahci_drive *d = &h->ports[i].drive;
        if (d->kind != AHCI_DRIVE_CDROM)
            continue;
        char var[32];
        snprintf(var, sizeof(var), CD_ENV_PREFIX "%u", ncd++);
        setenv(var, d->bdev && d->path ? d->path : "", 1);
    }
    ahci_free(h);                    /* block_close flushes every disk */
    vm_ahci = NULL;
}
