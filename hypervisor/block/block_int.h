/* Inside the block layer: the format driver interface (one ops struct per
 * format, as devices have) and helpers shared by the drivers. */
#pragma once
#include "block.h"
#include <sys/types.h>

struct block_driver {
    const char *name;
    enum block_format format;
    /* Reads the header and builds b->opaque; sets b->length. */
    int (*open)(struct block *b, char **error);
    void (*close)(struct block *b);
    int (*preadv)(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
    int (*pwritev)(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
    /* Optional: preadv that returns -EAGAIN instead of blocking (see block_preadv_nowait). */
    int (*preadv_nowait)(struct block *b, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
    int (*flush)(struct block *b);
    int (*discard)(struct block *b, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct block *b, uint64_t off, uint64_t len, bool unmap);
    int (*status)(struct block *b, uint64_t off, uint64_t len, uint64_t *pnum);
    void (*info)(struct block *b, struct block_info *info);
    /* Backing file named in the header (NULL: none) and its recorded format. */
    const char *(*backing_name)(struct block *b, enum block_format *fmt);
};

struct block {
    const struct block_driver *drv;
    int fd;
    char *path;
    bool readonly;
    bool defer_repair;               /* block_open_opts.defer_repair */
    uint64_t length;                 /* virtual size */
    struct block *backing;
    void *opaque;                    /* the driver's state */
};

extern const struct block_driver block_raw_driver;
extern const struct block_driver block_qcow2_driver;

int block_err(char **error, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Full-length pread/pwrite, retrying on EINTR and short transfers. A read
 * past the end of the file fills zeroes (images end where their data ends). */
int block_file_pread(int fd, void *buf, size_t len, uint64_t off);
int block_file_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int block_file_preadv(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
int block_file_pwritev(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len);
/* One preadv2(RWF_NOWAIT): 0 when all of it came from the page cache, else -EAGAIN. */
int block_file_preadv_nowait(int fd, const struct iovec *iov, int niov, uint64_t off, uint64_t len);

/* Room for @want elements of @elem bytes in the array *(void **)@pp whose
 * capacity is *@cap (grown by doubling). 0 or -ENOMEM. */
int block_reserve(void *pp, size_t *cap, size_t want, size_t elem);

/* iovec helpers: the part [skip, skip+len) of an iovec array as a new
 * malloc'ed array (freed by the caller), and copies to/from buffers. */
struct iovec *block_iov_slice(const struct iovec *iov, int niov, uint64_t skip, uint64_t len, int *out_n);
void block_iov_memset(const struct iovec *iov, int niov, uint64_t skip, int c, uint64_t len);
void block_iov_to_buf(const struct iovec *iov, int niov, uint64_t skip, void *buf, uint64_t len);
void block_iov_from_buf(const struct iovec *iov, int niov, uint64_t skip, const void *buf, uint64_t len);

/* Reads [off, off+len) of @b's backing file (zeroes where there is none or past its end). */
int block_read_backing(struct block *b, const struct iovec *iov, int niov, uint64_t skip,
                       uint64_t off, uint64_t len);
int block_read_backing_nowait(struct block *b, const struct iovec *iov, int niov, uint64_t skip,
                              uint64_t off, uint64_t len);
