/* Size syntax shared by every tool that takes one on its command line or in a
 * config (domus-vmm, domus-img, domusd templates, the domus CLI), so that
 * "512M" means the same everywhere and each caller words its own error. */
#pragma once
#include <stdint.h>

/* "512M", "2G", "4KiB", "1048576" -> bytes (K/M/G/T are powers of 1024;
 * an optional "i" and "B"/"b" may follow). -EINVAL on junk, -ERANGE on overflow. */
int parse_size(const char *s, uint64_t *out);
/* As parse_size, but a bare number means MiB (memory and disk sizes on the command line). */
int parse_memory_size(const char *s, uint64_t *out);
