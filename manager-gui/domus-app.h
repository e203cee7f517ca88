/* DomusApp: the application, its connection to domusd (D-Bus only) and the
 * app-wide actions and shortcuts. */
#pragma once
#include <adwaita.h>
#include "domus-dbus.h"

G_BEGIN_DECLS
#define DOMUS_TYPE_APP (domus_app_get_type())
G_DECLARE_FINAL_TYPE(DomusApp, domus_app, DOMUS, APP, AdwApplication)

DomusApp *domus_app_new(void);
/* NULL until connected; the window shows why when it is not. */
DomusManager *domus_app_get_manager(DomusApp *app);
GDBusObjectManager *domus_app_get_objects(DomusApp *app);
const char *domus_app_get_connect_error(DomusApp *app);
/* The VM's proxy for @name, or NULL. */
DomusVM *domus_app_lookup_vm(DomusApp *app, const char *name);
G_END_DECLS
