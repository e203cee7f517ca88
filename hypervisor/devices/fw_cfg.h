/* QEMU's firmware configuration interface (fw_cfg), the channel SeaBIOS and
 * OVMF read their configuration through: a selector at port 0x510, a byte
 * data port at 0x511 and the DMA interface at 0x514 (big-endian address of
 * an access descriptor; writing the low half starts the transfer). Items
 * are numbered keys or named files listed in the file directory. Content
 * is fixed before the vCPUs start; the guest cannot write any item. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct io_bus;
struct fw_cfg;
struct state_ops;

#define FW_CFG_PORT_SEL      0x510
#define FW_CFG_PORT_DATA     0x511
#define FW_CFG_PORT_DMA      0x514

/* Numbered items (docs/specs/fw_cfg.rst in QEMU) */
#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_BOOT_MENU     0x0E
#define FW_CFG_MAX_CPUS      0x0F
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_FILE_FIRST    0x20
#define FW_CFG_IRQ0_OVERRIDE 0x8002

#define FW_CFG_MAX_ENTRIES   64
#define FW_CFG_NAME_LEN      56

/* DMA control bits */
#define FW_CFG_DMA_ERROR     0x01
#define FW_CFG_DMA_READ      0x02
#define FW_CFG_DMA_SKIP      0x04
#define FW_CFG_DMA_SELECT    0x08
#define FW_CFG_DMA_WRITE     0x10

/* A device with the signature, ID (traditional + DMA) and an empty file
 * directory. DMA reaches guest RAM through @mem only. */
struct fw_cfg *fw_cfg_new(struct guest_mem *mem);
void fw_cfg_free(struct fw_cfg *fw);
/* Claims 0x510-0x511 and 0x514-0x51B on @pio. */
int fw_cfg_attach(struct fw_cfg *fw, struct io_bus *pio);
/* Sets a numbered item to a copy of @data (replacing it). -ENOSPC when full. */
int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t len);
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v);   /* little-endian */
/* Adds a named file; returns its key (>= FW_CFG_FILE_FIRST) or -errno
 * (-EEXIST for a name already there, -EINVAL for a name too long). */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len);
/* Live snapshots ("fw-cfg"): the selected item, read position and latched
 * DMA address half. load() refuses an item this VM lacks (-EINVAL,
 * nothing changed). */
long fw_cfg_state_save(struct fw_cfg *fw, void *buf, size_t max);
int fw_cfg_state_load(struct fw_cfg *fw, const void *buf, size_t len);
extern const struct state_ops fw_cfg_state_ops;
