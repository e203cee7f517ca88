/* The VMM's ACPI tables as firmware loads them: fw_cfg files etc/acpi/rsdp
 * and etc/acpi/tables plus the etc/table-loader script (QEMU's
 * bios-linker-loader format, which SeaBIOS and OVMF run): ALLOCATE both
 * files, ADD_POINTER for every table address, ADD_CHECKSUM for every table.
 * The bytes are those of acpi_build_tables(), relocated by the firmware. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "acpi.h"

#define ACPI_LOADER_RSDP_FILE    "etc/acpi/rsdp"
#define ACPI_LOADER_TABLES_FILE  "etc/acpi/tables"
#define ACPI_LOADER_SCRIPT_FILE  "etc/table-loader"

/* One loader command (128 bytes, little-endian). */
#define ACPI_LOADER_ENTRY_SIZE   128
#define ACPI_LOADER_FILESZ       56
enum {
    ACPI_LOADER_ALLOCATE = 1,
    ACPI_LOADER_ADD_POINTER = 2,
    ACPI_LOADER_ADD_CHECKSUM = 3,
};
enum { ACPI_LOADER_ZONE_HIGH = 1, ACPI_LOADER_ZONE_FSEG = 2 };

struct acpi_loader_blobs {
    uint8_t *rsdp, *tables, *script;     /* malloc'd */
    size_t rsdp_len, tables_len, script_len;
};

/* Builds the three files. Returns 0 or -errno (as acpi_build_tables). */
int acpi_loader_build(const struct acpi_config *cfg, struct acpi_loader_blobs *out);
void acpi_loader_free(struct acpi_loader_blobs *b);
