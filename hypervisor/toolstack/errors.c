#include "api.h"
#include <gio/gio.h>

static const GDBusErrorEntry entries[] = {
    { DOMUS_ERROR_FAILED, "org.domus.Toolstack1.Error.Failed" },
    { DOMUS_ERROR_NOT_FOUND, "org.domus.Toolstack1.Error.NotFound" },
    { DOMUS_ERROR_EXISTS, "org.domus.Toolstack1.Error.Exists" },
    { DOMUS_ERROR_INVALID, "org.domus.Toolstack1.Error.Invalid" },
    { DOMUS_ERROR_STATE, "org.domus.Toolstack1.Error.State" },
    { DOMUS_ERROR_NOT_SUPPORTED, "org.domus.Toolstack1.Error.NotSupported" },
};

GQuark domus_error_quark(void)
{
    static gsize quark;
    g_dbus_error_register_error_domain("domus-error-quark", &quark, entries, G_N_ELEMENTS(entries));
    return (GQuark)quark;
}

char *domus_vm_object_path(const char *name)
{
    GString *p = g_string_new(DOMUS_MANAGER_PATH "/vm/");
    for (const char *c = name; *c; c++) {
        if (g_ascii_isalnum(*c))
            g_string_append_c(p, *c);
        else
            g_string_append_printf(p, "_%02x", (unsigned char)*c);
    }
    return g_string_free(p, FALSE);
}
