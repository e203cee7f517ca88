/* The new-VM assistant's OS guess from an ISO's volume label. */
#include "iso_label.h"
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>

static char *make_iso(const char *label)
{
    char *path = NULL;
    int fd = g_file_open_tmp("iso-XXXXXX.iso", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    unsigned char pvd[2048] = { 1, 'C', 'D', '0', '0', '1', 1 };
    memset(pvd + 40, ' ', 32);
    memcpy(pvd + 40, label, strlen(label));
    g_assert_cmpint(pwrite(fd, pvd, sizeof pvd, 16 * 2048), ==, sizeof pvd);
    close(fd);
    return path;
}

static void test_labels(void)
{
    static const struct { const char *label, *want; } cases[] = {
        { "Debian 12.5.0 amd64 n", "debian-desktop" }, { "Fedora-WS-Live-40-1-14", "fedora-desktop" },
        { "Ubuntu 24.04 LTS amd64", "ubuntu-desktop" }, { "14_0_RELEASE_AMD64_CD", NULL },
        { "CCCOMA_X64FRE_EN-US_DV9", "windows-10" }, { "CPBA_X64FRE_EN-US_DV9", "windows-11" },
        { "FreeBSD_Install", "freebsd" }, { "NetBSD 10.0", "netbsd" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = make_iso(cases[i].label);
        g_autoptr(GError) err = NULL;
        g_autofree char *label = iso_volume_label(path, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(label, ==, cases[i].label);
        g_assert_cmpstr(iso_guess_template(label), ==, cases[i].want);
        g_unlink(path);
    }
}

static void test_not_iso(void)
{
    char *path = NULL;
    int fd = g_file_open_tmp("notiso-XXXXXX", &path, NULL);
    g_assert_cmpint(write(fd, "hello", 5), ==, 5);
    close(fd);
    g_autoptr(GError) err = NULL;
    g_assert_null(iso_volume_label(path, &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_unlink(path);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iso/labels", test_labels);
    g_test_add_func("/iso/not-iso", test_not_iso);
    return g_test_run();
}
