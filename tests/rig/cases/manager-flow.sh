#!/bin/bash
# What a user does in domus-manager, with real guests: under Xvfb, with a
# private domusd, real X clicks and keys (xdotool): "Try the Demo VM", Start;
# the guest's tty1 console appears in the window (the window's screenshot
# matches the framebuffer read through the display channel) and a line typed
# into it runs; Take Snapshot (live when domusd can, else once shut down);
# Shut Down (ACPI); a linked clone starts beside its origin, each serial
# console tab answers a typed line; Shut Down the clone, Force Off the
# origin; delete both. States are waited for over D-Bus, never by sleeping.
# See tests/manager/manager-flow.c.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd dbus-run-session Xvfb xdotool import
export BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
flow=$BUILD_DIR/tests/manager/manager-flow
[ -x "$flow" ] || skip "domus-manager not built (GTK 4 or libadwaita missing)"
# The screenshot lands in the build dir, which the host sees.
timeout -k 5 900 "$SRC_DIR/tests/manager/gtk-session" "$flow" "$BUILD_DIR/manager-guest.png"
