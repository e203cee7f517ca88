/* Error strings for the char **error out-parameters of the device setup
 * functions; callers release them with free(). */
#pragma once
#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 2, 3)))
static inline void set_error(char **error, const char *fmt, ...)
{
    if (!error)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(error, fmt, ap) < 0)
        *error = NULL;
    va_end(ap);
}
