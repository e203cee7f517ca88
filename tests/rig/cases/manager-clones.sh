#!/bin/bash
# case-timeout: 450
# A linked clone beside its origin in domus-manager, with real guests: the
# demo VM and its linked clone made with the CLI (`domus create`, `domus
# clone --linked`; manager-flow clicks through Clone… and Shut Down), then
# under Xvfb with real X clicks and keys: both start; each one's serial
# console tab answers a typed line; Force Off and the trash button delete the
# clone while its origin runs on, then the origin. See
# tests/manager/manager-clones.c.
set -eu
. "$RIG_LIB"
require_manager manager-clones
flow=$MANAGER_TEST shots=$MANAGER_SHOTS
rm -f "$shots"/manager-clones.* "$shots"/manager-console.png
timeout -k 5 400 "$SRC_DIR/tests/manager/gtk-session" \
    bash -c '"$DOMUS" create demo --template demo-linux >/dev/null &&
             "$DOMUS" clone demo demo-clone --linked >/dev/null && exec "$@"' - "$flow" "$shots"
