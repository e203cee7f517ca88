#include "acpi_loader.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BUILD_SIZE   0x20000          /* as much room as direct boot gives the tables */
#define TABLES_ALIGN 64               /* the FACS's alignment */

struct script {
    uint8_t *buf;
    size_t len, cap;
    bool oom;
};

static uint8_t *script_entry(struct script *s, uint32_t command)
{
    if (s->len + ACPI_LOADER_ENTRY_SIZE > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16 * ACPI_LOADER_ENTRY_SIZE;
        uint8_t *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = true;
            return NULL;
        }
        s->buf = b;
        s->cap = cap;
    }
    uint8_t *e = s->buf + s->len;
    s->len += ACPI_LOADER_ENTRY_SIZE;
    memset(e, 0, ACPI_LOADER_ENTRY_SIZE);
    memcpy(e, &command, 4);
    return e;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void allocate(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = script_entry(s, ACPI_LOADER_ALLOCATE);
    if (!e)
        return;
    strncpy((char *)e + 4, file, ACPI_LOADER_FILESZ - 1);
    put32(e + 4 + ACPI_LOADER_FILESZ, align);
    e[8 + ACPI_LOADER_FILESZ] = zone;
}

static void add_pointer(struct script *s, const char *dest, const char *src, uint32_t offset, uint8_t size)
{
    uint8_t *e = script_entry(s, ACPI_LOADER_ADD_POINTER);
    if (!e)
        return;
    strncpy((char *)e + 4, dest, ACPI_LOADER_FILESZ - 1);
    strncpy((char *)e + 4 + ACPI_LOADER_FILESZ, src, ACPI_LOADER_FILESZ - 1);
    put32(e + 4 + 2 * ACPI_LOADER_FILESZ, offset);
    e[8 + 2 * ACPI_LOADER_FILESZ] = size;
}

static void add_checksum(struct script *s, const char *file, uint32_t field, uint32_t start, uint32_t len)
{
    uint8_t *e = script_entry(s, ACPI_LOADER_ADD_CHECKSUM);
    if (!e)
        return;
    strncpy((char *)e + 4, file, ACPI_LOADER_FILESZ - 1);
    put32(e + 4 + ACPI_LOADER_FILESZ, field);
    put32(e + 8 + ACPI_LOADER_FILESZ, start);
    put32(e + 12 + ACPI_LOADER_FILESZ, len);
}

void acpi_loader_free(struct acpi_loader_blobs *b)
{
    free(b->rsdp);
    free(b->tables);
    free(b->script);
    memset(b, 0, sizeof(*b));
}

int acpi_loader_build(const struct acpi_config *cfg, struct acpi_loader_blobs *out)
{
    memset(out, 0, sizeof(*out));
    uint8_t *buf = calloc(1, BUILD_SIZE);
    struct acpi_links *l = calloc(1, sizeof(*l));
    int r = -ENOMEM;
    if (!buf || !l)
        goto done;
    long used = acpi_build_tables_linked(cfg, buf, BUILD_SIZE, l);
    if (used < 0) {
        r = (int)used;
        goto done;
    }
    uint32_t ts = l->tables_start;
    if (ts % TABLES_ALIGN || ts < l->rsdp_len || (uint64_t)used <= ts) {
        r = -EINVAL;
        goto done;
    }

    /* Table addresses become offsets into the tables file, which the
     * firmware's ADD_POINTER turns into addresses again. */
    for (unsigned i = 0; i < l->nptr; i++) {
        uint64_t v = 0;
        memcpy(&v, buf + l->ptr[i].offset, l->ptr[i].size);
        v -= ts;
        memcpy(buf + l->ptr[i].offset, &v, l->ptr[i].size);
    }

    struct script s = { 0 };
    /* The RSDP must be where the OS scans for it: the F segment. */
    allocate(&s, ACPI_LOADER_RSDP_FILE, 16, ACPI_LOADER_ZONE_FSEG);
    allocate(&s, ACPI_LOADER_TABLES_FILE, TABLES_ALIGN, ACPI_LOADER_ZONE_HIGH);
    for (unsigned i = 0; i < l->nptr; i++) {
        uint32_t o = l->ptr[i].offset;
        bool in_rsdp = o < l->rsdp_len;
        add_pointer(&s, in_rsdp ? ACPI_LOADER_RSDP_FILE : ACPI_LOADER_TABLES_FILE,
                    ACPI_LOADER_TABLES_FILE, in_rsdp ? o : o - ts, l->ptr[i].size);
    }
    for (unsigned i = 0; i < l->ncksum; i++) {
        uint32_t f = l->cksum[i].field, st = l->cksum[i].start;
        if (f < l->rsdp_len)
            add_checksum(&s, ACPI_LOADER_RSDP_FILE, f, st, l->cksum[i].length);
        else
            add_checksum(&s, ACPI_LOADER_TABLES_FILE, f - ts, st - ts, l->cksum[i].length);
    }
    if (s.oom) {
        free(s.buf);
        goto done;
    }
    out->script = s.buf;
    out->script_len = s.len;
    out->rsdp_len = l->rsdp_len;
    out->tables_len = (size_t)used - ts;
    out->rsdp = malloc(out->rsdp_len);
    out->tables = malloc(out->tables_len);
    if (!out->rsdp || !out->tables) {
        acpi_loader_free(out);
        goto done;
    }
    memcpy(out->rsdp, buf, out->rsdp_len);
    memcpy(out->tables, buf + ts, out->tables_len);
    r = 0;
done:
    free(buf);
    free(l);
    return r;
}
