/* What domusd and its clients share beyond the generated D-Bus code. */
#pragma once
#include "domus-dbus.h"
#include "errors.h"

#define DOMUS_BUS_NAME "org.domus.Toolstack1"
#define DOMUS_MANAGER_PATH "/org/domus/Toolstack1"

/* /org/domus/Toolstack1/vm/NAME, other characters than [A-Za-z0-9] as _XX. */
char *domus_vm_object_path(const char *name);
