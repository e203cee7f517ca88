#!/bin/bash
# What a newcomer does in domus-manager, with a real guest: under Xvfb, with
# a private domusd, click "Try the Demo VM" and Start; the guest's tty1
# console appears in the window (the window's screenshot matches the
# framebuffer read through the display channel), a command typed into the
# window runs in the guest, then snapshot (when domusd has them), shut
# down and clone. See tests/manager/manager-flow.c.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd dbus-run-session Xvfb xdotool import
export BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
flow=$BUILD_DIR/tests/manager/manager-flow
[ -x "$flow" ] || skip "domus-manager not built (GTK 4 or libadwaita missing)"
# The screenshot lands in the build dir, which the host sees.
timeout -k 5 900 "$SRC_DIR/tests/manager/gtk-session" "$flow" "$BUILD_DIR/manager-guest.png"
