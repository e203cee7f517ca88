#include "smbios.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#define HANDLE_MEM_ARRAY  0x1000
#define HANDLE_NONE       0xFFFE      /* "not provided" for error handles */
#define HANDLE_UNKNOWN    0xFFFF

struct builder {
    GByteArray *a;
    size_t start;                     /* of the structure being built */
    unsigned nstrings;
    unsigned count;
    uint16_t max_size;
};

static void put(struct builder *b, unsigned off, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        b->a->data[b->start + off + i] = (uint8_t)(v >> (8 * i));
}

/* Starts a structure of @len formatted bytes (zeroed). */
static void begin(struct builder *b, uint8_t type, uint8_t len, uint16_t handle)
{
    b->start = b->a->len;
    b->nstrings = 0;
    g_byte_array_set_size(b->a, b->a->len + len);
    memset(b->a->data + b->start, 0, len);
    put(b, 0, type, 1);
    put(b, 1, len, 1);
    put(b, 2, handle, 2);
}

/* Appends a string and stores its number at formatted offset @off. */
static void str(struct builder *b, unsigned off, const char *s)
{
    if (!s || !*s)
        return;                       /* 0: no string */
    put(b, off, ++b->nstrings, 1);
    g_byte_array_append(b->a, (const guint8 *)s, (guint)strlen(s) + 1);
}

static void end(struct builder *b)
{
    static const uint8_t nul[2] = { 0, 0 };
    /* Strings end with one extra NUL; a structure without any has two. */
    g_byte_array_append(b->a, nul, b->nstrings ? 1 : 2);
    size_t size = b->a->len - b->start;
    if (size > b->max_size)
        b->max_size = (uint16_t)size;
    b->count++;
}

static void bios_info(struct builder *b, const struct smbios_config *c)
{
    begin(b, 0, 24, 0x0000);
    str(b, 4, c->bios_vendor);
    str(b, 5, c->bios_version);
    put(b, 6, 0xE800, 2);             /* start segment */
    str(b, 8, c->bios_date);
    put(b, 9, 0, 1);                  /* ROM size: 64 KiB units - 1 */
    put(b, 10, 1u << 3, 8);           /* characteristics are not supported */
    put(b, 18, 0x01, 1);              /* ACPI */
    put(b, 19, c->uefi ? 0x1C : 0x14, 1);   /* targeted content, [UEFI,] virtual machine */
    put(b, 20, 0, 1);
    put(b, 21, 0, 1);
    put(b, 22, 0xFF, 1);              /* no embedded controller */
    put(b, 23, 0xFF, 1);
    end(b);
}

static void system_info(struct builder *b, const struct smbios_config *c)
{
    begin(b, 1, 27, 0x0100);
    str(b, 4, "Domus");
    str(b, 5, c->product);
    str(b, 6, "1.0");
    str(b, 7, c->serial);
    memcpy(b->a->data + b->start + 8, c->uuid, 16);
    put(b, 24, 0x06, 1);              /* woken by the power switch */
    str(b, 26, "Virtual Machine");
    end(b);
}

static void chassis(struct builder *b)
{
    begin(b, 3, 22, 0x0300);
    str(b, 4, "Domus");
    put(b, 5, 0x01, 1);               /* other */
    put(b, 9, 0x03, 1);               /* boot-up, power supply, thermal: safe */
    put(b, 10, 0x03, 1);
    put(b, 11, 0x03, 1);
    put(b, 12, 0x02, 1);              /* security: unknown */
    end(b);
}

static void processor(struct builder *b, const struct smbios_config *c, unsigned i)
{
    char socket[16];
    g_snprintf(socket, sizeof(socket), "CPU %u", i);
    begin(b, 4, 42, (uint16_t)(0x0400 + i));
    str(b, 4, socket);
    put(b, 5, 0x03, 1);               /* central processor */
    put(b, 6, 0xFE, 1);               /* family: see family 2 */
    str(b, 7, "Domus");
    put(b, 8, c->cpuid_eax, 4);
    put(b, 12, c->cpuid_edx, 4);
    str(b, 16, "Virtual CPU");
    put(b, 20, 2000, 2);              /* max and current speed, MHz (nominal) */
    put(b, 22, 2000, 2);
    put(b, 24, 0x41, 1);              /* socket populated, CPU enabled */
    put(b, 25, 0x01, 1);              /* upgrade: other */
    put(b, 26, HANDLE_UNKNOWN, 2);    /* no cache information */
    put(b, 28, HANDLE_UNKNOWN, 2);
    put(b, 30, HANDLE_UNKNOWN, 2);
    put(b, 35, 1, 1);                 /* one core, enabled, one thread */
    put(b, 36, 1, 1);
    put(b, 37, 1, 1);
    put(b, 38, 0x04, 2);              /* 64-bit capable */
    put(b, 40, 0x01, 2);              /* family 2: other */
    end(b);
}

static void memory(struct builder *b, const struct smbios_config *c)
{
    uint64_t kib = c->ram_size >> 10, mib = c->ram_size >> 20;
    begin(b, 16, 23, HANDLE_MEM_ARRAY);
    put(b, 4, 0x01, 1);               /* location: other */
    put(b, 5, 0x03, 1);               /* system memory */
    put(b, 6, 0x03, 1);               /* no error correction */
    if (kib < 0x80000000ULL) {
        put(b, 7, kib, 4);
    } else {
        put(b, 7, 0x80000000u, 4);
        put(b, 15, c->ram_size, 8);
    }
    put(b, 11, HANDLE_NONE, 2);
    put(b, 13, 1, 2);
    end(b);

    begin(b, 17, 40, HANDLE_MEM_ARRAY + 0x100);
    put(b, 4, HANDLE_MEM_ARRAY, 2);
    put(b, 6, HANDLE_NONE, 2);
    put(b, 8, 0xFFFF, 2);             /* widths unknown */
    put(b, 10, 0xFFFF, 2);
    if (mib < 0x7FFF) {
        put(b, 12, mib, 2);
    } else {
        put(b, 12, 0x7FFF, 2);
        put(b, 28, mib, 4);
    }
    put(b, 14, 0x09, 1);              /* DIMM */
    str(b, 16, "DIMM 0");
    put(b, 18, 0x07, 1);              /* RAM */
    put(b, 19, 0x0002, 2);            /* type detail: other */
    str(b, 23, "Domus");
    end(b);

    for (unsigned i = 0; i < c->nram; i++) {
        uint64_t s = c->ram[i].start, e = c->ram[i].start + c->ram[i].size - 1;
        begin(b, 19, 31, (uint16_t)(HANDLE_MEM_ARRAY + 0x200 + i));
        if ((e >> 10) < 0xFFFFFFFFULL) {
            put(b, 4, s >> 10, 4);
            put(b, 8, e >> 10, 4);
        } else {
            put(b, 4, 0xFFFFFFFFu, 4);
            put(b, 8, 0xFFFFFFFFu, 4);
            put(b, 15, s, 8);
            put(b, 23, e, 8);
        }
        put(b, 12, HANDLE_MEM_ARRAY, 2);
        put(b, 14, 1, 1);             /* partition width */
        end(b);
    }
}

int smbios_build(const struct smbios_config *cfg, uint8_t **tables, size_t *len,
                 uint8_t anchor[SMBIOS_ANCHOR_LEN])
{
    if (cfg->ncpus == 0 || cfg->ncpus > 255 || cfg->nram > 4)
        return -EINVAL;
    struct builder b = { .a = g_byte_array_new() };
    bios_info(&b, cfg);
    system_info(&b, cfg);
    chassis(&b);
    for (unsigned i = 0; i < cfg->ncpus; i++)
        processor(&b, cfg, i);
    memory(&b, cfg);
    begin(&b, 32, 11, 0x2000);        /* boot status 0: no errors */
    end(&b);
    begin(&b, 127, 4, 0x7F00);
    end(&b);
    if (b.a->len > 0xFFFF) {
        g_byte_array_unref(b.a);
        return -E2BIG;
    }

    memset(anchor, 0, SMBIOS_ANCHOR_LEN);
    memcpy(anchor, "_SM_", 4);
    anchor[5] = SMBIOS_ANCHOR_LEN;
    anchor[6] = 2;                    /* version 2.8 */
    anchor[7] = 8;
    anchor[8] = (uint8_t)b.max_size;
    anchor[9] = (uint8_t)(b.max_size >> 8);
    memcpy(anchor + 16, "_DMI_", 5);
    anchor[22] = (uint8_t)b.a->len;
    anchor[23] = (uint8_t)(b.a->len >> 8);
    anchor[28] = (uint8_t)b.count;
    anchor[29] = (uint8_t)(b.count >> 8);
    anchor[30] = 0x28;                /* BCD revision */
    /* Checksums as if the table sat at address 0; the firmware moves it
     * and recomputes both. */
    uint8_t sum = 0;
    for (unsigned i = 16; i < SMBIOS_ANCHOR_LEN; i++)
        sum += anchor[i];
    anchor[21] = (uint8_t)-sum;
    sum = 0;
    for (unsigned i = 0; i < 16; i++)
        sum += anchor[i];
    anchor[4] = (uint8_t)-sum;

    *len = b.a->len;
    *tables = g_byte_array_free(b.a, FALSE);
    return 0;
}
