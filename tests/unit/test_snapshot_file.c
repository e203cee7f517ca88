/* The VM state file: what is written parses back; any damage (a flipped
 * bit anywhere, truncation at any length, trailing bytes) is refused; and
 * a file that does not fit the VM (vCPUs, RAM size, device set, versions)
 * is refused by snapshot_check_image() with a message naming the reason. */
#include "core/bus.h"
#include "core/snapshot.h"
#include "core/snapshot_int.h"
#include "core/state.h"
#include "core/vm.h"

#include <glib.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

struct blob {
    uint8_t *buf;
    size_t len;
};

static struct blob build(uint32_t ncpus, uint64_t ram, uint32_t dev_version, bool with_kvm)
{
    struct snap_writer w;
    snap_writer_init(&w);
    static struct kvm_regs regs_like[1];
    if (with_kvm) {
        /* Sizes as snapshot_kvm.c writes them: only their presence and size matter here. */
        uint8_t *zeros = g_malloc0(1 << 16);
        struct kvm_clock_data clock = { 0 };
        struct kvm_pit_state2 pit = { 0 };
        snap_writer_add(&w, "kvm.irqchip", 1, zeros, 3 * sizeof(struct kvm_irqchip));
        snap_writer_add(&w, "kvm.pit", 1, &pit, sizeof(pit));
        snap_writer_add(&w, "kvm.clock", 1, &clock, sizeof(clock));
        g_free(zeros);
    }
    const char text[] = "the serial port's registers";
    snap_writer_add(&w, "serial", dev_version, text, sizeof(text));
    snap_writer_add(&w, "empty", 1, regs_like, 0);
    struct snap_info info = { .ncpus = ncpus, .ram_size = ram, .ram_id = 42, .created_ns = 7 };
    g_assert_cmpint(snap_writer_finish(&w, &info), ==, 0);
    return (struct blob){ w.buf, w.len };
}

static int parse_copy(const struct blob *b, size_t len, char **err)
{
    struct snap_image img;
    uint8_t *copy = g_memdup2(b->buf, len ? len : 1);
    int r = snap_image_parse(copy, len, &img, err);
    if (r == 0)
        snap_image_free(&img);
    return r;
}

static void test_round_trip(void)
{
    struct blob b = build(2, 1 << 30, 3, false);
    struct snap_image img;
    char *err = NULL;
    g_assert_cmpint(snap_image_parse(b.buf, b.len, &img, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmpuint(img.info.ncpus, ==, 2);
    g_assert_cmpuint(img.info.ram_size, ==, 1 << 30);
    g_assert_cmpuint(img.info.ram_id, ==, 42);
    g_assert_cmpuint(img.nsections, ==, 2);
    const struct snap_section *s = snap_image_find(&img, "serial");
    g_assert_nonnull(s);
    g_assert_cmpuint(s->version, ==, 3);
    g_assert_cmpstr((const char *)s->data, ==, "the serial port's registers");
    g_assert_cmpuint(snap_image_find(&img, "empty")->len, ==, 0);
    g_assert_null(snap_image_find(&img, "rtc"));
    snap_image_free(&img);
}

static void test_every_bit_flip_refused(void)
{
    struct blob b = build(1, 1 << 20, 1, false);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.buf[i] ^= (uint8_t)(1 << bit);
            char *err = NULL;
            int r = parse_copy(&b, b.len, &err);
            b.buf[i] ^= (uint8_t)(1 << bit);
            if (r == 0)
                g_error("a flip of bit %d of byte %zu went unnoticed", bit, i);
            g_assert_nonnull(err);
            free(err);
        }
    }
    g_free(b.buf);
}

static void test_truncation_and_garbage_refused(void)
{
    struct blob b = build(1, 1 << 20, 1, false);
    for (size_t len = 0; len < b.len; len++) {
        char *err = NULL;
        g_assert_cmpint(parse_copy(&b, len, &err), <, 0);
        g_assert_nonnull(err);
        free(err);
    }
    struct blob longer = { g_malloc(b.len + 8), b.len + 8 };
    memcpy(longer.buf, b.buf, b.len);
    memset(longer.buf + b.len, 0, 8);
    char *err = NULL;
    g_assert_cmpint(parse_copy(&longer, longer.len, &err), <, 0);
    g_assert_nonnull(strstr(err, "garbage"));
    free(err);
    g_free(longer.buf);
    g_free(b.buf);
}

static void test_format_version_refused(void)
{
    struct blob b = build(1, 1 << 20, 1, false);
    /* Format version 2 with a valid header CRC: a newer writer, not damage. */
    uint32_t v = 2;
    memcpy(b.buf + 8, &v, 4);
    uint32_t crc = snap_crc32(0, b.buf, 52);
    memcpy(b.buf + 52, &crc, 4);
    char *err = NULL;
    g_assert_cmpint(parse_copy(&b, b.len, &err), <, 0);
    g_assert_nonnull(strstr(err, "format 2 is not supported"));
    free(err);
    g_free(b.buf);
}

/* A device registered by a test: only its name and version matter. */
static long dummy_save(void *opaque, void *buf, size_t max) { return 0; }
static int dummy_load(void *opaque, const void *buf, size_t len) { return 0; }
static const struct state_ops serial_v3 = { .version = 3, .save = dummy_save, .load = dummy_load };

static char *check(uint32_t ncpus, uint64_t ram, uint32_t version, bool extra)
{
    static struct vm vm;
    if (!vm.states) {
        vm.ncpus = 0;
        vm.mem.size = 1 << 20;
        g_assert_cmpint(vm_state_register(&vm, "serial", &serial_v3, &vm), ==, 0);
        g_assert_cmpint(vm_state_register(&vm, "empty", &serial_v3, &vm.mem), ==, 0);
    }
    struct blob b = build(ncpus, ram, version, true);
    if (extra) {
        g_free(b.buf);
        struct snap_writer w;
        snap_writer_init(&w);
        uint8_t *zeros = g_malloc0(1 << 16);
        snap_writer_add(&w, "kvm.irqchip", 1, zeros, 3 * sizeof(struct kvm_irqchip));
        snap_writer_add(&w, "kvm.pit", 1, zeros, sizeof(struct kvm_pit_state2));
        snap_writer_add(&w, "kvm.clock", 1, zeros, sizeof(struct kvm_clock_data));
        snap_writer_add(&w, "serial", 3, zeros, 4);
        snap_writer_add(&w, "empty", 3, zeros, 0);
        snap_writer_add(&w, "e1000", 1, zeros, 4);
        g_free(zeros);
        struct snap_info info = { .ncpus = ncpus, .ram_size = ram };
        snap_writer_finish(&w, &info);
        b = (struct blob){ w.buf, w.len };
    }
    struct snap_image img;
    char *err = NULL;
    g_assert_cmpint(snap_image_parse(b.buf, b.len, &img, &err), ==, 0);
    if (snapshot_check_image(&vm, &img, &err) == 0)
        err = NULL;
    snap_image_free(&img);
    return err;
}

static void expect_refusal(char *err, const char *words)
{
    g_assert_nonnull(err);
    if (!strstr(err, words))
        g_error("refusal '%s' lacks '%s'", err, words);
    free(err);
}

static void test_mismatch_refused(void)
{
    /* "empty" is registered at version 3 in check(); build() writes it at 1. */
    expect_refusal(check(0, 1 << 20, 3, false), "device 'empty' was saved as version 1");
    expect_refusal(check(0, 1 << 20, 2, false), "device 'serial' was saved as version 2");
    expect_refusal(check(1, 1 << 20, 3, false), "has 1 vCPUs; this VM has 0");
    expect_refusal(check(0, 2 << 20, 3, false), "has 2 MiB of RAM; this VM has 1 MiB");
    expect_refusal(check(0, 1 << 20, 3, true), "a device 'e1000' this VM does not have");
}

/* A snapshot is refused while anything the guest can reach has no saved
 * state: a device registered without one, or an I/O range nobody owns;
 * the refusal names it. */
static void test_unsupported_named(void)
{
    static struct vm vm;
    static int serial, firmware, sound;
    static const struct io_ops ops = { 0 };
    io_bus_init(&vm.pio, "pio");
    io_bus_init(&vm.mmio, "mmio");
    g_assert_null(vm_snapshot_unsupported(&vm));
    g_assert_cmpint(vm_state_register(&vm, "serial", &serial_v3, &serial), ==, 0);
    g_assert_cmpint(io_bus_register(&vm.pio, 0x3F8, 8, &ops, &serial), ==, 0);
    g_assert_null(vm_snapshot_unsupported(&vm));
    g_assert_cmpint(io_bus_register(&vm.pio, 0x510, 2, &ops, &firmware), ==, 0);
    expect_refusal(vm_snapshot_unsupported(&vm), "I/O port 0x510 cannot be saved");
    vm_state_claim(&vm, &firmware);
    g_assert_null(vm_snapshot_unsupported(&vm));
    g_assert_cmpint(io_bus_register(&vm.mmio, 0xFEB00000, 0x100, &ops, &sound), ==, 0);
    g_assert_cmpint(vm_state_register(&vm, "sound", NULL, &sound), ==, 0);
    expect_refusal(vm_snapshot_unsupported(&vm), "device 'sound' cannot be saved");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot-file/round-trip", test_round_trip);
    g_test_add_func("/snapshot-file/bit-flips", test_every_bit_flip_refused);
    g_test_add_func("/snapshot-file/truncation-garbage", test_truncation_and_garbage_refused);
    g_test_add_func("/snapshot-file/format-version", test_format_version_refused);
    g_test_add_func("/snapshot-file/mismatch", test_mismatch_refused);
    g_test_add_func("/snapshot-file/unsupported-named", test_unsupported_named);
    return g_test_run();
}
