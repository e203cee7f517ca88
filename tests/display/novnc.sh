#!/bin/bash
# noVNC in headless Chromium against domus-vnc over WebSocket (see
# novnc/novnc-check.mjs). Skips, saying why, when Node.js or Chromium is
# not installed; noVNC and playwright-core come from npm at install time
# (scripts/install-deps), so their absence is a failure, not a skip.
set -u
build=${1:?usage: novnc.sh BUILD_DIR}
dir=$(cd "$(dirname "$0")/novnc" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$build/vdisplay/domus-vnc" ] || { echo "1..0 # SKIP domus-vnc not built (libvncserver-dev)"; exit 0; }
command -v node >/dev/null || { echo "1..0 # SKIP node (Node.js) is not installed"; exit 0; }
[ -x "$chromium" ] || { echo "1..0 # SKIP $chromium is not installed (Debian package chromium)"; exit 0; }
for m in @novnc/novnc playwright-core; do
    [ -d "$dir/node_modules/$m" ] || {
        echo "1..1"; echo "not ok 1 - npm package $m missing from $dir/node_modules: run scripts/install-deps"; exit 1; }
done
CHROMIUM=$chromium exec node "$dir/novnc-check.mjs" "$build"
