#include "size.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return -EINVAL;
    }
    if (*end == 'i' && shift)
        end++;
    if ((*end == 'B' || *end == 'b') && shift)
        end++;
    if (*end)
        return -EINVAL;
    if (shift && v > (ULLONG_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

int parse_memory_size(const char *s, uint64_t *out)
{
    int r = parse_size(s, out);
    if (r < 0)
        return r;
    if (!strpbrk(s, "kKmMgGtT")) {
        if (*out > (UINT64_MAX >> 20))
            return -ERANGE;
        *out <<= 20;    /* a bare number means MiB, as in QEMU */
    }
    return 0;
}
