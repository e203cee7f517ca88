#include "iso_label.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>

#define PVD_OFFSET (16 * 2048)       /* system area is the first 16 sectors */

char *iso_volume_label(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path, g_strerror(errno));
        return NULL;
    }
    unsigned char pvd[2048];
    ssize_t n = pread(fd, pvd, sizeof pvd, PVD_OFFSET);
    close(fd);
    if (n != (ssize_t)sizeof pvd || pvd[0] != 1 || memcmp(pvd + 1, "CD001", 5)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not an ISO 9660 image", path);
        return NULL;
    }
    char label[33];
    memcpy(label, pvd + 40, 32);     /* volume identifier, space padded */
    label[32] = 0;
    return g_strstrip(g_strdup(label));
}

const char *iso_guess_template(const char *label)
{
    static const struct { const char *needle, *id; } known[] = {
        { "debian", "debian-desktop" }, { "fedora", "fedora-desktop" }, { "ubuntu", "ubuntu-desktop" },
        { "freebsd", "freebsd" }, { "netbsd", "netbsd" }, { "openbsd", "openbsd" },
        /* Microsoft's labels: CCCOMA_X64FRE_EN-US_DV9 (10 and 11), CPBA_X64FRE... (11). */
        { "win11", "windows-11" }, { "cpba_", "windows-11" }, { "cccoma_", "windows-10" },
        { "win10", "windows-10" },
    };
    if (!label)
        return NULL;
    g_autofree char *lower = g_ascii_strdown(label, -1);
    for (unsigned i = 0; i < G_N_ELEMENTS(known); i++)
        if (strstr(lower, known[i].needle))
            return known[i].id;
    return NULL;
}
