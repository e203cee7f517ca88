#include "snapshot_file.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char snap_magic[8] = "DOMUSVM";

struct snap_file_header {
    char magic[8];
    uint32_t format_version;
    uint32_t header_size;
    uint32_t ncpus;
    uint32_t nsections;
    uint64_t ram_size;
    uint64_t ram_id;
    uint64_t created_ns;
    uint32_t flags;
    uint32_t header_crc;             /* of the bytes before it */
};
_Static_assert(sizeof(struct snap_file_header) == 56, "snapshot header layout");

struct snap_section_header {
    char name[STATE_NAME_MAX];
    uint32_t version;
    uint32_t crc;                    /* of this header (crc 0) and the padded data */
    uint64_t length;
};
_Static_assert(sizeof(struct snap_section_header) == 48, "snapshot section layout");

#define SNAP_ALIGN 8
#define SNAP_MAX_SECTIONS 4096

uint32_t snap_crc32(uint32_t crc, const void *data, size_t len)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static size_t pad8(size_t n)
{
    return (n + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
}

static void *writer_reserve(struct snap_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    void *p = w->buf + w->len;
    memset(p, 0, n);
    w->len += n;
    return p;
}

void snap_writer_init(struct snap_writer *w)
{
    memset(w, 0, sizeof(*w));
    writer_reserve(w, sizeof(struct snap_file_header));
}

void snap_writer_add(struct snap_writer *w, const char *name, uint32_t version, const void *data, size_t len)
{
    if (strlen(name) >= STATE_NAME_MAX) {
        w->err = w->err ? w->err : -EINVAL;
        return;
    }
    struct snap_section_header *h = writer_reserve(w, sizeof(*h));
    if (!h)
        return;
    size_t hoff = (size_t)((uint8_t *)h - w->buf);
    strcpy(h->name, name);
    h->version = version;
    h->length = len;
    uint8_t *d = writer_reserve(w, pad8(len));
    if (!d)
        return;
    memcpy(d, data, len);
    h = (struct snap_section_header *)(w->buf + hoff);   /* the buffer may have moved */
    h->crc = snap_crc32(snap_crc32(0, h, sizeof(*h)), d, pad8(len));
    w->nsections++;
}

int snap_writer_finish(struct snap_writer *w, const struct snap_info *info)
{
    if (w->err)
        return w->err;
    struct snap_file_header *h = (struct snap_file_header *)w->buf;
    memcpy(h->magic, snap_magic, sizeof(h->magic));
    h->format_version = SNAP_FORMAT_VERSION;
    h->header_size = sizeof(*h);
    h->ncpus = info->ncpus;
    h->nsections = w->nsections;
    h->ram_size = info->ram_size;
    h->ram_id = info->ram_id;
    h->created_ns = info->created_ns;
    h->flags = info->flags;
    h->header_crc = snap_crc32(0, h, offsetof(struct snap_file_header, header_crc));
    return 0;
}

void snap_writer_free(struct snap_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

int snap_tmp_create(const char *path, char **tmp_out, char **error)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp)
        return -ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        set_error(error, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return r;
    }
    *tmp_out = tmp;
    return fd;
}

int snap_tmp_commit(int fd, char *tmp, const char *path, int r, bool data_only, const char *what,
                    char **error)
{
    if (r == 0 && (data_only ? fdatasync(fd) : fsync(fd)) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        set_error(error, "cannot write %s%s: %s", what, path, strerror(-r));
        unlink(tmp);
    }
    free(tmp);
    return r;
}

int snap_write_file(const char *path, const void *data, size_t len, char **error)
{
    char *tmp;
    int fd = snap_tmp_create(path, &tmp, error);
    if (fd < 0)
        return fd;
    int r = 0;
    const uint8_t *p = data;
    size_t left = len;
    while (left && r == 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else
            p += n, left -= (size_t)n;
    }
    return snap_tmp_commit(fd, tmp, path, r, false, "", error);
}

void snap_image_free(struct snap_image *img)
{
    free(img->sections);
    free(img->buf);
    memset(img, 0, sizeof(*img));
}

int snap_image_parse(uint8_t *buf, size_t len, struct snap_image *img, char **error)
{
    memset(img, 0, sizeof(*img));
    img->buf = buf;
    img->buflen = len;
    struct snap_file_header h;
    if (len < sizeof(h)) {
        set_error(error, "not a Domus VM state file (too short)");
        goto bad;
    }
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, snap_magic, sizeof(h.magic))) {
        set_error(error, "not a Domus VM state file");
        goto bad;
    }
    if (h.header_crc != snap_crc32(0, &h, offsetof(struct snap_file_header, header_crc))) {
        set_error(error, "the state file's header is damaged (CRC mismatch)");
        goto bad;
    }
    if (h.format_version != SNAP_FORMAT_VERSION || h.header_size != sizeof(h)) {
        set_error(error, "state file format %u is not supported (this domus-vmm reads format %u)",
                  h.format_version, SNAP_FORMAT_VERSION);
        goto bad;
    }
    if (h.nsections > SNAP_MAX_SECTIONS) {
        set_error(error, "the state file claims %u sections", h.nsections);
        goto bad;
    }
    img->info = (struct snap_info){ .ncpus = h.ncpus, .ram_size = h.ram_size, .ram_id = h.ram_id,
                                    .created_ns = h.created_ns, .flags = h.flags };
    img->sections = calloc(h.nsections ? h.nsections : 1, sizeof(*img->sections));
    if (!img->sections) {
        set_error(error, "out of memory");
        goto bad;
    }
    size_t off = sizeof(h);
    for (unsigned i = 0; i < h.nsections; i++) {
        struct snap_section_header sh;
        if (len - off < sizeof(sh)) {
            set_error(error, "the state file is truncated (section %u of %u missing)", i + 1, h.nsections);
            goto bad;
        }
        memcpy(&sh, buf + off, sizeof(sh));
        off += sizeof(sh);
        if (!memchr(sh.name, 0, sizeof(sh.name)) || !sh.name[0]) {
            set_error(error, "the state file is damaged (section %u has no name)", i + 1);
            goto bad;
        }
        if (sh.length > len - off || pad8(sh.length) > len - off) {
            set_error(error, "the state file is truncated (section '%s')", sh.name);
            goto bad;
        }
        struct snap_section_header zeroed = sh;
        zeroed.crc = 0;
        if (snap_crc32(snap_crc32(0, &zeroed, sizeof(zeroed)), buf + off, pad8(sh.length)) != sh.crc) {
            set_error(error, "section '%s' of the state file is damaged (CRC mismatch)", sh.name);
            goto bad;
        }
        for (unsigned j = 0; j < i; j++) {
            if (!strcmp(img->sections[j].name, sh.name)) {
                set_error(error, "the state file has section '%s' twice", sh.name);
                goto bad;
            }
        }
        struct snap_section *s = &img->sections[i];
        memcpy(s->name, sh.name, sizeof(s->name));
        s->version = sh.version;
        s->len = sh.length;
        s->data = buf + off;
        off += pad8(sh.length);
        img->nsections = i + 1;
    }
    if (off != len) {
        set_error(error, "the state file has %zu bytes of garbage after its last section", len - off);
        goto bad;
    }
    return 0;
bad:
    snap_image_free(img);
    return -EINVAL;
}

int snap_image_read(const char *path, struct snap_image *img, char **error)
{
    memset(img, 0, sizeof(*img));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int r = -errno;
        set_error(error, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
        close(fd);
        set_error(error, "%s is not a Domus VM state file", path);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != len) {
        free(buf);
        set_error(error, "cannot read %s", path);
        return -EIO;
    }
    return snap_image_parse(buf, len, img, error);
}

const struct snap_section *snap_image_find(const struct snap_image *img, const char *name)
{
    for (unsigned i = 0; i < img->nsections; i++)
        if (!strcmp(img->sections[i].name, name))
            return &img->sections[i];
    return NULL;
}
