/* The block library against the real qemu-img: images either one makes
 * are read and written by the other, `qemu-img check` stays clean and
 * `qemu-img compare` agrees with a raw mirror of everything written. */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static char *path(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

/* Runs a shell command in the test folder; returns its exit status. */
static int sh(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *full = g_strdup_printf("cd '%s' && %s", dir, cmd);
    char *argv[] = { "/bin/bash", "-c", full, NULL };
    int status = -1;
    g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (code)
        g_test_message("'%s' exited %d", cmd, code);
    g_free(cmd);
    g_free(full);
    return code;
}

static void assert_qemu_clean(const char *img)
{
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
}

static struct block *open_rw(const char *name)
{
    struct block *b = NULL;
    char *p = path(name), *err = NULL;
    int r = block_open(p, NULL, &b, &err);
    if (r < 0)
        g_error("open %s: %s", name, err);
    g_free(p);
    return b;
}

/* A raw file mirroring what the image should read as. */
struct mirror {
    int fd;
    uint64_t size;
};

static struct mirror mirror_from(const char *raw_src, const char *name, uint64_t size)
{
    if (raw_src)
        g_assert_cmpint(sh("qemu-img convert -O raw '%s' '%s'", raw_src, name), ==, 0);
    else
        g_assert_cmpint(sh("truncate -s %llu '%s'", (unsigned long long)size, name), ==, 0);
    char *p = path(name);
    struct mirror m = { open(p, O_RDWR), size };
    g_assert_cmpint(m.fd, >=, 0);
    g_free(p);
    return m;
}

/* Random writes, zeroes and discards on both; reads compared on the way. */
static void scribble(struct block *b, struct mirror *m, unsigned ops, uint32_t seed, bool discards)
{
    GRand *rnd = g_rand_new_with_seed(seed);
    uint8_t *buf = g_malloc(1 << 20), *chk = g_malloc(1 << 20);
    for (unsigned i = 0; i < ops; i++) {
        uint64_t len = g_rand_int_range(rnd, 0, 4) == 0 ? g_rand_int_range(rnd, 1, 1 << 20)
                                                        : g_rand_int_range(rnd, 1, 9) * 512;
        uint64_t off = (uint64_t)g_rand_double_range(rnd, 0, (double)(m->size - len));
        if (g_rand_boolean(rnd))
            off &= ~511ULL;
        int op = g_rand_int_range(rnd, 0, 10);
        if (op < 6) {
            for (uint64_t j = 0; j < len; j++)
                buf[j] = (uint8_t)g_rand_int(rnd);
            g_assert_cmpint(block_pwrite(b, buf, len, off), ==, 0);
            g_assert_cmpint(pwrite(m->fd, buf, len, (off_t)off), ==, (ssize_t)len);
        } else if (op < 8 || !discards) {
            g_assert_cmpint(block_write_zeroes(b, off, len, g_rand_boolean(rnd)), ==, 0);
            memset(buf, 0, len);
            g_assert_cmpint(pwrite(m->fd, buf, len, (off_t)off), ==, (ssize_t)len);
        } else if (op == 8) {
            g_assert_cmpint(block_flush(b), ==, 0);
        }
        /* Read back a random range and compare. */
        len = g_rand_int_range(rnd, 1, 1 << 20);
        off = (uint64_t)g_rand_double_range(rnd, 0, (double)(m->size - len));
        g_assert_cmpint(block_pread(b, buf, len, off), ==, 0);
        g_assert_cmpint(pread(m->fd, chk, len, (off_t)off), ==, (ssize_t)len);
        if (memcmp(buf, chk, len))
            g_error("op %u: read at %llu+%llu differs from the mirror", i, (unsigned long long)off,
                    (unsigned long long)len);
    }
    g_free(buf);
    g_free(chk);
    g_rand_free(rnd);
}

static void test_create_checks_clean(void)
{
    static const char *variants[] = { "", "-o cluster_size=512,refcount_bits=1", "-o compat=0.10",
                                       "-o cluster_size=2M,refcount_bits=64", "-o compression_type=zstd" };
    for (unsigned i = 0; i < G_N_ELEMENTS(variants); i++) {
        g_assert_cmpint(sh("'%s' create -f qcow2 %s v%u.qcow2 3G", getenv("DOMUS_IMG"), variants[i], i), ==, 0);
        char *n = g_strdup_printf("v%u.qcow2", i);
        assert_qemu_clean(n);
        g_assert_cmpint(sh("qemu-img info v%u.qcow2 | grep -q 'virtual size: 3 GiB'", i), ==, 0);
        g_free(n);
    }
}

/* Our image written at random, small clusters so that refcount blocks
 * and the refcount table must grow. */
static void test_write_small_clusters(void)
{
    g_assert_cmpint(sh("'%s' create -f qcow2 -o cluster_size=512,refcount_bits=1 small.qcow2 64M", getenv("DOMUS_IMG")), ==, 0);
    struct mirror m = mirror_from(NULL, "small.raw", 64 << 20);
    struct block *b = open_rw("small.qcow2");
    scribble(b, &m, 400, 1, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("small.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q small.qcow2 small.raw"), ==, 0);
}

/* qemu-img's overlay over a raw base with data: our writes copy-on-write. */
static void test_raw_backing(void)
{
    g_assert_cmpint(sh("head -c 48M /dev/urandom > base.raw && truncate -s 64M base.raw && sha256sum base.raw > base.sum"), ==, 0);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 80M"), ==, 0);
    struct mirror m = mirror_from("top.qcow2", "top.mirror", 80 << 20);
    struct block *b = open_rw("top.qcow2");
    scribble(b, &m, 300, 2, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("top.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q top.qcow2 top.mirror"), ==, 0);
    g_assert_cmpint(sh("sha256sum -c --quiet base.sum"), ==, 0);   /* the base is untouched */
}

/* A chain of three qcow2 images with relative names, made by qemu-img, v2 on top. */
static void test_qcow2_chain(void)
{
    g_assert_cmpint(sh("mkdir -p sub && qemu-img create -q -f qcow2 sub/c0.qcow2 32M && "
                       "qemu-io -c 'write -P 0x11 0 8M' sub/c0.qcow2 >/dev/null && "
                       "qemu-img create -q -f qcow2 -b c0.qcow2 -F qcow2 sub/c1.qcow2 && "
                       "qemu-io -c 'write -P 0x22 4M 8M' sub/c1.qcow2 >/dev/null && "
                       "qemu-img create -q -f qcow2 -o compat=0.10 -b sub/c1.qcow2 -F qcow2 c2.qcow2 && "
                       "qemu-io -c 'write -P 0x33 10M 1M' -c 'write -z 5M 64k' c2.qcow2 >/dev/null"), ==, 0);
    struct mirror m = mirror_from("c2.qcow2", "c2.mirror", 32 << 20);
    struct block *b = open_rw("c2.qcow2");
    uint8_t x;
    g_assert_cmpint(block_pread(b, &x, 1, 1 << 20), ==, 0);
    g_assert_cmpint(x, ==, 0x11);
    g_assert_cmpint(block_pread(b, &x, 1, 6 << 20), ==, 0);
    g_assert_cmpint(x, ==, 0x22);
    g_assert_cmpint(block_pread(b, &x, 1, 5 << 20), ==, 0);
    g_assert_cmpint(x, ==, 0);
    scribble(b, &m, 200, 3, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("c2.qcow2");
    assert_qemu_clean("sub/c1.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q c2.qcow2 c2.mirror"), ==, 0);
}

static void test_compressed(gconstpointer type)
{
    g_assert_cmpint(sh("(head -c 8M /dev/urandom; yes domus | head -c 8M) > comp.raw && "
                       "qemu-img convert -c -O qcow2 -o compression_type=%s comp.raw comp.qcow2",
                       (const char *)type), ==, 0);
    g_assert_cmpint(sh("qemu-img map --output=json comp.qcow2 | grep -q '\"compressed\": true' || "
                       "qemu-img check comp.qcow2 | grep -q compressed"), ==, 0);
    struct mirror m = mirror_from("comp.raw", "comp.mirror", 16 << 20);
    struct block *b = open_rw("comp.qcow2");
    uint8_t *all = g_malloc(16 << 20), *want = g_malloc(16 << 20);
    g_assert_cmpint(block_pread(b, all, 16 << 20, 0), ==, 0);
    g_assert_cmpint(pread(m.fd, want, 16 << 20, 0), ==, 16 << 20);
    g_assert_true(memcmp(all, want, 16 << 20) == 0);
    g_free(all);
    g_free(want);
    scribble(b, &m, 150, 4, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("comp.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q comp.qcow2 comp.mirror"), ==, 0);
}

/* domus-img convert -c: qemu-img check accepts the image, qemu-img map
 * sees compressed clusters, compare matches; then writes land over the
 * compressed clusters (copy-on-write of the inflated data) and still match. */
static void test_convert_compressed(gconstpointer opts)
{
    const char *img = getenv("DOMUS_IMG");
    g_assert_cmpint(sh("(head -c 4M /dev/urandom; yes domus | head -c 8M; head -c 2M /dev/zero; "
                       "seq 1 400000 | head -c 2M) > cc.raw && truncate -s 16781824 cc.raw && "
                       "'%s' convert -c -O qcow2 %s cc.raw cc.qcow2", img, (const char *)opts), ==, 0);
    assert_qemu_clean("cc.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q cc.raw cc.qcow2"), ==, 0);
    g_assert_cmpint(sh("qemu-img check cc.qcow2 | grep -q '[1-9][0-9.]*%% compressed clusters'"), ==, 0);
    g_assert_cmpint(sh("test $(stat -c %%s cc.qcow2) -lt $((8 << 20))"), ==, 0);   /* 10 MiB of text shrank */
    if (strstr(opts, "zstd"))
        g_assert_cmpint(sh("qemu-img info cc.qcow2 | grep -q 'compression type: zstd'"), ==, 0);
    struct mirror m = mirror_from("cc.raw", "cc.mirror", 16781824);
    struct block *b = open_rw("cc.qcow2");
    scribble(b, &m, 150, 6, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("cc.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q cc.qcow2 cc.mirror"), ==, 0);
    g_assert_cmpint(sh("'%s' convert -c -O raw cc.raw cc2.raw 2>err; test $? = 2 && test $(wc -l <err) = 1", img), ==, 0);
}

/* block_preadv_nowait(): what it serves equals block_pread(); it refuses
 * (-EAGAIN) an L2 table it has not loaded and a compressed cluster. */
static void test_read_nowait(void)
{
    g_assert_cmpint(sh("head -c 4M /dev/urandom > nw.raw && truncate -s 16M nw.raw && "
                       "qemu-img create -q -f qcow2 -b nw.raw -F raw nw.qcow2 && "
                       "qemu-io -c 'write -P 0x44 2M 1M' -c 'write -z 6M 64k' nw.qcow2 >/dev/null && "
                       "yes domus | head -c 1M > nwc.raw && qemu-img convert -c -O qcow2 nwc.raw nwc.qcow2"), ==, 0);
    struct block *b = open_rw("nw.qcow2");
    uint8_t want[8192], got[8192];
    struct iovec v[2] = { { got, 3000 }, { got + 3000, 5192 } };
    g_assert_cmpint(block_preadv_nowait(b, v, 2, 2 << 20), ==, -EAGAIN);   /* L2 not loaded yet */
    uint8_t *all = g_malloc(16 << 20);
    g_assert_cmpint(block_pread(b, all, 16 << 20, 0), ==, 0);              /* loads it, fills the page cache */
    g_free(all);
    static const uint64_t offs[] = { 0, 4095, (2 << 20) - 4096, 3 << 20, (4 << 20) - 100, 6 << 20, (16 << 20) - 8192 };
    for (unsigned i = 0; i < G_N_ELEMENTS(offs); i++) {
        g_assert_cmpint(block_pread(b, want, sizeof(want), offs[i]), ==, 0);
        memset(got, 0x5a, sizeof(got));
        g_assert_cmpint(block_preadv_nowait(b, v, 2, offs[i]), ==, 0);
        g_assert_true(memcmp(got, want, sizeof(got)) == 0);
    }
    g_assert_cmpint(block_preadv_nowait(b, v, 2, 16 << 20), ==, -EINVAL);  /* past the end */
    block_close(b);
    b = open_rw("nwc.qcow2");
    g_assert_cmpint(block_pread(b, want, sizeof(want), 0), ==, 0);
    g_assert_cmpint(block_preadv_nowait(b, v, 2, 0), ==, -EAGAIN);         /* compressed: a worker's job */
    block_close(b);
}

/* Snapshots both ways: ours listed and applied by qemu-img, qemu-img's by us. */
static void test_snapshots(void)
{
    const char *img = getenv("DOMUS_IMG");
    g_assert_cmpint(sh("'%s' create -f qcow2 snap.qcow2 16M && qemu-io -c 'write -P 0xaa 0 4M' snap.qcow2 >/dev/null && "
                       "qemu-img convert -O raw snap.qcow2 snap-a.raw", img), ==, 0);
    struct block *b = open_rw("snap.qcow2");
    char *err = NULL;
    g_assert_cmpint(block_snapshot_create(b, "first", &err), ==, 0);
    struct mirror m = mirror_from("snap-a.raw", "snap.mirror", 16 << 20);
    scribble(b, &m, 100, 5, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("snap.qcow2");
    g_assert_cmpint(sh("qemu-img snapshot -l snap.qcow2 | grep -q first"), ==, 0);
    g_assert_cmpint(sh("qemu-img compare -q snap.qcow2 snap.mirror"), ==, 0);
    /* qemu-img goes back to ours and takes its own; we apply theirs. */
    g_assert_cmpint(sh("cp snap.qcow2 snap2.qcow2 && qemu-img snapshot -a first snap2.qcow2 && "
                       "qemu-img compare -q snap2.qcow2 snap-a.raw"), ==, 0);
    g_assert_cmpint(sh("qemu-img snapshot -c theirs snap.qcow2 && qemu-io -c 'write -P 0x55 1M 3M' snap.qcow2 >/dev/null"), ==, 0);
    b = open_rw("snap.qcow2");
    struct block_snapshot *list;
    unsigned n;
    g_assert_cmpint(block_snapshot_list(b, &list, &n), ==, 0);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpstr(list[1].name, ==, "theirs");
    free(list);
    g_assert_cmpint(block_snapshot_apply(b, "theirs", &err), ==, 0);
    g_assert_cmpint(block_snapshot_delete(b, "first", &err), ==, 0);
    g_assert_cmpint(block_snapshot_create(b, "again", &err), ==, 0);
    g_assert_cmpint(block_snapshot_apply(b, "nope", &err), ==, -ENOENT);
    g_assert_nonnull(strstr(err, "no such snapshot"));
    free(err);
    block_close(b);
    assert_qemu_clean("snap.qcow2");
    g_assert_cmpint(sh("qemu-img compare -q snap.qcow2 snap.mirror"), ==, 0);
    g_assert_cmpint(sh("qemu-img snapshot -l snap.qcow2 | grep -c -E 'theirs|again' | grep -q 2"), ==, 0);
}

/* Hostile images are refused with a reason, never a crash. */
static void expect_refused(const char *name, const char *why)
{
    struct block *b;
    char *p = path(name), *err = NULL;
    int r = block_open(p, NULL, &b, &err);
    if (r == 0)
        block_close(b);
    g_assert_cmpint(r, <, 0);
    g_assert_nonnull(err);
    if (!strstr(err, why))
        g_error("%s: got '%s', wanted '%s'", name, err, why);
    free(err);
    g_free(p);
}

static void poke(const char *name, long off, const char *hex)
{
    g_assert_cmpint(sh("printf '%s' | dd of=%s bs=1 seek=%ld conv=notrunc status=none", hex, name, off), ==, 0);
}

static void test_malformed(void)
{
    const char *img = getenv("DOMUS_IMG");
    g_assert_cmpint(sh("'%s' create -f qcow2 good.qcow2 1G", img), ==, 0);
    /* One field each; the last ones would make a check or a write run away with the file. */
    static const struct { const char *name; long off; const char *bytes, *why; } bad[] = {
        { "bits", 20, "\\x00\\x00\\x00\\x1f", "invalid cluster size" },
        { "size", 24, "\\x7f\\xff\\xff\\xff\\xff\\xff\\xff\\xff", "absurd" },
        { "overlap", 48, "\\x00\\x00\\x00\\x00\\x00\\x03\\x00\\x00", "overlap" },   /* reftable onto L1 */
        { "l1", 36, "\\x10\\x00\\x00\\x00", "L1 table" },
        { "ver", 4, "\\x00\\x00\\x00\\x07", "version 7" },
        { "enc", 32, "\\x00\\x00\\x00\\x01", "encrypted" },
        { "l1eof", 0x30000, "\\x80\\x00\\x00\\x01\\x00\\x00\\x00\\x00", "L1 entry 0 points past the end of the file" },
        { "rbdup", 0x10008, "\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x00", "two refcount table entries name the block at 0x20000" },
        { "rbeof", 0x10008, "\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00", "refcount block 1 lies past the end of the file" },
        { "snaps", 60, "\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x03\\x00\\x00",
          "snapshot table runs past the end of the file" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *name = g_strdup_printf("%s.qcow2", bad[i].name);
        g_assert_cmpint(sh("cp good.qcow2 %s", name), ==, 0);
        poke(name, bad[i].off, bad[i].bytes);
        expect_refused(name, bad[i].why);
        g_free(name);
    }
    /* A backing chain that loops: a -> b -> a. */
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 loop-a.qcow2 1M && qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 loop-b.qcow2 && "
                       "qemu-img rebase -u -b loop-b.qcow2 -F qcow2 loop-a.qcow2"), ==, 0);
    expect_refused("loop-b.qcow2", "loops");
    g_assert_cmpint(sh("truncate -s 100 short.qcow2 && printf 'QFI\\xfb' | dd of=short.qcow2 conv=notrunc status=none"), ==, 0);
    expect_refused("short.qcow2", "");
}

/* A second writer is refused with a clear message; readers share. */
static void test_locking(void)
{
    g_assert_cmpint(sh("'%s' create -f qcow2 lock.qcow2 1M", getenv("DOMUS_IMG")), ==, 0);
    struct block *b = open_rw("lock.qcow2"), *b2;
    char *p = path("lock.qcow2"), *err = NULL;
    g_assert_cmpint(block_open(p, NULL, &b2, &err), ==, -EBUSY);
    g_assert_nonnull(strstr(err, "in use by another process"));
    free(err);
    block_close(b);
    struct block_open_opts ro = { .readonly = true };
    g_assert_cmpint(block_open(p, &ro, &b, NULL), ==, 0);
    g_assert_cmpint(block_open(p, &ro, &b2, NULL), ==, 0);
    block_close(b);
    block_close(b2);
    g_free(p);
}

/* block_grow: qemu-img's image grows past its L1 table's first entry, the
 * data before and after stay as a mirror says, qemu-img check is clean;
 * a full L1 table moves; shrinking and an image with snapshots are refused. */
static void test_grow(void)
{
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 grow.qcow2 64M"), ==, 0);
    struct mirror m = mirror_from(NULL, "grow.raw", 64 << 20);
    struct block *b = open_rw("grow.qcow2");
    scribble(b, &m, 100, 7, false);
    char *err = NULL;
    g_assert_cmpint(block_grow(b, 32 << 20, &err), ==, -EINVAL);
    free(err);
    g_assert_cmpint(block_grow(b, 3ULL << 30, NULL), ==, 0);
    g_assert_cmpuint(block_length(b), ==, 3ULL << 30);
    g_assert_cmpint(ftruncate(m.fd, 3LL << 30), ==, 0);
    m.size = 3ULL << 30;
    scribble(b, &m, 100, 8, true);
    block_close(b);
    close(m.fd);
    assert_qemu_clean("grow.qcow2");
    g_assert_cmpint(sh("qemu-img info grow.qcow2 | grep -q 'virtual size: 3 GiB' && qemu-img compare -q grow.qcow2 grow.raw"), ==, 0);

    /* 512-byte clusters: 64M needs 2048 L1 entries, exactly 32 clusters; the table moves to grow. */
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=512 tight.qcow2 64M && "
                       "qemu-io -c 'write -P 0x3c 63M 1M' tight.qcow2 >/dev/null"), ==, 0);
    b = open_rw("tight.qcow2");
    g_assert_cmpint(block_grow(b, 65 << 20, NULL), ==, 0);
    block_close(b);
    assert_qemu_clean("tight.qcow2");
    g_assert_cmpint(sh("qemu-io -c 'read -P 0x3c 63M 1M' -c 'read -P 0 64M 1M' tight.qcow2 | grep -c '^read 1048576' | grep -qx 2"), ==, 0);

    g_assert_cmpint(sh("qemu-img create -q -f qcow2 snap.qcow2 64M && qemu-img snapshot -c s1 snap.qcow2"), ==, 0);
    b = open_rw("snap.qcow2");
    g_assert_cmpint(block_grow(b, 128 << 20, &err), ==, -ENOTSUP);
    free(err);
    block_close(b);

    g_assert_cmpint(sh("head -c 1M /dev/urandom > g.raw && cp g.raw g.orig"), ==, 0);
    b = open_rw("g.raw");
    g_assert_cmpint(block_grow(b, 5 << 20, NULL), ==, 0);
    block_close(b);
    g_assert_cmpint(sh("[ $(stat -c %%s g.raw) = 5242880 ] && cmp -n 1048576 g.raw g.orig && "
                       "[ -z \"$(tail -c 4M g.raw | tr -d '\\0')\" ]"), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_find_program_in_path("qemu-img") || !g_find_program_in_path("qemu-io")) {
        g_print("1..0 # SKIP qemu-img/qemu-io not installed (apt install qemu-utils)\n");
        return 77;
    }
    dir = g_dir_make_tmp("domus-qcow2-XXXXXX", NULL);
    g_test_add_func("/qcow2/create-checks-clean", test_create_checks_clean);
    g_test_add_func("/qcow2/write-small-clusters", test_write_small_clusters);
    g_test_add_func("/qcow2/raw-backing", test_raw_backing);
    g_test_add_func("/qcow2/qcow2-chain", test_qcow2_chain);
    g_test_add_data_func("/qcow2/compressed-zlib", "zlib", test_compressed);
    g_test_add_data_func("/qcow2/compressed-zstd", "zstd", test_compressed);
    g_test_add_data_func("/qcow2/convert-compressed-zlib", "", test_convert_compressed);
    g_test_add_data_func("/qcow2/convert-compressed-zstd-4k", "-o compression_type=zstd,cluster_size=4k",
                         test_convert_compressed);
    g_test_add_func("/qcow2/snapshots", test_snapshots);
    g_test_add_func("/qcow2/read-nowait", test_read_nowait);
    g_test_add_func("/qcow2/malformed", test_malformed);
    g_test_add_func("/qcow2/locking", test_locking);
    g_test_add_func("/qcow2/grow", test_grow);
    int r = g_test_run();
    sh("rm -rf '%s'", dir);
    return r;
}
