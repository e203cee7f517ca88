/* fw_cfg: items, the file directory, the port and DMA interfaces. */
#include "fw_cfg.h"
#include "core/bus.h"
#include "core/memory.h"
#include "core/state.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA         0x02
#define FW_CFG_WRITE_FLAG     0x4000     /* selector bit asking for write access */
#define DMA_SIGNATURE         "QEMU CFG" /* what the DMA address register reads as */

struct fw_cfg_entry {
    uint16_t key;
    char name[FW_CFG_NAME_LEN];          /* empty for numbered items */
    uint8_t *data;
    uint32_t len;
};

struct fw_cfg {
    struct guest_mem *mem;
    pthread_mutex_t lock;
    struct fw_cfg_entry entries[FW_CFG_MAX_ENTRIES];
    unsigned nentries, nfiles;
    const struct fw_cfg_entry *cur;      /* selected item, NULL if none */
    uint32_t offset;                     /* read position in it */
    uint64_t dma_addr;                   /* high half latched, low half starts */
};

/* The directory entry layout, all big-endian. */
struct fw_cfg_file {
    uint32_t size;
    uint16_t select;
    uint16_t reserved;
    char name[FW_CFG_NAME_LEN];
} __attribute__((packed));

/* The DMA access descriptor in guest memory, big-endian. */
struct fw_cfg_dma_access {
    uint32_t control;
    uint32_t length;
    uint64_t address;
} __attribute__((packed));

static struct fw_cfg_entry *find(struct fw_cfg *fw, uint16_t key)
{
    for (unsigned i = 0; i < fw->nentries; i++)
        if (fw->entries[i].key == key)
            return &fw->entries[i];
    return NULL;
}

static int set_entry(struct fw_cfg *fw, uint16_t key, const char *name, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return -EINVAL;
    struct fw_cfg_entry *e = find(fw, key);
    if (!e) {
        if (fw->nentries == FW_CFG_MAX_ENTRIES)
            return -ENOSPC;
        e = &fw->entries[fw->nentries++];
        memset(e, 0, sizeof(*e));
        e->key = key;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    free(e->data);
    e->data = copy;
    e->len = (uint32_t)len;
    if (name)
        strncpy(e->name, name, FW_CFG_NAME_LEN - 1);
    return 0;
}

/* Rebuilds item 0x19 from the files, in the order they were added. */
static int rebuild_dir(struct fw_cfg *fw)
{
    size_t len = 4 + fw->nfiles * sizeof(struct fw_cfg_file);
    uint8_t *dir = calloc(1, len);
    if (!dir)
        return -ENOMEM;
    uint32_t count = htobe32(fw->nfiles);
    memcpy(dir, &count, 4);
    struct fw_cfg_file *f = (struct fw_cfg_file *)(dir + 4);
    for (unsigned i = 0; i < fw->nentries; i++) {
        const struct fw_cfg_entry *e = &fw->entries[i];
        if (e->key < FW_CFG_FILE_FIRST || e->key >= FW_CFG_FILE_FIRST + FW_CFG_MAX_ENTRIES)
            continue;
        f->size = htobe32(e->len);
        f->select = htobe16(e->key);
        memcpy(f->name, e->name, FW_CFG_NAME_LEN);
        f++;
    }
    int r = set_entry(fw, FW_CFG_FILE_DIR, NULL, dir, len);
    free(dir);
    return r;
}

int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
    if (key == FW_CFG_FILE_DIR || (key >= FW_CFG_FILE_FIRST && key < 0x8000))
        return -EINVAL;
    pthread_mutex_lock(&fw->lock);
    int r = set_entry(fw, key, NULL, data, len);
    pthread_mutex_unlock(&fw->lock);
    return r;
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v)
{
    uint16_t le = htole16(v);
    return fw_cfg_add_item(fw, key, &le, sizeof(le));
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
    if (!name || !*name || strlen(name) >= FW_CFG_NAME_LEN)
        return -EINVAL;
    pthread_mutex_lock(&fw->lock);
    int r = 0;
    for (unsigned i = 0; i < fw->nentries; i++)
        if (!strcmp(fw->entries[i].name, name))
            r = -EEXIST;
    uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + fw->nfiles);
    if (r == 0 && (r = set_entry(fw, key, name, data, len)) == 0) {
        fw->nfiles++;
        r = rebuild_dir(fw);
    }
    pthread_mutex_unlock(&fw->lock);
    return r < 0 ? r : key;
}

struct fw_cfg *fw_cfg_new(struct guest_mem *mem)
{
    struct fw_cfg *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return NULL;
    fw->mem = mem;
    pthread_mutex_init(&fw->lock, NULL);
    uint32_t id = htole32(FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    if (set_entry(fw, FW_CFG_SIGNATURE, NULL, "QEMU", 4) < 0 ||
        set_entry(fw, FW_CFG_ID, NULL, &id, sizeof(id)) < 0 || rebuild_dir(fw) < 0) {
        fw_cfg_free(fw);
        return NULL;
    }
    return fw;
}

void fw_cfg_free(struct fw_cfg *fw)
{
    if (!fw)
        return;
    for (unsigned i = 0; i < fw->nentries; i++)
        free(fw->entries[i].data);
    pthread_mutex_destroy(&fw->lock);
    free(fw);
}

/* Caller holds the lock. A key nobody set selects nothing: reads give zeros. */
static void select_key(struct fw_cfg *fw, uint16_t key)
{
    fw->cur = find(fw, key & (uint16_t)~FW_CFG_WRITE_FLAG);
    fw->offset = 0;
}

/* ---- port interface ---- */

static uint64_t sel_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fw_cfg *fw = opaque;
    if (offset != 1 || size != 1)
        return 0;
    pthread_mutex_lock(&fw->lock);
    uint8_t v = 0;
    if (fw->cur && fw->offset < fw->cur->len)
        v = fw->cur->data[fw->offset];
    if (fw->cur && fw->offset < UINT32_MAX)
        fw->offset++;
    pthread_mutex_unlock(&fw->lock);
    return v;
}

static void sel_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct fw_cfg *fw = opaque;
    /* Writes through the data port have been ignored since QEMU 2.4. */
    if (offset != 0 || size != 2)
        return;
    pthread_mutex_lock(&fw->lock);
    select_key(fw, (uint16_t)value);
    pthread_mutex_unlock(&fw->lock);
}

static const struct io_ops fw_cfg_io_ops = { .read = sel_read, .write = sel_write };

/* ---- DMA interface ---- */

/* Runs the access descriptor at @addr. Caller holds the lock. */
static void dma_run(struct fw_cfg *fw, uint64_t addr)
{
    struct fw_cfg_dma_access a;
    if (guest_mem_read(fw->mem, addr, &a, sizeof(a)) < 0)
        return;                         /* nowhere to report the error */
    uint32_t control = be32toh(a.control), len = be32toh(a.length);
    uint64_t dst = be64toh(a.address);
    bool error = false;

    if (control & FW_CFG_DMA_SELECT)
        select_key(fw, (uint16_t)(control >> 16));
    if (control & FW_CFG_DMA_WRITE) {
        error = true;                   /* no item is writable */
    } else if (control & (FW_CFG_DMA_READ | FW_CFG_DMA_SKIP)) {
        const struct fw_cfg_entry *e = fw->cur;
        uint32_t avail = e && fw->offset < e->len ? e->len - fw->offset : 0;
        uint32_t n = len < avail ? len : avail;
        if (control & FW_CFG_DMA_READ) {
            uint8_t *p = guest_mem_ptr(fw->mem, dst, len);
            if (!p) {
                error = true;
            } else {
                /* Past the item's end the guest gets zeros. */
                if (n)
                    memcpy(p, e->data + fw->offset, n);
                memset(p + n, 0, len - n);
            }
        }
        if (!error && e)
            fw->offset = (uint64_t)fw->offset + len > UINT32_MAX ? UINT32_MAX : fw->offset + len;
    }
    uint32_t done = htobe32(error ? FW_CFG_DMA_ERROR : 0);
    guest_mem_write(fw->mem, addr, &done, sizeof(done));
}

static uint64_t dma_read(void *opaque, uint64_t offset, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && offset + i < 8; i++)
        v |= (uint64_t)(uint8_t)DMA_SIGNATURE[offset + i] << (8 * i);
    return v;
}

static void dma_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct fw_cfg *fw = opaque;
    if (size != 4 || (offset != 0 && offset != 4))
        return;
    uint32_t half = be32toh((uint32_t)value);
    pthread_mutex_lock(&fw->lock);
    if (offset == 0) {
        fw->dma_addr = (uint64_t)half << 32;
    } else {
        uint64_t addr = fw->dma_addr | half;
        fw->dma_addr = 0;
        dma_run(fw, addr);
    }
    pthread_mutex_unlock(&fw->lock);
}

static const struct io_ops fw_cfg_dma_ops = { .read = dma_read, .write = dma_write };

int fw_cfg_attach(struct fw_cfg *fw, struct io_bus *pio)
{
    int r = io_bus_register(pio, FW_CFG_PORT_SEL, 2, &fw_cfg_io_ops, fw);
    if (r == 0 && (r = io_bus_register(pio, FW_CFG_PORT_DMA, 8, &fw_cfg_dma_ops, fw)) < 0)
        io_bus_unregister(pio, FW_CFG_PORT_SEL);
    return r;
}

/* ---- snapshots: the selection and the DMA address half (items are the
 * VM's configuration, rebuilt at start) ---- */

#define FW_CFG_STATE_VERSION 1
struct fw_cfg_state {
    uint32_t version;
    uint16_t key;
    uint8_t selected, pad;
    uint32_t offset;
    uint64_t dma_addr;
};

long fw_cfg_state_save(struct fw_cfg *fw, void *buf, size_t max)
{
    struct fw_cfg_state s = { .version = FW_CFG_STATE_VERSION };
    pthread_mutex_lock(&fw->lock);
    s.selected = fw->cur != NULL;
    s.key = fw->cur ? fw->cur->key : 0;
    s.offset = fw->offset;
    s.dma_addr = fw->dma_addr;
    pthread_mutex_unlock(&fw->lock);
    return state_save_struct(buf, max, &s, sizeof(s));
}

int fw_cfg_state_load(struct fw_cfg *fw, const void *buf, size_t len)
{
    struct fw_cfg_state s;
    if (state_check_size(len, sizeof(s)) < 0)
        return -EINVAL;
    memcpy(&s, buf, sizeof(s));
    if (s.version != FW_CFG_STATE_VERSION || s.selected > 1 || s.pad || (uint32_t)s.dma_addr)
        return -EINVAL;
    pthread_mutex_lock(&fw->lock);
    const struct fw_cfg_entry *e = s.selected ? find(fw, s.key) : NULL;
    if (s.selected && !e) {
        pthread_mutex_unlock(&fw->lock);
        return -EINVAL;              /* an item this VM does not have */
    }
    fw->cur = e;
    fw->offset = s.offset;
    fw->dma_addr = s.dma_addr;
    pthread_mutex_unlock(&fw->lock);
    return 0;
}

static long save_cb(void *opaque, void *buf, size_t max) { return fw_cfg_state_save(opaque, buf, max); }
static int load_cb(void *opaque, const void *buf, size_t len) { return fw_cfg_state_load(opaque, buf, len); }

const struct state_ops fw_cfg_state_ops = { .version = FW_CFG_STATE_VERSION, .save = save_cb, .load = load_cb };
