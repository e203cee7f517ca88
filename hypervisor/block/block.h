/* Disk images: raw and qcow2 (v2 read/write, v3 read/write) with backing
 * chains, internal snapshots and crash-safe metadata updates.
 *
 * This is the library both domus-vmm (through virtio-blk) and the toolstack
 * use; domus-img is a thin command line over it. Errors are negative errno;
 * functions that can fail for a reason worth telling the user also fill
 * *error (if non-NULL) with a malloc'ed one-line message.
 *
 * Thread safety: one struct block may be used from several threads at once
 * (reads, writes, flushes, discards). Each image has its own metadata lock,
 * held while tables are looked up or updated; guest data is read and written
 * without it. Snapshot, check and rebase operations want no I/O in flight. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum block_format { BLOCK_FMT_AUTO = 0, BLOCK_FMT_RAW, BLOCK_FMT_QCOW2 };

struct block;

struct block_open_opts {
    enum block_format format;        /* AUTO: probe the header */
    bool readonly;
    bool no_lock;                    /* skip the OFD lock (domus-img info -U style) */
    bool no_backing;                 /* open the top image alone */
    /* A writable qcow2 image left dirty (lazy refcounts) or marked corrupt
     * is opened as it is, for block_check_fix() to repair; without this a
     * dirty image is repaired while it is opened and a corrupt one refused. */
    bool defer_repair;
};

int block_open(const char *path, const struct block_open_opts *opts, struct block **out, char **error);
/* Flushes (if writable) and closes the whole chain. */
void block_close(struct block *b);

uint64_t block_length(const struct block *b);  /* virtual size in bytes */
bool block_readonly(const struct block *b);
const char *block_path(const struct block *b);
struct block *block_backing(const struct block *b);
enum block_format block_get_format(const struct block *b);
const char *block_format_name(enum block_format f);
int block_parse_format(const char *name, enum block_format *out);

/* Data. Offsets and lengths are in bytes; any alignment is accepted (the
 * format driver does read-modify-write where it must). A range past the end
 * is -EINVAL. Returns 0 or -errno (-ENOSPC, -EIO…). */
int block_preadv(struct block *b, const struct iovec *iov, int niov, uint64_t off);
int block_pwritev(struct block *b, const struct iovec *iov, int niov, uint64_t off);
int block_pread(struct block *b, void *buf, size_t len, uint64_t off);
int block_pwrite(struct block *b, const void *buf, size_t len, uint64_t off);
/* block_preadv() that never waits: -EAGAIN when it would (data not in the
 * host page cache, metadata not in the image's caches, a compressed
 * cluster, the image lock busy). Lets the event loop serve cached reads
 * itself instead of waking a worker. The iovecs may be scribbled on then. */
int block_preadv_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t off);
/* One whole cluster (the last may end with the disk) written compressed,
 * qcow2 only (-ENOTSUP otherwise); stored plainly if it does not shrink.
 * @off is cluster aligned: see block_info.cluster_size. */
int block_pwrite_compressed(struct block *b, const void *buf, size_t len, uint64_t off);
/* Makes every completed write durable (metadata in crash-safe order, then fdatasync). */
int block_flush(struct block *b);
/* A hint: the range may read back as anything afterwards (zeroes if it can). */
int block_discard(struct block *b, uint64_t off, uint64_t len);
/* The range reads back as zeroes; @unmap lets the space go back to the host. */
int block_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap);

/* Where the bytes at @off come from (for convert/commit/rebase): flags for
 * the run [off, off + *pnum) with *pnum <= len. */
#define BLOCK_STATUS_ALLOCATED 1     /* this image decides (not the backing file) */
#define BLOCK_STATUS_ZERO      2     /* reads as zeroes */
int block_status(struct block *b, uint64_t off, uint64_t len, uint64_t *pnum);

struct block_info {
    enum block_format format;
    uint64_t virtual_size;
    uint64_t disk_size;              /* bytes the file occupies on the host */
    uint32_t cluster_size;           /* qcow2 */
    int version;                     /* qcow2: 2 or 3 */
    unsigned refcount_bits;
    bool lazy_refcounts, corrupt;
    const char *compression;         /* "zlib" / "zstd" */
    char backing_file[1024];         /* as stored in the image */
    char backing_format[16];
    unsigned nsnapshots;
};
int block_get_info(struct block *b, struct block_info *info);

/* Creation. */
struct block_create_opts {
    enum block_format format;        /* RAW or QCOW2 */
    uint64_t size;                   /* 0 with a backing file: its size */
    const char *backing_file;        /* stored as given (relative to the image's folder) */
    enum block_format backing_format;/* AUTO: probed at creation, and recorded */
    uint32_t cluster_size;           /* 0: 64 KiB */
    unsigned refcount_bits;          /* 0: 16 */
    int version;                     /* 0: 3 */
    bool zstd;                       /* compression type recorded in the header */
};
int block_create(const char *path, const struct block_create_opts *opts, char **error);

/* Internal snapshots (qcow2). */
struct block_snapshot {
    char id[32];
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t disk_size;
};
/* *list is malloc'ed; free() it. */
int block_snapshot_list(struct block *b, struct block_snapshot **list, unsigned *n);
int block_snapshot_create(struct block *b, const char *name, char **error);
/* @name matches a name, else an ID. */
int block_snapshot_apply(struct block *b, const char *name, char **error);
int block_snapshot_delete(struct block *b, const char *name, char **error);

/* Consistency check of the top image's metadata. The work is bounded by
 * the file's size and its tables, whatever the header claims. */
struct block_check_result {
    uint64_t leaks, corruptions;
    uint64_t leaks_fixed, corruptions_fixed;
    uint64_t allocated_clusters, total_clusters;
    char first_error[256];
    bool was_dirty;                  /* left open with lazy refcounts (flag cleared by a full repair) */
};
/* What a repair may change, as qemu-img check -r leaks / -r all. */
#define BLOCK_FIX_LEAKS  1u          /* refcounts above the references */
#define BLOCK_FIX_ERRORS 2u          /* refcounts below them, stale COPIED flags, dirty/corrupt flags */
#define BLOCK_FIX_ALL    (BLOCK_FIX_LEAKS | BLOCK_FIX_ERRORS)
int block_check_fix(struct block *b, unsigned fix, struct block_check_result *res, char **error);
/* block_check_fix() with nothing (@repair false) or everything to fix. */
int block_check(struct block *b, bool repair, struct block_check_result *res, char **error);

/* New virtual size. Shrinking (which drops the data past the new end) must
 * be asked for with @shrink. A qcow2 overlay's new part reads as zeroes even
 * where its backing file has data. */
int block_resize(struct block *b, uint64_t size, bool shrink, char **error);
/* Every cluster of a qcow2 image unallocated: it reads as its backing file
 * (commit's last step). Snapshots keep theirs. */
int block_make_empty(struct block *b, char **error);

/* Rewrites the backing file name/format in the header (no data is moved:
 * this is "rebase -u"; the safe rebase is built on it by the caller). */
int block_set_backing(struct block *b, const char *backing_file, enum block_format fmt, char **error);

/* Grows the virtual size (never shrinks); the new part reads as zeroes.
 * qcow2 images with snapshots are refused. */
int block_grow(struct block *b, uint64_t size, char **error);
