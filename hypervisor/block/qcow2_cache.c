/* Metadata table cache (L2 tables, refcount blocks): a hash of clusters,
 * written back in bulk by qcow2_flush_metadata() in crash-safe order. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void qcow2_cache_init(struct qcow2_cache *c, size_t table_size, unsigned max)
{
    memset(c, 0, sizeof(*c));
    c->table_size = table_size;
    c->max = max < 4 ? 4 : max;
    c->nbuckets = 1024;
    c->hash = calloc(c->nbuckets, sizeof(*c->hash));
}

static unsigned bucket(const struct qcow2_cache *c, uint64_t offset)
{
    return (unsigned)((offset >> 9) * 0x9e3779b97f4a7c15ULL >> 40) % c->nbuckets;
}

static void free_entry(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
    if (e->dirty)
        c->ndirty--;
    c->n--;
    free(e->table);
    free(e);
}

void qcow2_cache_clear(struct qcow2_cache *c)
{
    for (unsigned i = 0; c->hash && i < c->nbuckets; i++) {
        while (c->hash[i]) {
            struct qcow2_cache_entry *e = c->hash[i];
            c->hash[i] = e->next;
            free_entry(c, e);
        }
    }
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
    qcow2_cache_clear(c);
    free(c->hash);
    c->hash = NULL;
}

static struct qcow2_cache_entry *find(struct qcow2_cache *c, uint64_t offset)
{
    for (struct qcow2_cache_entry *e = c->hash[bucket(c, offset)]; e; e = e->next)
        if (e->offset == offset)
            return e;
    return NULL;
}

uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t offset)
{
    struct qcow2_cache_entry *e = c->hash ? find(c, offset) : NULL;
    if (!e)
        return NULL;
    e->used = ++c->tick;
    return e->table;
}

int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **table)
{
    if (!c->hash)
        return -ENOMEM;
    struct qcow2_cache_entry *e = find(c, offset);
    if (e) {
        if (fresh)
            memset(e->table, 0, c->table_size);
        e->used = ++c->tick;
        *table = e->table;
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->table = malloc(c->table_size))) {
        free(e);
        return -ENOMEM;
    }
    int r = 0;
    if (fresh)
        memset(e->table, 0, c->table_size);
    else
        r = block_file_pread(s->fd, e->table, c->table_size, offset);
    if (r < 0) {
        free(e->table);
        free(e);
        return r;
    }
    e->offset = offset;
    e->used = ++c->tick;
    unsigned h = bucket(c, offset);
    e->next = c->hash[h];
    c->hash[h] = e;
    c->n++;
    *table = e->table;
    return 0;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, uint64_t offset)
{
    struct qcow2_cache_entry *e = find(c, offset);
    if (e && !e->dirty) {
        e->dirty = true;
        c->ndirty++;
    }
}

int qcow2_cache_write_dirty(struct qcow2 *s, struct qcow2_cache *c)
{
    if (!c->ndirty)
        return 0;
    for (unsigned i = 0; i < c->nbuckets; i++) {
        for (struct qcow2_cache_entry *e = c->hash[i]; e; e = e->next) {
            if (!e->dirty)
                continue;
            int r = block_file_pwrite(s->fd, e->table, c->table_size, e->offset);
            if (r < 0)
                return r;
            e->dirty = false;
            c->ndirty--;
        }
    }
    return 0;
}

/* Evicts clean tables, least recently used first, down to the limit. */
void qcow2_cache_trim(struct qcow2_cache *c)
{
    while (c->n > c->max && c->n > c->ndirty) {
        struct qcow2_cache_entry **victim = NULL;
        for (unsigned i = 0; i < c->nbuckets; i++)
            for (struct qcow2_cache_entry **p = &c->hash[i]; *p; p = &(*p)->next)
                if (!(*p)->dirty && (!victim || (*p)->used < (*victim)->used))
                    victim = p;
        if (!victim)
            return;
        struct qcow2_cache_entry *e = *victim;
        *victim = e->next;
        free_entry(c, e);
    }
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t offset)
{
    for (struct qcow2_cache_entry **p = &c->hash[bucket(c, offset)]; *p; p = &(*p)->next) {
        if ((*p)->offset == offset) {
            struct qcow2_cache_entry *e = *p;
            *p = e->next;
            free_entry(c, e);
            return;
        }
    }
}
