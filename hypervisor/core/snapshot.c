#include "snapshot.h"
#include "snapshot_int.h"
#include "state.h"
#include "vcpu.h"
#include "vm.h"
#include "config.h"
#include "pci/pci.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- the registry ---- */

struct state_entry {
    char name[STATE_NAME_MAX];
    const struct state_ops *ops;
    void *opaque;
};

struct vm_states {
    struct state_entry *e;
    unsigned n, cap;
    const void **owners;
    unsigned nowners, owners_cap;
};

static struct vm_states *states_of(struct vm *vm)
{
    if (!vm->states)
        vm->states = calloc(1, sizeof(struct vm_states));
    return vm->states;
}

void vm_state_claim(struct vm *vm, const void *opaque)
{
    struct vm_states *s = vm ? states_of(vm) : NULL;
    if (!s)
        return;
    if (s->nowners == s->owners_cap) {
        unsigned cap = s->owners_cap ? 2 * s->owners_cap : 32;
        const void **o = realloc(s->owners, cap * sizeof(*o));
        if (!o)
            return;
        s->owners = o;
        s->owners_cap = cap;
    }
    s->owners[s->nowners++] = opaque;
}

static bool name_taken(const struct vm_states *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].name, name))
            return true;
    return false;
}

int vm_state_register(struct vm *vm, const char *name, const struct state_ops *ops, void *opaque)
{
    struct vm_states *s = vm ? states_of(vm) : NULL;
    if (!s)
        return vm ? -ENOMEM : 0;
    if (s->n == s->cap) {
        unsigned cap = s->cap ? 2 * s->cap : 16;
        struct state_entry *e = realloc(s->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        s->e = e;
        s->cap = cap;
    }
    struct state_entry *e = &s->e[s->n];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    for (unsigned i = 1; name_taken(s, e->name); i++)
        snprintf(e->name, sizeof(e->name), "%.24s.%u", name, i);
    e->ops = ops;
    e->opaque = opaque;
    s->n++;
    vm_state_claim(vm, opaque);
    return 0;
}

long state_save_struct(void *buf, size_t max, const void *st, size_t size)
{
    if (max < size)
        return -ENOSPC;
    memcpy(buf, st, size);
    return (long)size;
}

int state_check_size(size_t len, size_t size)
{
    return len == size ? 0 : -EINVAL;
}

/* ---- which devices cannot be saved ---- */

static bool owned(const struct vm_states *s, const void *opaque)
{
    for (unsigned i = 0; s && i < s->nowners; i++)
        if (s->owners[i] == opaque)
            return true;
    return false;
}

static const char *pci_name_of(struct vm *vm, const void *opaque)
{
    for (unsigned d = 0; vm->pci && d < PCI_MAX_DEVICES; d++) {
        struct pci_device *dev = vm->pci->devices[d];
        for (unsigned b = 0; dev && b < PCI_NUM_BARS; b++)
            if (dev->bars[b].size && dev->bars[b].opaque == opaque)
                return dev->name ? dev->name : "a PCI device";
    }
    return NULL;
}

static char *bus_unowned(struct vm *vm, struct io_bus *bus, const struct vm_states *s)
{
    char *msg = NULL;
    pthread_rwlock_rdlock(&bus->lock);
    for (unsigned i = 0; i < bus->count && !msg; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (owned(s, r->opaque))
            continue;
        const char *name = pci_name_of(vm, r->opaque);
        if (name)
            set_error(&msg, "device '%s' cannot be saved yet (it has no snapshot support)", name);
        else
            set_error(&msg, "the device at %s 0x%llx cannot be saved yet (it has no snapshot support)",
                      bus == &vm->pio ? "I/O port" : "MMIO address", (unsigned long long)r->base);
    }
    pthread_rwlock_unlock(&bus->lock);
    return msg;
}

char *vm_snapshot_unsupported(struct vm *vm)
{
    struct vm_states *s = vm->states;
    char *msg = NULL;
    for (unsigned i = 0; s && i < s->n; i++) {
        if (!s->e[i].ops) {
            set_error(&msg, "device '%s' cannot be saved yet (it has no snapshot support)", s->e[i].name);
            return msg;
        }
    }
    if ((msg = bus_unowned(vm, &vm->pio, s)) || (msg = bus_unowned(vm, &vm->mmio, s)))
        return msg;
    return NULL;
}

/* ---- stopping the VM around a snapshot ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Holds run_lock so the main thread's pause/resume cannot interleave. */
static bool vm_hold(struct vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    bool was_running = vm->state == VM_STATE_RUNNING;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_pause(vm->vcpus[i]);
    if (was_running)
        __atomic_store_n(&vm->state, VM_STATE_PAUSED, __ATOMIC_RELAXED);
    return was_running;
}

static void vm_unhold(struct vm *vm, bool run)
{
    if (run) {
        for (unsigned i = 0; i < vm->ncpus; i++)
            vcpu_resume(vm->vcpus[i]);
        __atomic_store_n(&vm->state, VM_STATE_RUNNING, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&vm->run_lock);
}

static int quiesce_all(struct vm *vm, char **error)
{
    struct vm_states *s = vm->states;
    for (unsigned i = 0; s && i < s->n; i++) {
        const struct state_entry *e = &s->e[i];
        int r = e->ops && e->ops->quiesce ? e->ops->quiesce(e->opaque) : 0;
        if (r < 0) {
            set_error(error, "device '%s' cannot be saved now: %s", e->name,
                      r == -EBUSY ? "it has failed requests waiting for 'resume'" : strerror(-r));
            return r;
        }
    }
    return 0;
}

static int save_devices(struct vm *vm, struct snap_writer *w, char **error)
{
    struct vm_states *s = vm->states;
    size_t cap = 65536;
    void *buf = malloc(cap);
    for (unsigned i = 0; s && i < s->n && buf; i++) {
        const struct state_entry *e = &s->e[i];
        long n;
        while ((n = e->ops->save(e->opaque, buf, cap)) == -ENOSPC && cap < (256u << 20)) {
            void *b = realloc(buf, cap * 2);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        if (n < 0) {
            set_error(error, "cannot save device '%s': %s", e->name, strerror((int)-n));
            free(buf);
            return (int)n;
        }
        snap_writer_add(w, e->name, e->ops->version, buf, (size_t)n);
    }
    if (!buf)
        return -ENOMEM;
    free(buf);
    return w->err;
}

static char *ram_path(const char *path)
{
    char *p = malloc(strlen(path) + 5);
    if (p)
        strcat(strcpy(p, path), ".ram");
    return p;
}

int vm_snapshot_save(struct vm *vm, const struct snapshot_request *req, struct snapshot_result *res,
                     char **error)
{
    double t0 = now_ms();
    memset(res, 0, sizeof(*res));
    char *why = vm_snapshot_unsupported(vm);
    if (why) {
        *error = why;
        return -ENOTSUP;
    }
    char *rpath = ram_path(req->path);
    if (!rpath)
        return -ENOMEM;
    struct snap_writer w;
    snap_writer_init(&w);
    struct snap_info info = { .ncpus = vm->ncpus, .ram_size = vm->mem.size };
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    info.created_ns = (uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec;
    if (getrandom(&info.ram_id, sizeof(info.ram_id), 0) != sizeof(info.ram_id))
        info.ram_id = info.created_ns ^ (uint64_t)getpid();

    bool was_running = vm_hold(vm);
    double tp = now_ms();
    info.flags = was_running ? SNAP_FLAG_WAS_RUNNING : 0;
    int r = quiesce_all(vm, error);
    if (r == 0 && req->while_paused)
        r = req->while_paused(req->opaque, error);
    if (r == 0)
        r = snapshot_kvm_save(vm, &w, error);
    if (r == 0)
        r = save_devices(vm, &w, error);
    if (r == 0)
        r = snapshot_ram_save(&vm->mem, rpath, info.ram_id, &res->ram_bytes, error);
    if (r == 0 && (r = snap_writer_finish(&w, &info)) < 0)
        set_error(error, "cannot build the state file: %s", strerror(-r));
    if (r == 0)
        r = snap_write_file(req->path, w.buf, w.len, error);
    if (r < 0 && req->undo)
        req->undo(req->opaque);
    vm_unhold(vm, was_running && !req->stay_paused);
    res->pause_ms = now_ms() - tp;
    snap_writer_free(&w);
    free(rpath);
    res->total_ms = now_ms() - t0;
    return r;
}

/* ---- loading ---- */

static const struct state_entry *entry_named(const struct vm_states *s, const char *name)
{
    for (unsigned i = 0; s && i < s->n; i++)
        if (!strcmp(s->e[i].name, name))
            return &s->e[i];
    return NULL;
}

/* Everything that can be known before touching the VM. */
int snapshot_check_image(struct vm *vm, const struct snap_image *img, char **error)
{
    if (img->info.ncpus != vm->ncpus) {
        set_error(error, "the snapshot has %u vCPUs; this VM has %u", img->info.ncpus, vm->ncpus);
        return -EINVAL;
    }
    if (img->info.ram_size != vm->mem.size) {
        set_error(error, "the snapshot has %llu MiB of RAM; this VM has %llu MiB",
                  (unsigned long long)(img->info.ram_size >> 20), (unsigned long long)(vm->mem.size >> 20));
        return -EINVAL;
    }
    int r = snapshot_kvm_check(vm, img, error);
    if (r < 0)
        return r;
    struct vm_states *s = vm->states;
    for (unsigned i = 0; i < img->nsections; i++) {
        const struct snap_section *sec = &img->sections[i];
        if (snapshot_kvm_owns(sec->name))
            continue;
        const struct state_entry *e = entry_named(s, sec->name);
        if (!e) {
            set_error(error, "the snapshot has a device '%s' this VM does not have", sec->name);
            return -EINVAL;
        }
        if (e->ops && sec->version != e->ops->version) {
            set_error(error, "device '%s' was saved as version %u; this domus-vmm reads version %u",
                      sec->name, sec->version, e->ops->version);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; s && i < s->n; i++) {
        if (!snap_image_find(img, s->e[i].name)) {
            set_error(error, "the snapshot lacks device '%s' of this VM", s->e[i].name);
            return -EINVAL;
        }
    }
    return 0;
}

static int load_devices(struct vm *vm, const struct snap_image *img, char **error)
{
    struct vm_states *s = vm->states;
    for (unsigned i = 0; s && i < s->n; i++) {
        const struct state_entry *e = &s->e[i];
        const struct snap_section *sec = snap_image_find(img, e->name);
        int r = e->ops->load(e->opaque, sec->data, sec->len);
        if (r < 0) {
            set_error(error, "device '%s' refused its saved state: %s", e->name, strerror(-r));
            return r;
        }
    }
    return 0;
}

static void devices_loaded(struct vm *vm)
{
    struct vm_states *s = vm->states;
    for (unsigned i = 0; s && i < s->n; i++)
        if (s->e[i].ops->loaded)
            s->e[i].ops->loaded(s->e[i].opaque);
}

/* Devices, chips and vCPUs as they are now, to put back if a load fails
 * halfway (RAM is loaded after everything that can refuse). */
static int capture(struct vm *vm, struct snap_image *img, char **error)
{
    struct snap_writer w;
    snap_writer_init(&w);
    struct snap_info info = { .ncpus = vm->ncpus, .ram_size = vm->mem.size };
    int r = snapshot_kvm_save(vm, &w, error);
    if (r == 0)
        r = save_devices(vm, &w, error);
    if (r == 0)
        r = snap_writer_finish(&w, &info);
    if (r == 0)
        r = snap_image_parse(w.buf, w.len, img, error);
    else
        snap_writer_free(&w);
    return r;
}

static int load_image(struct vm *vm, const struct snap_image *img, int ramfd, bool lazy, char **error)
{
    int r = snapshot_kvm_load_chips(vm, img);
    if (r < 0) {
        set_error(error, "KVM refused the saved interrupt controllers or PIT: %s", strerror(-r));
        close(ramfd);
        return r;
    }
    if ((r = load_devices(vm, img, error)) < 0) {
        close(ramfd);
        return r;
    }
    if ((r = snapshot_ram_load(&vm->mem, ramfd, lazy)) < 0) {
        set_error(error, "cannot load guest RAM: %s", strerror(-r));
        return r;
    }
    if ((r = snapshot_kvm_load_vcpus(vm, img)) < 0) {
        set_error(error, "KVM refused the saved vCPU state: %s", strerror(-r));
        return r;
    }
    if ((r = snapshot_kvm_load_clock(vm, img)) < 0)
        set_error(error, "KVM refused the saved clock: %s", strerror(-r));
    else
        devices_loaded(vm);
    return r;
}

static int open_checked(struct vm *vm, const char *path, struct snap_image *img, int *ramfd, char **error)
{
    char *why = vm_snapshot_unsupported(vm);
    if (why) {
        *error = why;
        return -ENOTSUP;
    }
    int r = snap_image_read(path, img, error);
    if (r < 0)
        return r;
    if ((r = snapshot_check_image(vm, img, error)) < 0) {
        snap_image_free(img);
        return r;
    }
    char *rpath = ram_path(path);
    *ramfd = rpath ? snapshot_ram_open(rpath, img->info.ram_size, img->info.ram_id, error) : -ENOMEM;
    free(rpath);
    if (*ramfd < 0) {
        snap_image_free(img);
        return *ramfd;
    }
    return 0;
}

static bool want_lazy(struct vm *vm, enum snapshot_ram_mode mode)
{
    if (mode != SNAPSHOT_RAM_AUTO)
        return mode == SNAPSHOT_RAM_LAZY && vm->mem.memfd >= 0;
    /* A display client maps the RAM memfd (direct scanout): keep it the RAM. */
    return vm->mem.memfd >= 0 && (!vm->cfg || vm->cfg->ndisplays == 0);
}

int vm_snapshot_load(struct vm *vm, const struct snapshot_request *req, struct snapshot_result *res,
                     char **error)
{
    double t0 = now_ms();
    memset(res, 0, sizeof(*res));
    struct snap_image img, before;
    int ramfd;
    int r = open_checked(vm, req->path, &img, &ramfd, error);
    if (r < 0)
        return r;
    res->lazy = want_lazy(vm, req->ram);

    bool was_running = vm_hold(vm);
    double tp = now_ms();
    r = quiesce_all(vm, error);
    if (r == 0)
        r = capture(vm, &before, error);
    if (r == 0 && req->while_paused && (r = req->while_paused(req->opaque, error)) < 0)
        snap_image_free(&before);
    if (r < 0) {
        close(ramfd);
        vm_unhold(vm, was_running);
        snap_image_free(&img);
        return r;
    }
    r = load_image(vm, &img, ramfd, res->lazy, error);
    if (r < 0) {
        /* Put back what can be put back; RAM is only touched after every
         * device accepted its state. */
        snapshot_kvm_load_chips(vm, &before);
        load_devices(vm, &before, NULL);
        snapshot_kvm_load_vcpus(vm, &before);
        devices_loaded(vm);
    }
    snap_image_free(&before);
    snap_image_free(&img);
    vm_unhold(vm, r == 0 ? !req->stay_paused : was_running);
    res->pause_ms = now_ms() - tp;
    if (r == 0 && res->lazy)
        snapshot_ram_trim(&vm->mem);
    res->total_ms = now_ms() - t0;
    return r;
}

int vm_snapshot_restore(struct vm *vm, const char *path, char **error)
{
    struct snap_image img;
    int ramfd;
    int r = open_checked(vm, path, &img, &ramfd, error);
    if (r < 0)
        return r;
    if ((r = quiesce_all(vm, error)) == 0)
        r = load_image(vm, &img, ramfd, want_lazy(vm, SNAPSHOT_RAM_AUTO), error);
    else
        close(ramfd);
    snapshot_ram_trim(&vm->mem);
    snap_image_free(&img);
    return r;
}
