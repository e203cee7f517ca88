/* Errors domusd returns over D-Bus: org.domus.Toolstack1.Error.*. */
#pragma once
#include <glib.h>

typedef enum {
    DOMUS_ERROR_FAILED,
    DOMUS_ERROR_NOT_FOUND,
    DOMUS_ERROR_EXISTS,
    DOMUS_ERROR_INVALID,
    DOMUS_ERROR_STATE,
    DOMUS_ERROR_NOT_SUPPORTED,
} DomusError;

#define DOMUS_ERROR (domus_error_quark())
GQuark domus_error_quark(void);
