/* Guest RAM: one memfd (shared later with display clients, snapshots and
 * clones), mapped in two slots around the PCI hole. Every guest-physical
 * access by a device goes through guest_mem_ptr(), which bounds-checks
 * against RAM so a guest cannot make the VMM touch anything else. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
};

struct guest_mem {
    int memfd;                       /* -1 when backed by plain memory (unit tests) */
    int private_fd;                  /* >= 0: a snapshot's RAM file mapped MAP_PRIVATE over base */
    uint8_t *base;                   /* the whole mapping of the memfd */
    uint64_t size;                   /* total RAM in bytes */
    unsigned nregions;
    struct guest_mem_region regions[2];
};

/* Creates RAM of @size bytes split around the PCI hole. Returns -errno. */
int guest_mem_init(struct guest_mem *mem, uint64_t size, const char *name);
/* Wraps caller-owned memory as RAM at gpa 0 (unit tests: "fake guest memory"). */
void guest_mem_init_fake(struct guest_mem *mem, void *host, uint64_t size);
void guest_mem_destroy(struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) if it lies wholly in one RAM region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* Copy helpers; return -EFAULT when the range is not RAM. */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);
/* Highest guest-physical address of RAM + 1. */
uint64_t guest_mem_top(const struct guest_mem *mem);

/* The machine's e820 map, shared by direct boot (boot_params) and firmware
 * boot (fw_cfg etc/e820): RAM below the EBDA, the BIOS area reserved, RAM
 * to the PCI hole, ECAM reserved, RAM above 4 GiB. */
#define E820_RAM       1
#define E820_RESERVED  2
struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));
#define GUEST_MEM_E820_MAX 8
/* Fills @e (GUEST_MEM_E820_MAX entries) and returns how many. */
unsigned guest_mem_e820(const struct guest_mem *mem, struct e820_entry *e);
