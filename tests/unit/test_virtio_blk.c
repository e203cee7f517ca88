/* virtio-blk request handling, driven directly (no PCI, no KVM): requests
 * are built in fake guest memory, the queue handler runs, and the status
 * byte, the used ring and the backing temp file are checked. */
#include "virtio/virtio_blk.h"
#include "fake_virtq.h"
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The transport is not under test; this keeps virtio_pci.o (and PCI/KVM)
 * out of the link. */
int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    return -ENOSYS;
}

#define QSZ        16
#define RAM_SIZE   (1u << 20)
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define HDR_GPA    0x4000
#define STATUS_GPA 0x4100
#define DATA_GPA   0x10000
#define DISK_SIZE  (1u << 20)
#define SECTORS    (DISK_SIZE / VIRTIO_BLK_SECTOR)

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    char *path;
    struct disk_config disk;
    struct virtio_blk *blk;
    struct virtio_device *vdev;
    unsigned queue_irqs, config_irqs;
    unsigned ndesc;
};

static void count_queue_irq(struct virtio_device *vdev, unsigned q)
{
    struct fx *f = vdev->transport;
    f->queue_irqs++;
}

static void count_config_irq(struct virtio_device *vdev)
{
    struct fx *f = vdev->transport;
    f->config_irqs++;
}

static char *make_disk(const char *name, uint8_t fill)
{
    char *path = g_build_filename(g_get_tmp_dir(), name, NULL);
    uint8_t *buf = g_malloc(DISK_SIZE);
    memset(buf, fill, DISK_SIZE);
    g_assert_true(g_file_set_contents(path, (char *)buf, DISK_SIZE, NULL));
    g_free(buf);
    return path;
}

/* Opens the device and plays the driver's part: features, DRIVER_OK, queue 0. */
static void fx_open(struct fx *f, bool readonly, const char *serial)
{
    f->disk = (struct disk_config){ .path = f->path, .readonly = readonly, .serial = (char *)serial };
    char *err = NULL;
    g_assert_cmpint(virtio_blk_new(&f->disk, &f->blk, &err), ==, 0);
    g_assert_null(err);
    f->vdev = virtio_blk_device(f->blk);
    f->vdev->transport = f;
    f->vdev->notify_queue = count_queue_irq;
    f->vdev->notify_config = count_config_irq;
    fake_driver_ok(f->vdev, 0);
    struct fake_vq vq;
    fake_vq_enable(&vq, f->vdev, &f->mem, 0, DESC_GPA, QSZ);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    char *name = g_strdup_printf("domus-blk-test-%d.img", (int)getpid());
    f->path = make_disk(name, 0xAB);
    g_free(name);
    fx_open(f, data != NULL, NULL);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    virtio_blk_free(f->blk);
    g_unlink(f->path);
    g_free(f->path);
    g_free(f->ram);
}

/* ---- building requests ---- */

static struct virtq_desc *desc_table(struct fx *f)
{
    return (struct virtq_desc *)(f->ram + DESC_GPA);
}

static void add_desc(struct fx *f, uint64_t gpa, uint32_t len, bool write)
{
    struct virtq_desc *d = desc_table(f);
    if (f->ndesc)
        d[f->ndesc - 1].flags |= VIRTQ_DESC_F_NEXT;
    d[f->ndesc] = (struct virtq_desc){ .addr = gpa, .len = len,
                                       .flags = write ? VIRTQ_DESC_F_WRITE : 0,
                                       .next = (uint16_t)(f->ndesc + 1) };
    f->ndesc++;
}

static void put_header(struct fx *f, uint32_t type, uint64_t sector)
{
    struct virtio_blk_outhdr h = { .type = type, .sector = sector };
    memcpy(f->ram + HDR_GPA, &h, sizeof(h));
}

/* Offers the chain built so far, runs the device, and returns the used
 * length (or -1 when nothing came back). */
static long run(struct fx *f)
{
    struct virtq_avail *avail = (struct virtq_avail *)(f->ram + AVAIL_GPA);
    struct virtq_used *used = (struct virtq_used *)(f->ram + USED_GPA);
    uint16_t before = used->idx;
    f->ram[STATUS_GPA] = 0xEE;
    avail->ring[avail->idx % QSZ] = 0;
    avail->idx++;
    f->ndesc = 0;
    f->vdev->ops->queue_notify(f->vdev, 0);
    virtio_blk_wait_idle(f->blk);     /* requests complete on workers */
    if (used->idx == before)
        return -1;
    g_assert_cmpuint(used->idx, ==, (uint16_t)(before + 1));
    g_assert_cmpuint(used->ring[before % QSZ].id, ==, 0);
    return used->ring[before % QSZ].len;
}

/* The common shape: header, optional data (in or out), status byte. */
static uint8_t request(struct fx *f, uint32_t type, uint64_t sector, uint32_t data_len, bool data_in)
{
    put_header(f, type, sector);
    add_desc(f, HDR_GPA, sizeof(struct virtio_blk_outhdr), false);
    if (data_len)
        add_desc(f, DATA_GPA, data_len, data_in);
    add_desc(f, STATUS_GPA, 1, true);
    long used = run(f);
    g_assert_cmpint(used, >=, 1);
    return f->ram[STATUS_GPA];
}

static void read_file_at(struct fx *f, off_t off, void *buf, size_t len)
{
    int fd = open(f->path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

/* ---- tests ---- */

static void test_write_read(struct fx *f, gconstpointer data)
{
    uint8_t *buf = f->ram + DATA_GPA, check[1024];
    for (unsigned i = 0; i < 1024; i++)
        buf[i] = (uint8_t)(i * 7);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_OUT, 4, 1024, false), ==, VIRTIO_BLK_S_OK);
    read_file_at(f, 4 * 512, check, sizeof(check));
    g_assert_cmpmem(check, 1024, buf, 1024);

    memset(buf, 0, 1024);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, 4, 1024, true), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(check, 1024, buf, 1024);
    g_assert_cmpuint(f->queue_irqs, ==, 2);
}

/* The spec fixes no descriptor boundaries: header split in two, data and
 * status sharing one writable buffer. */
static void test_odd_layout(struct fx *f, gconstpointer data)
{
    put_header(f, VIRTIO_BLK_T_IN, 0);
    add_desc(f, HDR_GPA, 8, false);
    add_desc(f, HDR_GPA + 8, 8, false);
    add_desc(f, DATA_GPA, 513, true);
    g_assert_cmpint(run(f), ==, 513);
    g_assert_cmpuint(f->ram[DATA_GPA + 511], ==, 0xAB);
    g_assert_cmpuint(f->ram[DATA_GPA + 512], ==, VIRTIO_BLK_S_OK);
}

static void test_flush(struct fx *f, gconstpointer data)
{
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false), ==, VIRTIO_BLK_S_OK);
}

static void test_get_id(struct fx *f, gconstpointer data)
{
    /* Default: the file name, cut to 20 bytes. */
    uint8_t *id = f->ram + DATA_GPA;
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true), ==, VIRTIO_BLK_S_OK);
    char *base = g_path_get_basename(f->path);
    g_assert_cmpmem(id, VIRTIO_BLK_ID_BYTES, base, VIRTIO_BLK_ID_BYTES);
    g_free(base);

    virtio_blk_free(f->blk);
    fx_open(f, false, "serial-42");
    memset(id, 0xFF, VIRTIO_BLK_ID_BYTES);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(id, VIRTIO_BLK_ID_BYTES, "serial-42\0\0\0\0\0\0\0\0\0\0\0", VIRTIO_BLK_ID_BYTES);
}

static uint8_t dwz_request(struct fx *f, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
    struct virtio_blk_dwz seg = { .sector = sector, .num_sectors = num, .flags = flags };
    memcpy(f->ram + DATA_GPA, &seg, sizeof(seg));
    return request(f, type, 0, sizeof(seg), false);
}

static blkcnt_t disk_blocks(struct fx *f)
{
    struct stat st;
    g_assert_cmpint(stat(f->path, &st), ==, 0);
    return st.st_blocks;
}

static void test_discard(struct fx *f, gconstpointer data)
{
    blkcnt_t before = disk_blocks(f);
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_DISCARD, 0, SECTORS, 0), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpint(disk_blocks(f), <, before);
    struct stat st;
    g_assert_cmpint(stat(f->path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, DISK_SIZE);       /* KEEP_SIZE */
    /* unmap is not allowed on discard; unknown flags never. */
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_DWZ_F_UNMAP), ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_DISCARD, 0, 8, 4), ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_DISCARD, SECTORS - 4, 8, 0), ==, VIRTIO_BLK_S_IOERR);
}

static void test_write_zeroes(struct fx *f, gconstpointer data)
{
    uint8_t buf[4096], zero[4096] = { 0 };
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0), ==, VIRTIO_BLK_S_OK);
    read_file_at(f, 8 * 512, buf, sizeof(buf));
    g_assert_cmpmem(buf, sizeof(buf), zero, sizeof(zero));
    read_file_at(f, 16 * 512, buf, 1);
    g_assert_cmpuint(buf[0], ==, 0xAB);                 /* nothing past the range */

    blkcnt_t before = disk_blocks(f);
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 64, SECTORS - 64, VIRTIO_BLK_DWZ_F_UNMAP),
                     ==, VIRTIO_BLK_S_OK);
    read_file_at(f, 64 * 512, buf, sizeof(buf));
    g_assert_cmpmem(buf, sizeof(buf), zero, sizeof(zero));
    g_assert_cmpint(disk_blocks(f), <, before);          /* unmap gave the space back */
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), ==, VIRTIO_BLK_S_UNSUPP);
}

static void test_out_of_range(struct fx *f, gconstpointer data)
{
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, SECTORS, 512, true), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, SECTORS - 1, 1024, true), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 512, false), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, 0, 100, true), ==, VIRTIO_BLK_S_IOERR);   /* not whole sectors */
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, SECTORS - 1, 512, true), ==, VIRTIO_BLK_S_OK);
}

static void test_unknown_type(struct fx *f, gconstpointer data)
{
    g_assert_cmpuint(request(f, 99, 0, 0, false), ==, VIRTIO_BLK_S_UNSUPP);
}

static void test_readonly(struct fx *f, gconstpointer data)
{
    uint8_t check[512];
    memset(f->ram + DATA_GPA, 0x11, 512);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_OUT, 0, 512, false), ==, VIRTIO_BLK_S_IOERR);
    read_file_at(f, 0, check, sizeof(check));
    g_assert_cmpuint(check[0], ==, 0xAB);
    g_assert_cmpuint(dwz_request(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(request(f, VIRTIO_BLK_T_IN, 0, 512, true), ==, VIRTIO_BLK_S_OK);
    uint64_t feat = virtio_device_features(f->vdev);
    g_assert_true(feat & (1ULL << VIRTIO_BLK_F_RO));
    g_assert_false(feat & (1ULL << VIRTIO_BLK_F_DISCARD));
}

/* Runs a malformed request: nothing comes back and the device is failed. */
static void run_expect_failure(struct fx *f)
{
    g_assert_cmpint(run(f), ==, -1);
    g_assert_true(f->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(f->config_irqs, ==, 1);
    /* A well-formed request is now ignored until reset. */
    put_header(f, VIRTIO_BLK_T_FLUSH, 0);
    add_desc(f, HDR_GPA, sizeof(struct virtio_blk_outhdr), false);
    add_desc(f, STATUS_GPA, 1, true);
    g_assert_cmpint(run(f), ==, -1);
}

static void test_short_header(struct fx *f, gconstpointer data)
{
    put_header(f, VIRTIO_BLK_T_IN, 0);
    add_desc(f, HDR_GPA, 8, false);
    add_desc(f, STATUS_GPA, 1, true);
    run_expect_failure(f);
}

static void test_no_status(struct fx *f, gconstpointer data)
{
    put_header(f, VIRTIO_BLK_T_OUT, 0);
    add_desc(f, HDR_GPA, sizeof(struct virtio_blk_outhdr), false);
    add_desc(f, DATA_GPA, 512, false);
    run_expect_failure(f);
}

static void test_hostile_chain(struct fx *f, gconstpointer data)
{
    put_header(f, VIRTIO_BLK_T_IN, 0);
    add_desc(f, HDR_GPA, sizeof(struct virtio_blk_outhdr), false);
    add_desc(f, RAM_SIZE - 256, 512, true);             /* runs off the end of RAM */
    run_expect_failure(f);
}

static void test_config(struct fx *f, gconstpointer data)
{
    uint64_t cap = 0;
    uint32_t blk_size = 0;
    f->vdev->ops->config_read(f->vdev, 0, &cap, 8);
    f->vdev->ops->config_read(f->vdev, 20, &blk_size, 4);
    g_assert_cmpuint(cap, ==, SECTORS);
    g_assert_cmpuint(blk_size, ==, 512);
    uint64_t feat = virtio_device_features(f->vdev);
    g_assert_true(feat & (1ULL << VIRTIO_F_VERSION_1));
    g_assert_true(feat & (1ULL << VIRTIO_BLK_F_FLUSH));
    g_assert_true(feat & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
    g_assert_false(feat & (1ULL << VIRTIO_BLK_F_RO));
}

static void test_open_errors(struct fx *f, gconstpointer data)
{
    struct virtio_blk *other;
    char *err = NULL;
    /* The fixture holds a write lock: a second writer or a reader is refused. */
    struct disk_config rw = { .path = f->path }, ro = { .path = f->path, .readonly = true };
    g_assert_cmpint(virtio_blk_new(&rw, &other, &err), ==, -EBUSY);
    g_assert_nonnull(strstr(err, "in use by another process"));
    g_free(err);
    g_assert_cmpint(virtio_blk_new(&ro, &other, &err), ==, -EBUSY);
    g_free(err);
    /* Two readers are fine. */
    virtio_blk_free(f->blk);
    fx_open(f, true, NULL);
    g_assert_cmpint(virtio_blk_new(&ro, &other, &err), ==, 0);
    virtio_blk_free(other);

    struct disk_config missing = { .path = "/nonexistent/domus-disk.img" };
    g_assert_cmpint(virtio_blk_new(&missing, &other, &err), ==, -ENOENT);
    g_assert_cmpstr(err, ==, "cannot open disk /nonexistent/domus-disk.img: No such file or directory");
    g_free(err);
    struct disk_config dir = { .path = (char *)g_get_tmp_dir(), .readonly = true };
    g_assert_cmpint(virtio_blk_new(&dir, &other, &err), ==, -EINVAL);
    g_free(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    static const int ro = 1;
#define ADD(name, fn, arg) g_test_add("/virtio-blk/" name, struct fx, arg, fx_setup, fn, fx_teardown)
    ADD("write-read", test_write_read, NULL);
    ADD("odd-layout", test_odd_layout, NULL);
    ADD("flush", test_flush, NULL);
    ADD("get-id", test_get_id, NULL);
    ADD("discard", test_discard, NULL);
    ADD("write-zeroes", test_write_zeroes, NULL);
    ADD("out-of-range", test_out_of_range, NULL);
    ADD("unknown-type", test_unknown_type, NULL);
    ADD("readonly", test_readonly, &ro);
    ADD("malformed/short-header", test_short_header, NULL);
    ADD("malformed/no-status", test_no_status, NULL);
    ADD("malformed/hostile-chain", test_hostile_chain, NULL);
    ADD("config", test_config, NULL);
    ADD("open-errors", test_open_errors, NULL);
#undef ADD
    return g_test_run();
}
