/* SMBIOS 2.8 tables for firmware boot (fw_cfg etc/smbios/smbios-tables and
 * the 31-byte entry point etc/smbios/smbios-anchor, whose table address and
 * checksums the firmware fills in): BIOS (0), system (1), chassis (3), one
 * processor per vCPU (4), memory array (16), one memory device (17), the
 * mapped RAM ranges (19), boot status (32) and the end marker (127). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SMBIOS_ANCHOR_LEN 31

struct smbios_config {
    const char *bios_vendor, *bios_version, *bios_date;
    int uefi;                        /* the firmware is UEFI (BIOS characteristics) */
    const char *product, *serial;    /* serial: the VM's name */
    uint8_t uuid[16];                /* as SMBIOS stores it (first three fields little-endian) */
    unsigned ncpus;
    uint32_t cpuid_eax, cpuid_edx;   /* CPUID leaf 1: the processor ID */
    uint64_t ram_size;
    struct { uint64_t start, size; } ram[4];
    unsigned nram;
};

/* Builds the tables (malloc'd into *tables) and the entry point. Returns 0 or -errno. */
int smbios_build(const struct smbios_config *cfg, uint8_t **tables, size_t *len,
                 uint8_t anchor[SMBIOS_ANCHOR_LEN]);
