/* qcow2 internals (format: QEMU's docs/interop/qcow2.txt).
 *
 * Crash safety rests on one ordering, applied by qcow2_flush_metadata():
 *   data and refcount blocks  -> fdatasync -> refcount table (if grown/new
 *   blocks) -> fdatasync -> L2 tables -> fdatasync -> L1 table -> fdatasync,
 * and frees (refcount decrements) only after the tables that dropped the
 * reference are durable. So on disk a refcount is never below the number
 * of references (at worst clusters leak), and no table points at a cluster
 * whose contents were not written first. Table updates wait in the caches
 * until a flush (guest flush, cache pressure or close). */
#pragma once
#include "block_int.h"
#include <endian.h>
#include <pthread.h>

#define QCOW2_MAGIC             0x514649fbu
#define QCOW2_OFLAG_COPIED      (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED  (1ULL << 62)
#define QCOW2_OFLAG_ZERO        1ULL
#define QCOW2_OFFSET_MASK       0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED      0x7f000000000001feULL
#define QCOW2_L2E_RESERVED      0x3f000000000001feULL
#define QCOW2_REFT_OFFSET_MASK  0xfffffffffffffe00ULL

#define QCOW2_INCOMPAT_DIRTY       (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT     (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2       (1ULL << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

#define QCOW2_EXT_END            0
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE  0x6803f857u

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* Sanity limits for hostile images. */
#define QCOW2_MAX_L1_BYTES       (32ULL << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8ULL << 20)
#define QCOW2_MAX_SNAPSHOTS      65536
#define QCOW2_MAX_SIZE           (1ULL << 56)

/* Header field offsets */
#define QH_BACKING_OFFSET   8
#define QH_BACKING_SIZE     16
#define QH_REFTABLE_OFFSET  48
#define QH_NB_SNAPSHOTS     60
#define QH_INCOMPAT         72
#define QH_AUTOCLEAR        88

/* A cache of metadata tables (L2 tables or refcount blocks), one cluster
 * each, kept big-endian as on disk. Entries are only evicted by
 * qcow2_cache_trim() between operations, so pointers returned by
 * qcow2_cache_get() stay valid until the image lock is released. */
struct qcow2_cache_entry {
    uint64_t offset;
    uint8_t *table;
    bool dirty;
    uint64_t used;                   /* LRU tick */
    struct qcow2_cache_entry *next;  /* hash chain */
};

struct qcow2_cache {
    struct qcow2_cache_entry **hash;
    unsigned nbuckets, n, ndirty, max;
    uint64_t tick;
    size_t table_size;
};

struct qcow2_snapshot {
    uint64_t l1_offset;
    uint32_t l1_size;
    char *id, *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size;
    uint8_t *extra;                  /* extra data beyond what we interpret, kept */
    uint32_t extra_size;
};

struct qcow2 {
    struct block *b;
    int fd;
    pthread_mutex_t lock;            /* all metadata below */
    pthread_cond_t alloc_done;

    uint32_t version, cluster_bits, header_length;
    uint64_t cluster_size, l2_entries;
    uint64_t incompat, compat, autoclear;
    uint8_t compression;
    char *backing_file;
    enum block_format backing_format;

    uint64_t *l1;                    /* host order */
    uint32_t l1_size;
    uint64_t l1_offset;
    uint32_t l1_dirty_lo, l1_dirty_hi;   /* dirty entries [lo, hi) */

    uint64_t *reftable;              /* host order */
    uint64_t reftable_size;          /* entries */
    uint64_t reftable_offset;
    uint32_t reftable_clusters;
    bool reftable_dirty;
    unsigned refcount_order, refcount_bits;
    uint64_t refblock_entries;
    uint64_t refcount_max;

    struct qcow2_snapshot *snaps;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset, snapshots_size;

    struct qcow2_cache l2_cache, rb_cache;
    uint64_t free_hint;              /* no free cluster below this index */

    uint64_t *pending_free;          /* host cluster indices to decrement after the next flush */
    size_t npending, pending_cap;

    uint64_t *inflight;              /* guest clusters being allocated (data write outside the lock) */
    size_t ninflight, inflight_cap;

    /* Where the file ends as far as our metadata goes (the size at open,
     * raised by allocations): a hostile entry beyond it is never written
     * in place, so it cannot blow the file up. */
    uint64_t file_end;

    uint64_t comp_next;              /* compressed writes: next free byte in comp_cluster, 0: none */
    uint64_t comp_cluster;           /* host offset of the cluster being filled */
};

static inline struct qcow2 *qcow2_state(struct block *b) { return b->opaque; }
static inline uint64_t qcow2_size_to_clusters(const struct qcow2 *s, uint64_t n)
{
    return (n + s->cluster_size - 1) >> s->cluster_bits;
}

/* qcow2_cache.c */
void qcow2_cache_init(struct qcow2_cache *c, size_t table_size, unsigned max);
void qcow2_cache_destroy(struct qcow2_cache *c);
/* The table at @offset, read from the file unless @fresh (then zeroed). */
int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **table);
/* The table at @offset if it is cached, else NULL (never reads). */
uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t offset);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, uint64_t offset);
/* Writes every dirty table (no sync). */
int qcow2_cache_write_dirty(struct qcow2 *s, struct qcow2_cache *c);
void qcow2_cache_trim(struct qcow2_cache *c);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t offset);
void qcow2_cache_clear(struct qcow2_cache *c);

/* qcow2_refcount.c (lock held) */
int qcow2_get_refcount(struct qcow2 *s, uint64_t cluster, uint64_t *rc);
/* Adds @delta to the refcount of @n clusters from host offset @offset. */
int qcow2_update_refcount(struct qcow2 *s, uint64_t offset, uint64_t n, int64_t delta);
/* @n contiguous new clusters with refcount 1; returns their host offset or -errno. */
int64_t qcow2_alloc_clusters(struct qcow2 *s, uint64_t n);
/* The clusters are dropped (refcount - 1) once the tables no longer naming them are durable. */
int qcow2_free_later(struct qcow2 *s, uint64_t offset, uint64_t n);
/* Host clusters a compressed L2 entry occupies. */
void qcow2_compressed_range(const struct qcow2 *s, uint64_t l2e, uint64_t *offset, uint64_t *nclusters);
int qcow2_free_l2_entry_later(struct qcow2 *s, uint64_t l2e);
int qcow2_flush_metadata(struct qcow2 *s);
/* Header bytes at @off (a field or a few adjacent ones), synced. */
int qcow2_write_header_field(struct qcow2 *s, uint64_t off, const void *data, size_t len);
int qcow2_write_l1(struct qcow2 *s, uint32_t lo, uint32_t hi);

/* qcow2.c / qcow2_write.c (lock held) */
int qcow2_l2_load(struct qcow2 *s, uint64_t l1e, uint8_t **table);
/* The L2 table for guest cluster @gc, made writable (allocated or copied
 * from a shared one); *idx is the entry's index in it. */
int qcow2_l2_for_write(struct qcow2 *s, uint64_t gc, uint8_t **table, uint64_t *idx);
int qcow2_check_offset(const struct qcow2 *s, uint64_t off, const char *what);

static inline uint64_t qcow2_l2_get(const uint8_t *t, uint64_t i) { return be64toh(((const uint64_t *)t)[i]); }
static inline void qcow2_l2_set(uint8_t *t, uint64_t i, uint64_t v) { ((uint64_t *)t)[i] = htobe64(v); }

/* qcow2_write.c */
int qcow2_pwritev(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
int qcow2_discard(struct block *b, uint64_t off, uint64_t len);
int qcow2_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap);
int qcow2_flush(struct block *b);

/* qcow2_resize.c: the new virtual size in the header (lock held); a bigger
 * L1 table if needed, clusters past a smaller size unmapped. */
int qcow2_resize_locked(struct block *b, uint64_t size);

/* qcow2_compress.c: a compressed cluster's data, inflated into @out (one cluster). */
int qcow2_decompress(struct qcow2 *s, uint64_t l2e, uint8_t *out);

/* qcow2_snapshot.c */
int qcow2_read_snapshots(struct qcow2 *s, char **error);
void qcow2_free_snapshots(struct qcow2 *s);
/* Adds @delta to the refcount of every cluster reachable from an L1 table
 * (its L2 tables and their data); then, for the active table, sets COPIED
 * exactly where the refcount is 1. */
int qcow2_tree_refcount(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size, int delta);
int qcow2_fix_copied_flags(struct qcow2 *s);

/* qcow2_check.c (lock held): the consistency check; @fix is BLOCK_FIX_*. */
int qcow2_check_locked(struct qcow2 *s, unsigned fix, struct block_check_result *res);

/* qcow2_write.c */
void qcow2_wait_inflight(struct qcow2 *s, uint64_t gc, uint64_t n);
/* After each request: metadata to disk under cache pressure, caches trimmed. */
int qcow2_op_done(struct qcow2 *s);
/* An L1 entry changed in memory (written by the next flush). */
void qcow2_l1_set(struct qcow2 *s, uint64_t i, uint64_t v);
/* Guest clusters [gc, gc+n) become unallocated, whatever lies beneath (lock held). */
int qcow2_unmap_clusters(struct block *b, uint64_t gc, uint64_t n);
