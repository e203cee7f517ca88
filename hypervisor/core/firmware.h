/* Firmware boot (--firmware bios): the image is mapped read-only just below
 * 4 GiB, where the reset vector is, and its last 128 KiB are copied to the
 * legacy BIOS area 0xE0000-0xFFFFF (the shadow RAM the chipset's PAM
 * registers govern, see pci/q35_mch.c). vCPU 0 then starts from KVM's reset
 * state (CS base 0xFFFF0000, IP 0xFFF0); the APs wait for INIT/SIPI. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct acpi_config;

#define FIRMWARE_MAX_SIZE   (16u << 20)
#define FIRMWARE_LOW_SIZE   0x20000u      /* the part aliased below 1 MiB */
#define FIRMWARE_LOW_BASE   0xE0000u

/* The image --firmware names (or the default), checked before /dev/kvm is
 * touched: readable, a regular file, a multiple of 64 KiB from 128 KiB to
 * FIRMWARE_MAX_SIZE. Returns the path (static or from cfg) or NULL with a
 * one-line *why. */
const char *firmware_path(const struct vm_config *cfg, char *why, size_t whylen);
int firmware_check(const struct vm_config *cfg, char *why, size_t whylen);
/* Reads the image, maps it at 4 GiB - size and fills the low alias. */
int firmware_load(struct vm *vm, char *why, size_t whylen);
/* Creates fw_cfg (vm->fw_cfg) before the devices, so they can add files
 * (e.g. a VGA BIOS); firmware_cfg_finish then adds what the firmware reads
 * about the whole machine: e820, CPUs, boot order, ACPI through the table
 * loader, SMBIOS. */
int firmware_cfg_create(struct vm *vm);
int firmware_cfg_finish(struct vm *vm, const struct acpi_config *acfg);

/* SeaBIOS boots --kernel through QEMU's option ROM (Debian: qemu-system-data). */
#define FIRMWARE_LINUXBOOT_ROM "/usr/share/qemu/linuxboot_dma.bin"
/* --kernel/--initrd/--append with --firmware: fw_cfg's kernel items (and
 * for SeaBIOS the option ROM that boots them). */
int firmware_cfg_add_kernel(struct vm *vm, char *why, size_t whylen);
