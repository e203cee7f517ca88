#!/bin/bash
# case-timeout: 900
# What a newcomer does in domus-manager, with one real guest boot: under
# Xvfb, with a private domusd, real X clicks and keys (xdotool): "Try the
# Demo VM", Start; the guest's tty1 console appears in the window (the
# window's pixels match the framebuffer read through the display channel)
# and a line typed into it runs; the grid shows the running guest's
# thumbnail; Take Snapshot (live when domusd can, else once shut down); Shut
# Down (ACPI); a linked clone. Every wait is on an event (a D-Bus state, a
# drawn frame, a shell prompt), never a sleep. See tests/manager/manager-flow.c.
# Screenshots land in $BUILD_DIR/manager-shots (the README's come from there).
set -eu
. "$RIG_LIB"
require_manager manager-flow
flow=$MANAGER_TEST shots=$MANAGER_SHOTS
rm -f "$shots"/manager-flow.* "$shots"/manager-guest.png "$shots"/manager-main.png
timeout -k 5 600 "$SRC_DIR/tests/manager/gtk-session" "$flow" "$shots"
