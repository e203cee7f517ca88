/* The VM state file: a header, then sections (name, version, length,
 * CRC32 of the data), nothing after the last one. Guest RAM is a separate
 * file (snapshot_ram.c). Parsing checks every CRC, length and name before
 * anyone acts on the contents, so a damaged file is refused as a whole.
 *
 *   header   "DOMUSVM\0", format version, header size, vCPUs, sections,
 *            RAM size, RAM file id, creation time, flags, CRC32 of the header
 *   section  name[32] (NUL-padded), version, CRC32, length; data padded to 8 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "state.h"

#define SNAP_FORMAT_VERSION 1
#define SNAP_FLAG_WAS_RUNNING 1u     /* the VM ran when it was saved */

struct snap_info {
    uint32_t ncpus;
    uint64_t ram_size;
    uint64_t ram_id;                 /* repeated in the RAM file's header */
    uint64_t created_ns;             /* CLOCK_REALTIME */
    uint32_t flags;
};

struct snap_section {
    char name[STATE_NAME_MAX];
    uint32_t version;
    uint64_t len;
    const uint8_t *data;
};

struct snap_image {
    struct snap_info info;
    unsigned nsections;
    struct snap_section *sections;
    uint8_t *buf;                    /* the whole file; sections point into it */
    size_t buflen;
};

struct snap_writer {
    uint8_t *buf;
    size_t len, cap;
    unsigned nsections;
    int err;                         /* first failure (-ENOMEM, -EINVAL), sticky */
};

uint32_t snap_crc32(uint32_t crc, const void *data, size_t len);

void snap_writer_init(struct snap_writer *w);
void snap_writer_add(struct snap_writer *w, const char *name, uint32_t version, const void *data, size_t len);
/* Fills in the header; the image is then w->buf / w->len. */
int snap_writer_finish(struct snap_writer *w, const struct snap_info *info);
void snap_writer_free(struct snap_writer *w);
/* Writes @len bytes to @path through a temporary file, fsync and rename. */
/* A file written whole or not at all: snap_tmp_create makes PATH.XXXXXX
 * (returns its fd, *tmp_out its name); snap_tmp_commit syncs it (fdatasync
 * if @data_only), renames it over PATH when @r is 0, else removes it and
 * reports "cannot write <what>PATH". Returns the final status. */
int snap_tmp_create(const char *path, char **tmp_out, char **error);
int snap_tmp_commit(int fd, char *tmp, const char *path, int r, bool data_only, const char *what,
                    char **error);
int snap_write_file(const char *path, const void *data, size_t len, char **error);

/* Parses and checks @buf (taking ownership; freed by snap_image_free). */
int snap_image_parse(uint8_t *buf, size_t len, struct snap_image *img, char **error);
int snap_image_read(const char *path, struct snap_image *img, char **error);
void snap_image_free(struct snap_image *img);
const struct snap_section *snap_image_find(const struct snap_image *img, const char *name);
