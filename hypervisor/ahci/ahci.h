/* Intel ICH9 AHCI controller (8086:2922, class 01/06/01) with six SATA
 * ports carrying disks (ATA, NCQ) and CD/DVD drives (ATAPI), on the block
 * layer. Port order, which firmware boot order follows: the disks given
 * with --disk ...,bus=ahci in command-line order from port 0, then the
 * --cdrom drives in order; drives are named sata0.. and cd0.. in that order.
 *
 * Guest commands go to the block layer's worker pool and complete on the
 * I/O thread; a vCPU never waits for disk I/O (only a port or controller
 * reset waits for requests already running, so they cannot write into
 * memory the guest has moved on from). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct guest_mem;
struct disk_config;
struct ahci;

#define AHCI_PORTS 6

enum ahci_drive_kind { AHCI_DRIVE_NONE, AHCI_DRIVE_DISK, AHCI_DRIVE_CDROM };

/* Builds a controller without PCI or KVM (unit tests): @vm may be NULL. */
struct ahci *ahci_new(const struct guest_mem *mem, struct vm *vm, char **error);
void ahci_free(struct ahci *h);
/* Attaches a disk to the next free port. Returns the port or -errno with *error. */
int ahci_attach_disk(struct ahci *h, const struct disk_config *disk, char **error);
/* Attaches a CD/DVD drive, with the ISO @path in it or empty (NULL). */
int ahci_attach_cdrom(struct ahci *h, const char *path, char **error);

/* ABAR (BAR 5) registers. */
uint64_t ahci_mmio_read(void *opaque, uint64_t offset, unsigned size);
void ahci_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);
/* Whether INTx is asserted, and how many MSIs were sent (tests). */
bool ahci_irq_level(struct ahci *h);
unsigned ahci_msi_count(struct ahci *h);
/* Waits for every request in the block layer and completes it (tests). */
void ahci_wait_idle(struct ahci *h);

/* Media of CD drive @name ("cd0", ...), from the control socket. eject
 * refuses (-EBUSY) while the guest has locked the tray, unless @force; a
 * refused eject tells the guest that the user asked (an eject request
 * event). change_media inserts @path (an ISO, read-only). */
int ahci_eject(struct ahci *h, const char *name, bool force, char **error);
int ahci_change_media(struct ahci *h, const char *name, const char *path, bool force, char **error);

/* The VMM's controller: created on the PCI bus with the AHCI disks and
 * CD drives of vm->cfg (nothing when there are none), its control socket
 * commands (eject, change-media, query-media) registered. */
int ahci_create(struct vm *vm);
/* Flushes and closes every drive (the VMM is exiting or rebooting); the
 * media the user changed at run time are remembered in the environment
 * for the re-executed VMM, so they stay in the drives across a reboot. */
void ahci_close_all(void);

/* Save/restore: the registers and drive state, versioned (struct
 * ahci_state in ahci.c, ahci_state_size() bytes). Save after the block
 * layer is drained (the snapshot code quiesces first); restore refuses
 * (-EINVAL, nothing changed) a state of another version or drive set. */
struct ahci_state;
size_t ahci_state_size(void);
void ahci_state_save(struct ahci *h, struct ahci_state *s);
int ahci_state_restore(struct ahci *h, const void *buf, size_t len);
/* After a restore, once guest RAM is back: runs the commands the restored
 * state has issued and re-drives the interrupt. */
void ahci_state_resume(struct ahci *h);
