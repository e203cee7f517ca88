/* The domus-vmm command line and --config file (GKeyFile, same keys). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "net/net_config.h"
#include "vaudio.h"

#define VM_MAX_CPUS 64
#define VM_MIN_MEMORY (16ULL << 20)
#define VM_MAX_MEMORY (1ULL << 40)
#define VM_MAX_DISKS 16
#define VM_MAX_AHCI 6                /* AHCI ports: disks with bus=ahci plus CD drives */

enum disk_bus { DISK_BUS_VIRTIO = 0, DISK_BUS_AHCI };

enum serial_kind { SERIAL_NONE, SERIAL_STDIO, SERIAL_PTY, SERIAL_UNIX, SERIAL_FILE };

struct disk_config {
    char *path;
    bool readonly;
    char *serial;                    /* virtio-blk serial ID (<= 20 bytes) */
    int format;                      /* enum block_format: 0 probes */
    bool pause_on_error;             /* on-error=pause: ENOSPC/EIO pause the VM */
    enum disk_bus bus;               /* bus=virtio (default) | ahci */
};

#define VM_MAX_DISPLAYS 8

/* --display: where the guest's screen goes (see vdisplay/). */
enum display_kind { DISPLAY_VNC, DISPLAY_SDL, DISPLAY_CHANNEL };

struct display_config {
    enum display_kind kind;
    char *addr;                      /* vnc: listen address, NULL = 127.0.0.1 */
    unsigned port;                   /* vnc: 0 = first free from 5900 */
    char *password_file;             /* vnc */
    char *keymap;                    /* vnc: the guest's layout, us (default) or de */
    char *path;                      /* channel: socket path */
};

/* --firmware: what the vCPUs run first. */
enum firmware_kind { FIRMWARE_NONE, FIRMWARE_BIOS, FIRMWARE_UEFI };
#define FIRMWARE_BIOS_DEFAULT "/usr/share/seabios/bios-256k.bin"
#define FIRMWARE_BIOS_FALLBACK "/usr/share/seabios/bios.bin"
#define FIRMWARE_UEFI_DEFAULT "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define FIRMWARE_UEFI_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"   /* template for --nvram */

struct vm_config {
    char *name;
    uint64_t memory;                 /* bytes */
    unsigned cpus;
    char *kernel, *initrd, *append;
    struct disk_config disks[VM_MAX_DISKS];
    unsigned ndisks;
    char *cdroms[VM_MAX_AHCI];       /* --cdrom: ISO paths on AHCI, NULL = empty drive */
    unsigned ncdroms;
    enum serial_kind serial;
    char *serial_path;               /* unix: socket path, file: output path */
    enum serial_kind console_kind;   /* virtio-console backend (--console) */
    char *console_path;
    char *control_path;              /* --control unix:PATH */
    char *restore_path;              /* --restore PATH: start from a saved state */
    bool rng;                        /* virtio-rng (default on) */
    bool console;                    /* virtio-console (default on) */
    unsigned shutdown_timeout;       /* seconds SIGTERM waits for ACPI power-off */
    struct net_config net;           /* --net (default none) */
    bool audio_set;                  /* --audio given: a sound card is present */
    struct vaudio_config audio;
    enum { SOUND_HDA, SOUND_VIRTIO } sound;   /* --sound */
    struct display_config displays[VM_MAX_DISPLAYS];
    unsigned ndisplays;              /* 0: no display devices */
    enum firmware_kind firmware;     /* --firmware (default none: direct kernel boot) */
    char *firmware_path;             /* image to load; NULL = the kind's default */
    char *firmware_log;              /* --firmware-log: firmware debug port output */
    enum { VGA_AUTO, VGA_NONE, VGA_STD } vga;   /* --vga; auto: std with --firmware */
    char *vga_rom;                   /* --vga std,rom=FILE (NULL: Debian's vgabios-stdvga) */
    char *nvram;                     /* --nvram: UEFI variable store (made from the template if missing) */
    bool rtc_localtime;              /* --rtc localtime: the CMOS clock keeps the host's local time */
};

/* Whether the VM gets the standard VGA: --vga std, or --firmware without --vga none. */
static inline bool vm_config_has_vga(const struct vm_config *cfg)
{
    return cfg->vga == VGA_STD || (cfg->vga == VGA_AUTO && cfg->firmware != FIRMWARE_NONE);
}

/* Parses argv into cfg. On a usage error prints one line to stderr and
 * returns 2; returns 1 after printing --help; 0 on success. */
int vm_config_parse(struct vm_config *cfg, int argc, char **argv);
void vm_config_free(struct vm_config *cfg);
