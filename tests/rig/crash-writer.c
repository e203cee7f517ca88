/* crash-writer: the guest side of the disk-crash rig case, built static at
 * test time.
 *
 *   crash-writer write DEV ROUND BLOCKS   writes checksummed 4 KiB blocks to
 *       DEV with O_DIRECT, fdatasync after every few, printing "flushed N"
 *       once blocks 0..N-1 of this round are durable; runs until killed
 *   crash-writer base FILE COUNT          writes base blocks 0..COUNT-1
 *
 * Block N of round R lands at block (N * STRIDE + R * SHIFT) mod BLOCKS, a
 * permutation per round that scatters writes over the whole disk (so each
 * round allocates clusters and L2 tables all over the image) and makes later
 * rounds overwrite some of the earlier rounds' blocks. A block holds
 * "DOMUSCRK", round, sequence number and position, pseudo-random filler and a
 * CRC-32 of everything before it; tests/rig/crash-verify.py checks them.
 * Round 0 is the backing file's content (block N at position N). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096
#define STRIDE 40503u
#define SHIFT 7919u
#define BATCH 4

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void fill_block(uint8_t *b, uint32_t round, uint32_t seq, uint64_t pos)
{
    uint64_t x = ((uint64_t)round << 32 | seq) * 0x9e3779b97f4a7c15ull + 1;
    memcpy(b, "DOMUSCRK", 8);
    put32(b + 8, round);
    put32(b + 12, seq);
    put64(b + 16, pos);
    for (int i = 24; i < BLOCK - 4; i += 4) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        put32(b + i, (uint32_t)x);
    }
    put32(b + BLOCK - 4, crc32_ieee(b, BLOCK - 4));
}

static int write_all(int fd, const uint8_t *b, uint64_t pos)
{
    ssize_t n = pwrite(fd, b, BLOCK, (off_t)(pos * BLOCK));
    if (n != BLOCK) {
        perror("crash-writer: pwrite");
        return -1;
    }
    return 0;
}

static int run_writer(const char *dev, uint32_t round, uint64_t blocks)
{
    uint8_t *b;
    int fd = open(dev, O_WRONLY | O_DIRECT);
    if (fd < 0 || posix_memalign((void **)&b, BLOCK, BLOCK)) {
        perror("crash-writer: open");
        return 1;
    }
    char line[64];
    for (uint32_t seq = 0; seq < blocks; seq++) {
        fill_block(b, round, seq, (seq * (uint64_t)STRIDE + round * (uint64_t)SHIFT) % blocks);
        if (write_all(fd, b, (seq * (uint64_t)STRIDE + round * (uint64_t)SHIFT) % blocks))
            return 1;
        if ((seq + 1) % BATCH == 0) {
            if (fdatasync(fd)) {
                perror("crash-writer: fdatasync");
                return 1;
            }
            /* One write(2) per line: the serial console carries it before
             * the next block is written. */
            int len = snprintf(line, sizeof(line), "flushed %u\n", seq + 1);
            if (write(1, line, (size_t)len) != len)
                return 1;
        }
    }
    puts("crash-writer: disk full of this round's blocks");
    return 0;
}

static int write_base(const char *file, uint64_t count)
{
    static uint8_t b[BLOCK];
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
        perror(file);
        return 1;
    }
    for (uint64_t i = 0; i < count; i++) {
        fill_block(b, 0, (uint32_t)i, i);
        if (write_all(fd, b, i))
            return 1;
    }
    return close(fd) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "write"))
        return run_writer(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
    if (argc == 4 && !strcmp(argv[1], "base"))
        return write_base(argv[2], strtoull(argv[3], NULL, 0));
    fprintf(stderr, "usage: crash-writer write DEV ROUND BLOCKS | base FILE COUNT\n");
    return 2;
}
