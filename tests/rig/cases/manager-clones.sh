#!/bin/bash
# A linked clone in domus-manager, with real guests: the demo VM made with
# the CLI (`domus create demo --template demo-linux`), then under Xvfb with
# real X clicks and keys: Clone… (linked); the clone starts beside its origin;
# each one's serial console tab answers a typed line; Shut Down (ACPI) the
# clone, Force Off the origin; both deleted through the trash button. See
# tests/manager/manager-clones.c.
set -eu
. "$RIG_LIB"
require_manager manager-clones
flow=$MANAGER_TEST shots=$MANAGER_SHOTS
rm -f "$shots"/manager-clones.* "$shots"/manager-console.png
timeout -k 5 600 "$SRC_DIR/tests/manager/gtk-session" \
    bash -c '"$DOMUS" create demo --template demo-linux >/dev/null && exec "$@"' - "$flow" "$shots"
