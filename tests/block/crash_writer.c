/* Crash-test helper over the block library.
 *   crash_writer init BASE SIZE         raw base whose 4 KiB blocks carry generation 0
 *   crash_writer write IMG STATE SEED   writes stamped blocks forever, recording after
 *                                       each flush which generation every block has
 *   crash_writer verify IMG STATE       after a SIGKILL: every block is intact and at
 *                                       least as new as the last flush said
 * A block of generation g at index i is 4 KiB of a pattern derived from (i, g). */
#include "block/block.h"
#include "stamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int die(const char *what, int r, const char *err)
{
    fprintf(stderr, "crash_writer: %s: %s\n", what, err ? err : strerror(-r));
    return 1;
}

static int save_state(const char *path, const uint32_t *gen, uint32_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fwrite(gen, 4, n, f) != n || fflush(f) || fsync(fileno(f)) || fclose(f))
        return -EIO;
    return rename(tmp, path) ? -errno : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "init")) {
        uint32_t n = (uint32_t)(strtoull(argv[3], NULL, 10) / BLK);
        FILE *f = fopen(argv[2], "w");
        uint8_t buf[BLK];
        for (uint32_t i = 0; f && i < n; i++) {
            stamp(buf, i, 0);
            fwrite(buf, 1, BLK, f);
        }
        return f && !fclose(f) ? 0 : 1;
    }
    if (argc < 4)
        return 2;
    struct block *b;
    char *err = NULL;
    bool verify = !strcmp(argv[1], "verify");
    struct block_open_opts o = { .readonly = verify };
    int r = block_open(argv[2], &o, &b, &err);
    if (r < 0)
        return die(argv[2], r, err);
    uint32_t n = (uint32_t)(block_length(b) / BLK);
    uint32_t *flushed = calloc(n, 4), *gen = calloc(n, 4);
    FILE *sf = fopen(argv[3], "r");
    if (sf) {
        if (fread(flushed, 4, n, sf) != n)
            return die(argv[3], -EIO, "short state file");
        fclose(sf);
    }
    uint8_t *buf = malloc(BLK * 64), *want = malloc(BLK);
    if (verify) {
        unsigned bad = 0;
        for (uint32_t i = 0; i < n; i++) {
            if ((r = block_pread(b, buf, BLK, (uint64_t)i * BLK)) < 0)
                return die("read", r, NULL);
            uint32_t idx, g;
            memcpy(&idx, buf, 4);
            memcpy(&g, buf + 4, 4);
            stamp(want, i, g);
            /* Past the stamped part of a base (enospc.sh) never-written blocks read zero. */
            bool zero = flushed[i] == 0 && buf[0] == 0 && !memcmp(buf, buf + 1, BLK - 1);
            if (!zero && (idx != i || g < flushed[i] || memcmp(buf, want, BLK))) {
                if (bad++ < 5)
                    fprintf(stderr, "block %u: index %u generation %u, flushed generation %u%s\n", i, idx, g,
                            flushed[i], memcmp(buf, want, BLK) ? ", contents torn or foreign" : "");
            }
        }
        block_close(b);
        if (bad)
            fprintf(stderr, "%u of %u blocks lost or corrupt\n", bad, n);
        return bad ? 1 : 0;
    }
    memcpy(gen, flushed, (size_t)n * 4);
    srand((unsigned)strtoul(argv[4 < argc ? 4 : 3], NULL, 10));
    for (unsigned op = 0;; op++) {
        uint32_t i = (uint32_t)rand() % n, k = 1 + (rand() % 4 == 0 ? (uint32_t)rand() % 64 : 0);
        if ((r = stamp_write(b, buf, gen, n, i, k)) < 0)
            return die("write", r, NULL);
        if (op % 16 == 15) {
            if ((r = block_flush(b)) < 0)
                return die("flush", r, NULL);
            if ((r = save_state(argv[3], gen, n)) < 0)
                return die("state", r, NULL);
        }
    }
}
