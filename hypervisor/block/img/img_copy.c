/* domus-img commands that move data: convert, commit, rebase. */
#include "block/block.h"
#include "img.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (2u << 20)

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static void progress(bool on, uint64_t done, uint64_t total)
{
    if (on)
        fprintf(stderr, "\r    (%6.2f/100%%)%s", total ? 100.0 * (double)done / (double)total : 100.0,
                done == total ? "\n" : "");
}

/* Copies @src into the new image @dst; with @compress every cluster that
 * is not all zero is written compressed. */
static int copy_data(struct block *src, struct block *dst, bool compress, bool show)
{
    uint64_t len = block_length(src);
    struct block_info info;
    block_get_info(dst, &info);
    size_t step = compress ? info.cluster_size : CHUNK;     /* CHUNK is a multiple of any cluster size */
    uint8_t *buf = malloc(CHUNK);
    int r = buf ? 0 : -ENOMEM;
    for (uint64_t off = 0; !r && off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
        r = block_pread(src, buf, n, off);
        for (size_t i = 0; !r && i < n; i += step) {     /* a new image reads zero already */
            size_t k = n - i < step ? n - i : step;
            if (!all_zero(buf + i, k))
                r = compress ? block_pwrite_compressed(dst, buf + i, k, off + i) : block_pwrite(dst, buf + i, k, off + i);
        }
        progress(show, off + n, len);
    }
    free(buf);
    return r ? r : block_flush(dst);
}

int img_cmd_convert(int argc, char **argv)
{
    const char *in_fmt = NULL;
    struct block_create_opts co = { .format = BLOCK_FMT_RAW };
    bool show = false, compress = false;
    int c;
    while ((c = getopt(argc, argv, "f:O:o:pc")) != -1) {
        if (c == 'f') {
            in_fmt = optarg;
        } else if (c == 'O' && block_parse_format(optarg, &co.format) == 0 && co.format != BLOCK_FMT_AUTO) {
            continue;
        } else if (c == 'o') {
            int r = img_create_opt(&co, optarg);
            if (r)
                return r;
        } else if (c == 'p') {
            show = true;
        } else if (c == 'c') {
            compress = true;
        } else {
            return img_usage("convert: bad option '%s' (expected -f FMT, -O raw|qcow2, -c, -o OPTIONS, -p)",
                             argv[optind - 1]);
        }
    }
    if (optind != argc - 2)
        return img_usage("convert: expected SOURCE and DEST");
    if (compress && co.format != BLOCK_FMT_QCOW2)
        return img_usage("convert: -c needs -O qcow2");
    show = show && isatty(2);
    struct block *src, *dst;
    int r = img_open(argv[optind], in_fmt, true, false, &src);
    if (r)
        return r;
    co.size = block_length(src);
    char *err = NULL;
    if ((r = block_create(argv[optind + 1], &co, &err)) < 0) {
        block_close(src);
        return img_fail(err, r);
    }
    struct block_open_opts oo = { .format = co.format };
    if ((r = block_open(argv[optind + 1], &oo, &dst, &err)) < 0) {
        block_close(src);
        return img_fail(err, r);
    }
    r = copy_data(src, dst, compress, show);
    block_close(src);
    block_close(dst);
    return r < 0 ? img_fail(NULL, r) : 0;
}

/* The backing file named in @b's header, as a path usable from here. */
static char *backing_path(struct block *b)
{
    struct block_info in;
    block_get_info(b, &in);
    if (!in.backing_file[0])
        return NULL;
    if (in.backing_file[0] == '/')
        return strdup(in.backing_file);
    char *copy = strdup(block_path(b)), *p = NULL;
    if (asprintf(&p, "%s/%s", dirname(copy), in.backing_file) < 0)
        p = NULL;
    free(copy);
    return p;
}

int img_cmd_commit(int argc, char **argv)
{
    bool keep = false;
    int c;
    while ((c = getopt(argc, argv, "d")) != -1) {
        if (c != 'd')
            return img_usage("commit: bad option '%s' (expected -d)", argv[optind - 1]);
        keep = true;
    }
    if (optind != argc - 1)
        return img_usage("commit: expected one FILE");
    const char *path = argv[optind];
    struct block *top, *base;
    /* Emptied afterwards (as qemu-img does) unless -d: then only read. */
    struct block_open_opts to = { .readonly = keep, .no_backing = true };
    char *err = NULL;
    int r = block_open(path, &to, &top, &err);
    if (r < 0)
        return img_fail(err, r);
    char *bp = backing_path(top);
    if (!bp) {
        block_close(top);
        fprintf(stderr, "domus-img: commit: %s has no backing file\n", path);
        return 1;
    }
    struct block_open_opts bo = { 0 };
    r = block_open(bp, &bo, &base, &err);
    free(bp);
    if (r < 0) {
        block_close(top);
        return img_fail(err, r);
    }
    uint64_t len = block_length(top) < block_length(base) ? block_length(top) : block_length(base);
    uint8_t *buf = malloc(CHUNK);
    for (uint64_t off = 0; buf && off < len && !r;) {
        uint64_t n;
        int st = block_status(top, off, len - off < CHUNK ? len - off : CHUNK, &n);
        if (st < 0) {
            r = st;
            break;
        }
        if ((st & BLOCK_STATUS_ALLOCATED) && (st & BLOCK_STATUS_ZERO))
            r = block_write_zeroes(base, off, n, false);
        else if (st & BLOCK_STATUS_ALLOCATED)
            r = block_pread(top, buf, n, off) ? -EIO : block_pwrite(base, buf, n, off);
        off += n;
    }
    if (!buf)
        r = -ENOMEM;
    if (!r)
        r = block_flush(base);       /* durable in the base before the overlay lets go */
    free(buf);
    if (!r && !keep)
        r = block_make_empty(top, &err);
    block_close(top);
    block_close(base);
    if (r < 0)
        return img_fail(err, r);
    printf("Image committed.\n");
    return 0;
}

int img_cmd_rebase(int argc, char **argv)
{
    const char *nb = NULL;
    enum block_format nfmt = BLOCK_FMT_AUTO;
    bool unsafe = false;
    int c;
    while ((c = getopt(argc, argv, "ub:F:")) != -1) {
        if (c == 'u')
            unsafe = true;
        else if (c == 'b')
            nb = optarg;
        else if (c == 'F' && block_parse_format(optarg, &nfmt) == 0)
            continue;
        else
            return img_usage("rebase: bad option '%s' (expected -u, -b BACKING, -F FMT)", argv[optind - 1]);
    }
    if (!nb || optind != argc - 1)
        return img_usage("rebase: expected -b BACKING and one FILE");
    const char *path = argv[optind];
    struct block *top, *newb = NULL;
    struct block_open_opts to = { .no_backing = unsafe };
    char *err = NULL;
    int r = block_open(path, &to, &top, &err);
    if (r < 0)
        return img_fail(err, r);
    if (*nb) {
        char *copy = strdup(path), *full = NULL;
        if (nb[0] == '/')
            full = strdup(nb);
        else if (asprintf(&full, "%s/%s", dirname(copy), nb) < 0)
            full = NULL;
        free(copy);
        struct block_open_opts bo = { .format = nfmt, .readonly = true };
        r = block_open(full, &bo, &newb, &err);
        free(full);
        if (r < 0) {
            block_close(top);
            return img_fail(err, r);
        }
        if (nfmt == BLOCK_FMT_AUTO)
            nfmt = block_get_format(newb);
    }
    /* Safe mode: wherever the image shows its old backing file's data and
     * the new one differs, that data is copied into the image first. */
    uint8_t *a = malloc(CHUNK), *bb = malloc(CHUNK);
    uint64_t len = block_length(top);
    for (uint64_t off = 0; !unsafe && a && bb && off < len && !r;) {
        uint64_t n;
        int st = block_status(top, off, len - off < CHUNK ? len - off : CHUNK, &n);
        if (st < 0) {
            r = st;
            break;
        }
        if (!(st & BLOCK_STATUS_ALLOCATED)) {
            uint64_t have = newb && off < block_length(newb) ? block_length(newb) - off : 0;
            if (have > n)
                have = n;
            memset(bb, 0, n);
            if (!(r = block_pread(top, a, n, off)) && (!have || !(r = block_pread(newb, bb, have, off))) &&
                memcmp(a, bb, n))
                r = block_pwrite(top, a, n, off);
        }
        off += n;
    }
    if (!a || !bb)
        r = -ENOMEM;
    free(a);
    free(bb);
    if (!r)
        r = block_flush(top);
    if (!r)
        r = block_set_backing(top, *nb ? nb : NULL, nfmt, &err);
    block_close(newb);
    block_close(top);
    return r < 0 ? img_fail(err, r) : 0;
}
