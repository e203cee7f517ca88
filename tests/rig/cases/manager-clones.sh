#!/bin/bash
# A linked clone in domus-manager, with real guests: the demo VM made with
# the CLI (`domus create demo --template demo-linux`), then under Xvfb with
# real X clicks and keys: Clone… (linked); the clone starts beside its origin;
# each one's serial console tab answers a typed line; Shut Down (ACPI) the
# clone, Force Off the origin; both deleted through the trash button. See
# tests/manager/manager-clones.c.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd dbus-run-session Xvfb xdotool
export BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
flow=$BUILD_DIR/tests/manager/manager-clones
[ -x "$flow" ] || skip "domus-manager not built (GTK 4 or libadwaita missing)"
export DOMUS_SESSION_CACHE=$BUILD_DIR/rig-cache   # the demo initramfs, as in manager-flow
shots=$BUILD_DIR/manager-shots
mkdir -p "$DOMUS_SESSION_CACHE" "$shots"
rm -f "$shots"/manager-clones.* "$shots"/manager-console.png
timeout -k 5 600 "$SRC_DIR/tests/manager/gtk-session" \
    bash -c '"$DOMUS" create demo --template demo-linux >/dev/null && exec "$@"' - "$flow" "$shots"
