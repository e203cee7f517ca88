/* Rebuilds an image as a disk could hold it after losing power, from the
 * image as it was before the run and powerloss_shim's log of the run:
 *   powerloss_replay IMAGE LOG SEED
 * Everything up to the log's last sync is applied; of what came after, each
 * 4 KiB page of a write (and each punch, zeroing or truncate) is applied or
 * lost at random, in log order: the page cache may have written back any
 * part of it. A record cut short by the kill ends the log. Prints what it
 * kept. */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096

struct rec {
    char type;
    uint64_t off, len;
} __attribute__((packed));

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: powerloss_replay IMAGE LOG SEED\n");
        return 2;
    }
    int fd = open(argv[1], O_RDWR);
    FILE *log = fopen(argv[2], "r");
    if (fd < 0 || !log) {
        perror("powerloss_replay");
        return 1;
    }
    srand((unsigned)strtoul(argv[3], NULL, 10));
    /* First pass: where the last sync is. */
    struct rec h;
    long last_sync = -1, i = 0;
    while (fread(&h, sizeof(h), 1, log) == 1) {
        if (h.type == 'S')
            last_sync = i;
        if (h.type == 'W' && fseek(log, (long)h.len, SEEK_CUR) < 0)
            break;
        i++;
    }
    rewind(log);
    uint8_t *buf = NULL;
    size_t cap = 0;
    unsigned long kept = 0, lost = 0;
    for (i = 0; fread(&h, sizeof(h), 1, log) == 1; i++) {
        bool durable = i <= last_sync;
        if (h.type == 'W') {
            if (h.len > cap && !(buf = realloc(buf, cap = h.len)))
                return 1;
            if (fread(buf, 1, h.len, log) != h.len)
                break;                       /* cut short by the kill */
            for (uint64_t p = 0; p < h.len;) {    /* page by page */
                uint64_t n = PAGE - (h.off + p) % PAGE;
                if (n > h.len - p)
                    n = h.len - p;
                if (durable || rand() % 2) {
                    if (pwrite(fd, buf + p, n, (off_t)(h.off + p)) != (ssize_t)n)
                        return 1;
                    kept += !durable;
                } else {
                    lost++;
                }
                p += n;
            }
        } else if (h.type != 'S' && (durable || rand() % 2)) {
            int r = h.type == 'T' ? ftruncate(fd, (off_t)h.len)
                  : fallocate(fd, (h.type == 'P' ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE,
                              (off_t)h.off, (off_t)h.len);
            if (r < 0)
                return 1;
            kept += !durable;
        } else if (h.type != 'S') {
            lost++;
        }
    }
    printf("%ld records, last sync at %ld; after it %lu pieces kept, %lu lost\n", i, last_sync, kept, lost);
    free(buf);
    return fsync(fd) < 0 || close(fd) < 0;
}
