/* AML encoder; see aml.h for the open/close model. Encodings follow the
 * ACPI spec's AML grammar (section 20) and its resource descriptors
 * (section 6.4). */
#include "acpi/aml.h"

#include <string.h>

/* Prefixes that only this file writes. */
enum {
    BYTE_PREFIX = 0x0A, WORD_PREFIX = 0x0B, DWORD_PREFIX = 0x0C,
    STRING_PREFIX = 0x0D, QWORD_PREFIX = 0x0E,
    DUAL_NAME_PREFIX = 0x2E, MULTI_NAME_PREFIX = 0x2F,
    ROOT_CHAR = '\\', PARENT_PREFIX = '^',
};

size_t aml_pkglen_encode(uint8_t out[4], size_t value)
{
    if (value <= 0x3F) {
        out[0] = (uint8_t)value;
        return 1;
    }
    if (value > AML_PKGLEN_MAX)
        return 0;
    /* Multi-byte form: the lead byte holds the count of following bytes in
     * bits 7-6 and the low nibble of the value in bits 3-0; the following
     * bytes hold the rest, least significant first. */
    size_t n = value < (1u << 12) ? 2 : value < (1u << 20) ? 3 : 4;
    out[0] = (uint8_t)(((n - 1) << 6) | (value & 0x0F));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
    return n;
}

size_t aml_pkglen_decode(const uint8_t *p, size_t avail, size_t *value)
{
    if (avail < 1)
        return 0;
    size_t n = (size_t)(p[0] >> 6) + 1;
    if (n == 1) {
        *value = p[0] & 0x3F;
        return 1;
    }
    /* Bits 5-4 of a multi-byte lead are reserved and must be zero. */
    if (avail < n || (p[0] & 0x30))
        return 0;
    size_t v = p[0] & 0x0F;
    for (size_t i = 1; i < n; i++)
        v |= (size_t)p[i] << (4 + 8 * (i - 1));
    *value = v;
    return n;
}

void aml_byte(GByteArray *a, uint8_t b)
{
    g_byte_array_append(a, &b, 1);
}

/* Little-endian @n bytes of @v. */
static void put_le(GByteArray *a, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_int(GByteArray *a, uint64_t v)
{
    if (v == 0)
        aml_byte(a, AML_ZERO);
    else if (v == 1)
        aml_byte(a, AML_ONE);
    else if (v == UINT64_MAX)
        aml_byte(a, AML_ONES);  /* the DSDT is revision 2: 64-bit integers */
    else if (v <= 0xFF) {
        aml_byte(a, BYTE_PREFIX);
        put_le(a, v, 1);
    } else if (v <= 0xFFFF) {
        aml_byte(a, WORD_PREFIX);
        put_le(a, v, 2);
    } else if (v <= 0xFFFFFFFF) {
        aml_byte(a, DWORD_PREFIX);
        put_le(a, v, 4);
    } else {
        aml_byte(a, QWORD_PREFIX);
        put_le(a, v, 8);
    }
}

void aml_string(GByteArray *a, const char *s)
{
    aml_byte(a, STRING_PREFIX);
    g_byte_array_append(a, (const guint8 *)s, strlen(s) + 1);
}

void aml_namestring(GByteArray *a, const char *path)
{
    if (*path == ROOT_CHAR)
        aml_byte(a, (uint8_t)*path++);
    else
        while (*path == PARENT_PREFIX)
            aml_byte(a, (uint8_t)*path++);

    unsigned nseg = *path ? 1 : 0;
    for (const char *c = path; *c; c++)
        nseg += *c == '.';
    if (nseg == 0)
        aml_byte(a, 0x00);              /* NullName, e.g. "\\" alone */
    else if (nseg == 2)
        aml_byte(a, DUAL_NAME_PREFIX);
    else if (nseg > 2) {
        aml_byte(a, MULTI_NAME_PREFIX);
        aml_byte(a, (uint8_t)nseg);
    }
    while (*path) {
        size_t len = strcspn(path, ".");
        if (len < 1 || len > 4)
            g_error("bad AML name %s", path);  /* names are constants here */
        uint8_t seg[4] = { '_', '_', '_', '_' };
        memcpy(seg, path, len);
        g_byte_array_append(a, seg, 4);
        path += len;
        if (*path == '.')
            path++;
    }
}

uint32_t aml_eisaid_value(const char *id)
{
    g_assert(strlen(id) == 7);
    /* Three letters in 5 bits each ('A' = 1), then four hex digits; the
     * 32-bit result is stored big-endian, so swap it for the integer. */
    uint32_t v = (uint32_t)(id[0] & 0x1F) << 26 | (uint32_t)(id[1] & 0x1F) << 21 |
                 (uint32_t)(id[2] & 0x1F) << 16 |
                 (uint32_t)g_ascii_strtoull(id + 3, NULL, 16);
    return GUINT32_SWAP_LE_BE(v);
}

/* Inserts the PkgLength for everything after @mark. */
void aml_close(GByteArray *a, size_t mark)
{
    g_assert(mark <= a->len);
    size_t body = a->len - mark;
    uint8_t enc[4];
    /* The PkgLength counts itself, so its size depends on its own value;
     * the smallest n that fits body + n wins. */
    size_t n = 1;
    while (n <= 4 && aml_pkglen_encode(enc, body + n) != n)
        n++;
    if (n > 4)
        g_error("AML object of %zu bytes is beyond PkgLength's range", body);
    g_byte_array_set_size(a, a->len + n);
    memmove(a->data + mark + n, a->data + mark, body);
    memcpy(a->data + mark, enc, n);
}

void aml_buffer(GByteArray *a, const void *bytes, size_t len)
{
    aml_byte(a, AML_BUFFER_OP);
    size_t m = a->len;
    aml_int(a, len);
    g_byte_array_append(a, bytes, len);
    aml_close(a, m);
}

void aml_uuid(GByteArray *a, const char *uuid)
{
    /* Text order is fields of 4-2-2-2-6 bytes; the first three fields are
     * stored little-endian, the last two byte by byte (as ToUUID does). */
    static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t text[16], out[16];
    const char *c = uuid;
    for (int i = 0; i < 16; i++) {
        if ((i == 4 || i == 6 || i == 8 || i == 10) && *c++ != '-')
            g_error("malformed UUID %s", uuid);
        int hi = g_ascii_xdigit_value(c[0]), lo = hi < 0 ? -1 : g_ascii_xdigit_value(c[1]);
        if (lo < 0)
            g_error("malformed UUID %s", uuid);
        text[i] = (uint8_t)(hi << 4 | lo);
        c += 2;
    }
    if (*c)
        g_error("malformed UUID %s", uuid);
    for (int i = 0; i < 16; i++)
        out[i] = text[order[i]];
    aml_buffer(a, out, sizeof(out));
}

void aml_name(GByteArray *a, const char *name)
{
    aml_byte(a, AML_NAME_OP);
    aml_namestring(a, name);
}

void aml_name_int(GByteArray *a, const char *name, uint64_t v)
{
    aml_name(a, name);
    aml_int(a, v);
}

void aml_name_string(GByteArray *a, const char *name, const char *s)
{
    aml_name(a, name);
    aml_string(a, s);
}

void aml_name_eisaid(GByteArray *a, const char *name, const char *id)
{
    aml_name(a, name);
    aml_int(a, aml_eisaid_value(id));
}

/* Opcode, then the mark where PkgLength goes, then the object's name. */
static size_t open_named(GByteArray *a, const uint8_t *op, size_t oplen, const char *name)
{
    g_byte_array_append(a, op, oplen);
    size_t m = a->len;
    aml_namestring(a, name);
    return m;
}

size_t aml_scope_open(GByteArray *a, const char *name)
{
    static const uint8_t op[] = { AML_SCOPE_OP };
    return open_named(a, op, sizeof(op), name);
}

size_t aml_device_open(GByteArray *a, const char *name)
{
    static const uint8_t op[] = { AML_EXT_PREFIX, AML_EXT_DEVICE_OP };
    return open_named(a, op, sizeof(op), name);
}

size_t aml_method_open(GByteArray *a, const char *name, unsigned nargs, bool serialized)
{
    static const uint8_t op[] = { AML_METHOD_OP };
    g_assert(nargs <= 7);
    size_t m = open_named(a, op, sizeof(op), name);
    /* MethodFlags: ArgCount in bits 2-0, SerializeFlag in bit 3, SyncLevel 0 */
    aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
    return m;
}

size_t aml_package_open(GByteArray *a, unsigned count)
{
    g_assert(count <= 255);  /* more would need VarPackageOp */
    aml_byte(a, AML_PACKAGE_OP);
    size_t m = a->len;
    aml_byte(a, (uint8_t)count);
    return m;
}

size_t aml_if_open(GByteArray *a)
{
    aml_byte(a, AML_IF_OP);
    return a->len;
}

size_t aml_else_open(GByteArray *a)
{
    aml_byte(a, AML_ELSE_OP);
    return a->len;
}

/* ---- resource descriptors ---------------------------------------------- */

void aml_res_io(GByteArray *r, uint16_t base, uint8_t len)
{
    /* Small item 0x08 (I/O port), 7 data bytes: Decode16, min, max, align 1, length. */
    aml_byte(r, 0x47);
    aml_byte(r, 0x01);
    put_le(r, base, 2);
    put_le(r, base, 2);
    aml_byte(r, 0x01);
    aml_byte(r, len);
}

void aml_res_irq_noflags(GByteArray *r, unsigned irq)
{
    /* Small item 0x04 (IRQ), 2 data bytes: the IRQ mask; ISA edge high. */
    g_assert(irq < 16);
    aml_byte(r, 0x22);
    put_le(r, 1u << irq, 2);
}

/* Large address-space descriptor (word 0x88, dword 0x87, qword 0x8A):
 * resource type, general flags, type-specific flags, then granularity,
 * min, max, translation offset and length, each @width bytes. */
static void res_addr(GByteArray *r, uint8_t tag, unsigned width, uint8_t type,
                     uint8_t tflags, uint64_t min, uint64_t max)
{
    /* General flags: producer (bit 0 clear), positive decode, MinFixed (bit 2),
     * MaxFixed (bit 3): the bridge forwards exactly this window. */
    const uint8_t gflags = 0x0C;
    aml_byte(r, tag);
    put_le(r, 3 + 5 * width, 2);
    aml_byte(r, type);
    aml_byte(r, gflags);
    aml_byte(r, tflags);
    put_le(r, 0, width);               /* granularity: a full-address window */
    put_le(r, min, width);
    put_le(r, max, width);
    put_le(r, 0, width);               /* no translation */
    put_le(r, max - min + 1, width);
}

enum { RES_MEM = 0, RES_IO = 1, RES_BUS = 2 };
/* Memory type-specific flags: bit 0 read-write, bits 2-1 cacheability. */
#define MEM_TFLAGS(cacheable) ((uint8_t)(0x01 | ((cacheable) ? 0x02 : 0x00)))

void aml_res_word_bus(GByteArray *r, uint16_t min, uint16_t max)
{
    res_addr(r, 0x88, 2, RES_BUS, 0, min, max);
}

void aml_res_word_io(GByteArray *r, uint16_t min, uint16_t max)
{
    res_addr(r, 0x88, 2, RES_IO, 0x03 /* EntireRange: ISA and non-ISA */, min, max);
}

void aml_res_dword_mem(GByteArray *r, uint32_t min, uint32_t max, bool cacheable)
{
    res_addr(r, 0x87, 4, RES_MEM, MEM_TFLAGS(cacheable), min, max);
}

void aml_res_qword_mem(GByteArray *r, uint64_t min, uint64_t max, bool cacheable)
{
    res_addr(r, 0x8A, 8, RES_MEM, MEM_TFLAGS(cacheable), min, max);
}

void aml_res_end(GByteArray *r)
{
    aml_byte(r, 0x79);
    uint8_t sum = 0;
    for (guint i = 0; i < r->len; i++)
        sum += r->data[i];
    aml_byte(r, (uint8_t)-sum);
}
