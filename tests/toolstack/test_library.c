/* The VM library on disk: config writes are atomic (a reader racing a
 * writer only ever sees a whole old or a whole new config), a failed
 * create leaves nothing behind, disks are copied with their holes. */
#include "errors.h"
#include "library.h"
#include "template.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmp;

static struct vm_record *record(const char *name, const char *dir)
{
    struct vm_record *r = g_new0(struct vm_record, 1);
    r->name = g_strdup(name);
    r->dir = g_strdup(dir);
    r->memory = 256ULL << 20;
    r->cpus = 1;
    r->firmware = g_strdup("direct");
    r->kernel = g_strdup("/boot/vmlinuz");
    r->disks = g_new0(char *, 1);
    r->cpu_weight = 100;
    return r;
}

static void test_atomic_config(void)
{
    g_autofree char *dir = g_build_filename(tmp, "atomic", NULL);
    g_mkdir(dir, 0700);
    g_autoptr(struct_vm_record) r = record("atomic", dir);
    /* A long append line makes a torn write easy to see. */
    r->append = g_strnfill(20000, 'a');
    g_assert_true(vm_record_save(r, NULL));
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        /* The writer spins for ever: it must go with a test that dies. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        for (unsigned i = 0;; i++) {
            r->cpus = 1 + i % 2;
            r->append[0] = r->cpus == 1 ? 'a' : 'b';
            vm_record_save(r, NULL);
        }
    }
    unsigned seen[3] = { 0 };
    for (unsigned i = 0; i < 3000; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(struct_vm_record) got = vm_record_load(dir, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(strlen(got->append), ==, 20000);
        g_assert_cmpint(got->append[0], ==, got->cpus == 1 ? 'a' : 'b');
        seen[got->cpus]++;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    g_assert_cmpuint(seen[1] + seen[2], ==, 3000);
    /* No temporary files left but for at most one the killed writer had open. */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    unsigned files = 0;
    while (g_dir_read_name(d))
        files++;
    g_assert_cmpuint(files, <=, 2);
}

static bool populate_fails(struct vm_record *r, const char *d, void *opaque, GError **error)
{
    g_autofree char *disk = g_build_filename(d, "disk0.img", NULL);
    g_assert_true(create_raw_disk(disk, 1 << 20, NULL));
    g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "populate failed on purpose");
    return false;
}

static void test_create_all_or_nothing(void)
{
    g_autoptr(struct_vm_record) r = record("half", NULL);
    g_autoptr(GError) err = NULL;
    g_assert_false(library_create(r, populate_fails, NULL, &err));
    g_assert_error(err, DOMUS_ERROR, DOMUS_ERROR_FAILED);
    g_autofree char *vms = library_vms_dir();
    g_autoptr(GDir) d = g_dir_open(vms, 0, NULL);
    g_assert_null(g_dir_read_name(d));                 /* no VM, no .new-* leftover */

    g_clear_error(&err);
    g_assert_true(library_create(r, NULL, NULL, &err));
    g_assert_no_error(err);
    g_autoptr(struct_vm_record) again = record("half", NULL);
    g_assert_false(library_create(again, NULL, NULL, &err));
    g_assert_error(err, DOMUS_ERROR, DOMUS_ERROR_EXISTS);
    g_clear_error(&err);
    g_assert_true(library_delete("half", &err));
    g_autoptr(GDir) d2 = g_dir_open(vms, 0, NULL);
    g_assert_null(g_dir_read_name(d2));
}

static void test_names(void)
{
    const char *good[] = { "a", "web-1", "My.VM_2", NULL };
    const char *bad[] = { "", ".hidden", "-x", "a/b", "a b", "..", "é", NULL };
    for (const char **n = good; *n; n++)
        g_assert_true(vm_name_valid(*n, NULL));
    for (const char **n = bad; *n; n++)
        g_assert_false(vm_name_valid(*n, NULL));
    g_autofree char *long_name = g_strnfill(65, 'x');
    g_assert_false(vm_name_valid(long_name, NULL));
}

static void test_sparse_copy(void)
{
    g_autofree char *src = g_build_filename(tmp, "src.img", NULL);
    g_autofree char *dst = g_build_filename(tmp, "dst.img", NULL);
    g_assert_true(create_raw_disk(src, 64 << 20, NULL));
    FILE *f = fopen(src, "r+");
    fseek(f, 32 << 20, SEEK_SET);
    fputs("marker in the middle", f);
    fclose(f);
    g_assert_true(copy_sparse(src, dst, NULL));
    g_autofree char *a = NULL, *b = NULL;
    gsize la, lb;
    g_assert_true(g_file_get_contents(src, &a, &la, NULL));
    g_assert_true(g_file_get_contents(dst, &b, &lb, NULL));
    g_assert_cmpuint(la, ==, lb);
    g_assert_true(memcmp(a, b, la) == 0);
    struct stat st;
    g_assert_cmpint(stat(dst, &st), ==, 0);
    g_assert_cmpuint((guint64)st.st_blocks * 512, <, 8 << 20);   /* holes stayed holes */
    g_assert_false(copy_sparse(src, dst, NULL));                 /* never overwrites */
}

/* The cache and the library may be on different filesystems (the rig's
 * tmpfs and its 9p share did this): copy_file_range refuses, and the copy
 * must still be whole. */
static void test_sparse_copy_across(void)
{
    struct stat a_st, b_st;
    if (stat(tmp, &a_st) < 0 || stat("/dev/shm", &b_st) < 0 || a_st.st_dev == b_st.st_dev) {
        g_test_skip("no second filesystem (/dev/shm) to copy to");
        return;
    }
    g_autofree char *src = g_build_filename(tmp, "across.img", NULL);
    g_autofree char *dst = g_strdup_printf("/dev/shm/domus-copy-%d.img", (int)getpid());
    g_autofree char *data = g_strnfill(300000, 'd');
    g_assert_true(g_file_set_contents(src, data, -1, NULL));
    g_autoptr(GError) err = NULL;
    gboolean ok = copy_sparse(src, dst, &err);
    g_autofree char *back = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(dst, &back, &len, NULL));
    g_unlink(dst);
    g_assert_no_error(err);
    g_assert_true(ok);
    g_assert_cmpuint(len, ==, strlen(data));
    g_assert_true(memcmp(back, data, len) == 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmp = g_dir_make_tmp("domus-lib-XXXXXX", NULL);
    g_setenv("XDG_DATA_HOME", tmp, TRUE);
    g_setenv("XDG_RUNTIME_DIR", tmp, TRUE);
    g_test_add_func("/library/atomic-config", test_atomic_config);
    g_test_add_func("/library/create-all-or-nothing", test_create_all_or_nothing);
    g_test_add_func("/library/names", test_names);
    g_test_add_func("/library/sparse-copy", test_sparse_copy);
    g_test_add_func("/library/sparse-copy-across", test_sparse_copy_across);
    int r = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(cmd)) { /* best effort */ }
    return r;
}
