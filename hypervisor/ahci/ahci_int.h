/* AHCI internals shared by the HBA (ahci.c), the port engine (ahci_port.c),
 * the ATA and ATAPI command sets (ata.c, atapi.c) and the unit tests, which
 * build a controller on fake guest memory and drive its registers directly.
 *
 * Locking: one mutex per controller (struct ahci.lock) guards every
 * register, port and drive field. MMIO handlers (vCPU threads), completions
 * (I/O thread) and the control socket (I/O thread) take it; block workers
 * never do, so waiting for them under it is safe. */
#pragma once
#include "ahci.h"
#include "block/block_aio.h"
#include "pci/pci.h"
#include "pci/pci_msi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct block;
struct guest_mem;
struct vm;

#define AHCI_SLOTS            32
#define AHCI_ABAR_SIZE        0x1000
#define AHCI_PORT_BASE        0x100
#define AHCI_PORT_SIZE        0x80

/* Generic host control (AHCI 1.3.1, 3.1) */
#define AHCI_CAP              0x00
#define AHCI_GHC              0x04
#define AHCI_IS               0x08
#define AHCI_PI               0x0C
#define AHCI_VS               0x10
#define AHCI_CAP2             0x24
#define AHCI_GHC_HR           (1u << 0)
#define AHCI_GHC_IE           (1u << 1)
#define AHCI_GHC_AE           (1u << 31)

/* Port registers (3.3), relative to the port's base */
#define PORT_CLB              0x00
#define PORT_CLBU             0x04
#define PORT_FB               0x08
#define PORT_FBU              0x0C
#define PORT_IS               0x10
#define PORT_IE               0x14
#define PORT_CMD              0x18
#define PORT_TFD              0x20
#define PORT_SIG              0x24
#define PORT_SSTS             0x28
#define PORT_SCTL             0x2C
#define PORT_SERR             0x30
#define PORT_SACT             0x34
#define PORT_CI               0x38

#define PORT_CMD_ST           (1u << 0)
#define PORT_CMD_SUD          (1u << 1)
#define PORT_CMD_POD          (1u << 2)
#define PORT_CMD_CLO          (1u << 3)
#define PORT_CMD_FRE          (1u << 4)
#define PORT_CMD_FR           (1u << 14)
#define PORT_CMD_CR           (1u << 15)
#define PORT_CMD_ATAPI        (1u << 24)

#define PORT_IS_DHRS          (1u << 0)   /* D2H register FIS */
#define PORT_IS_PSS           (1u << 1)   /* PIO setup FIS */
#define PORT_IS_SDBS          (1u << 3)   /* set device bits FIS */
#define PORT_IS_DPS           (1u << 5)   /* a PRD with I set was done */
#define PORT_IS_OFS           (1u << 24)  /* overflow: more data than the PRDT holds */
#define PORT_IS_HBFS          (1u << 29)  /* host bus fatal: a PRD/table outside RAM */
#define PORT_IS_TFES          (1u << 30)  /* task file error */

#define SSTS_PRESENT          0x113       /* device present, Gen1, active */

/* ATA status and error bits */
#define ATA_ST_ERR            0x01
#define ATA_ST_DRQ            0x08
#define ATA_ST_DSC            0x10
#define ATA_ST_DRDY           0x40
#define ATA_ST_BSY            0x80
#define ATA_ST_OK             (ATA_ST_DRDY | ATA_ST_DSC)
#define ATA_ER_ABRT           0x04
#define ATA_ER_IDNF           0x10
#define ATA_ER_UNC            0x40

#define ATA_SIG_DISK          0x00000101u
#define ATA_SIG_ATAPI         0xEB140101u

/* Received FIS area offsets */
#define RFIS_PIO              0x20
#define RFIS_D2H              0x40
#define RFIS_SDB              0x58

/* SCSI sense keys and the additional sense codes we use (asc << 8 | ascq) */
#define SENSE_NONE            0x0
#define SENSE_NOT_READY       0x2
#define SENSE_ILLEGAL         0x5
#define SENSE_UNIT_ATTENTION  0x6
#define ASC_NO_MEDIUM_TRAY_CLOSED 0x3A01
#define ASC_NO_MEDIUM_TRAY_OPEN 0x3A02
#define ASC_INVALID_OPCODE    0x2000
#define ASC_LBA_OUT_OF_RANGE  0x2100
#define ASC_INVALID_FIELD     0x2400
#define ASC_MEDIUM_CHANGED    0x2800
#define ASC_REMOVAL_PREVENTED 0x5302
#define ASC_SAVING_UNSUPPORTED 0x3900

/* GET EVENT STATUS NOTIFICATION media events (MMC-6 9.6.2) */
#define MEDIA_EV_NONE         0
#define MEDIA_EV_EJECT_REQ    1
#define MEDIA_EV_NEW          2
#define MEDIA_EV_REMOVED      3

/* What a port holds. The register block and the drive state are what
 * save/restore carries (struct ahci_state in ahci.c). */
struct ahci_port_regs {
    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
};

struct ahci_drive {
    enum ahci_drive_kind kind;       /* AHCI_DRIVE_NONE: empty port */
    struct block *bdev;              /* NULL: no medium (CD) */
    char *path;                      /* the medium's file */
    bool readonly, pause_on_error;
    bool wce;                        /* write cache on (SET FEATURES 02h/82h) */
    uint64_t sectors;                /* 512-byte (disk) or 2048-byte (CD) blocks */
    uint32_t discard_unit;           /* bytes; 0: no TRIM */
    char serial[21], model[41];
    uint8_t multiple;                /* SET MULTIPLE MODE */
    uint8_t xfer_mode;               /* SET FEATURES 03h, reported in IDENTIFY */
    /* ATAPI */
    uint8_t sense_key;
    uint16_t asc;                    /* asc << 8 | ascq */
    bool unit_attention, locked, tray_open;
    uint8_t media_event;
    /* NCQ command error log (READ LOG EXT page 10h) */
    bool ncq_err_valid;
    uint8_t ncq_err_tag, ncq_err_status, ncq_err_error;
    uint64_t ncq_err_lba;
};

struct ahci_port;

/* One command on its way through the block layer. Heap-allocated per
 * command: a worker may still hold it after the guest has stopped the port
 * and reused the slot. */
struct ahci_cmd {
    struct block_request br;
    struct ahci_port *port;
    unsigned slot;
    uint32_t gen;                    /* port generation it was issued in */
    bool ncq, pio, write, fua;
    uint8_t command;
    uint64_t lba;                    /* for the NCQ error log */
    uint32_t bytes;                  /* transferred on success (PRDBC) */
    bool prd_irq;                    /* a PRD asked for an interrupt */
    uint8_t *buf;                    /* DATA SET MANAGEMENT ranges */
    unsigned nranges;
    struct ahci_cmd *next_parked;
    int niov;
    struct iovec iov[];
};

struct ahci_port {
    struct ahci *hba;
    unsigned index;
    struct ahci_port_regs r;
    struct ahci_drive drive;
    uint32_t gen;                    /* bumped when queued commands are dropped */
    uint32_t issued;                 /* CI bits taken up (non-NCQ: running) */
    int active;                      /* running non-NCQ slot, -1 none */
    unsigned inflight;               /* commands the block layer or the park list holds */
    bool halted;                     /* after a task file error, until ST is cleared */
    bool sig_pending;                /* the signature FIS waits for FRE */
};

struct ahci {
    struct pci_device pci;
    struct pci_msi msi;
    bool pci_owned;
    const struct guest_mem *mem;
    struct vm *vm;
    struct block_aio *aio;
    pthread_mutex_t lock;
    uint32_t ghc;
    bool intx_level;
    bool irq_dirty;                  /* a device event since the last ahci_update_irq() */
    unsigned msi_sent;               /* interrupts sent as MSI (tests look) */
    struct ahci_port ports[AHCI_PORTS];
    struct ahci_cmd *parked;         /* failed with on-error=pause, retried on resume */
};

/* ---- ahci.c ---- */
/* What a snapshot carries (the unit tests forge hostile ones); the media
 * and images are the VM's configuration, not state. Commands in flight are
 * not part of it: the snapshot code quiesces first (every command
 * finished), and a command the guest had issued but the port had not
 * started keeps its CI bit, so the port runs it once the restored RAM is
 * back (ahci_state_resume). */
#define AHCI_STATE_VERSION 1
struct ahci_port_state {
    struct ahci_port_regs r;
    uint64_t sectors;                /* the drive it was taken with (checked) */
    uint8_t kind, sense_key, media_event, wce, multiple, xfer_mode, locked, tray_open;
    uint8_t unit_attention, halted, ncq_err_valid, ncq_err_tag, ncq_err_status, ncq_err_error;
    uint16_t asc;
    uint64_t ncq_err_lba;
};
struct ahci_state {
    uint32_t version, nports;
    uint32_t ghc, pad;
    struct ahci_port_state ports[AHCI_PORTS];
};

/* Recomputes IS and the interrupt output (INTx level, or an MSI when
 * something is pending). Caller holds the lock. */
void ahci_update_irq(struct ahci *h);

/* Opens an ISO read-only (raw); -errno with *error. */
int ahci_open_iso(const char *path, struct block **out, char **error);
/* Puts @bdev (NULL: none) in the drive; sectors follow. Caller holds the lock. */
void ahci_drive_insert(struct ahci_drive *d, struct block *bdev, const char *path);

/* ---- ahci_port.c ---- */
uint32_t ahci_port_read(struct ahci_port *p, unsigned reg);
void ahci_port_write(struct ahci_port *p, unsigned reg, uint32_t value);
/* Power-on / COMRESET state of the port and its device. */
void ahci_port_reset(struct ahci_port *p, bool hba_reset);
/* Finishes commands the block layer has completed (I/O thread). */
void ahci_complete(struct ahci *h);
/* Resubmits parked commands (resume hook). */
void ahci_retry_parked(struct ahci *h);

/* A command as the ATA/ATAPI layers see it: the FIS and packet, and a way
 * to move data through the PRDT. */
struct ahci_xfer {
    struct ahci_port *port;
    unsigned slot;
    const uint8_t *fis;              /* 20 bytes of H2D register FIS */
    const uint8_t *acmd;             /* 16 bytes of ATAPI command */
    uint64_t ctba;                   /* command table */
    unsigned prdtl;
    bool write_flag;                 /* command header W bit */
};

/* The outcome of a command, as the device reports it. */
struct ahci_result {
    uint8_t status, error;
    bool pio;                        /* PIO data-in: a PIO setup FIS precedes */
    bool signature;                  /* the D2H FIS carries the device signature */
    uint16_t count;                  /* D2H count field */
    uint64_t lba;                    /* D2H LBA (the failing one on errors) */
    uint32_t bytes;                  /* PRDBC */
    uint32_t fault;                  /* PxIS bits of an HBA-level error (HBFS, OFS) */
};

/* Copies device data to / guest data from the PRDT. Returns bytes moved,
 * or -EFAULT (a PRD outside RAM) / -ENOSPC (the PRDT is shorter than @len
 * and @need_all). */
long ahci_xfer_to_guest(struct ahci_xfer *x, const void *buf, size_t len);
long ahci_xfer_from_guest(struct ahci_xfer *x, void *buf, size_t len, bool need_all);
/* A command for the block layer with the PRDT mapped for @len bytes; NULL
 * with *err set (-EFAULT, -ENOSPC, -ENOMEM). */
struct ahci_cmd *ahci_cmd_new(struct ahci_xfer *x, uint64_t len, int *err);
/* Hands @c to the block layer; its completion finishes the slot. */
void ahci_cmd_submit(struct ahci_port *p, struct ahci_cmd *c);

/* ---- ata.c ---- */
/* Runs an ATA command. Returns 1 when it went to the block layer (the
 * completion finishes it), 0 when *res holds the outcome. */
int ata_execute(struct ahci_xfer *x, struct ahci_result *res);
/* Status/error for a finished block-layer command. */
void ata_complete(struct ahci_cmd *c, int ret, struct ahci_result *res);
void ata_identify(const struct ahci_drive *d, uint16_t id[256]);

/* ---- atapi.c ---- */
int atapi_execute(struct ahci_xfer *x, struct ahci_result *res);
void atapi_complete(struct ahci_cmd *c, int ret, struct ahci_result *res);
void atapi_identify(const struct ahci_drive *d, uint16_t id[256]);
/* CHECK CONDITION with @key/@asc: sets the sense data and the result. */
void atapi_check_condition(struct ahci_drive *d, struct ahci_result *res, uint8_t key, uint16_t asc);

/* Fills an IDENTIFY string field (byte-swapped words, space padded). */
void ata_put_string(uint16_t *words, const char *s, unsigned nbytes);
void ata_id_checksum(uint16_t id[256]);
