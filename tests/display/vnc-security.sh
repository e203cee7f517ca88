#!/bin/bash
# domus-vnc's doors, end to end against fake-vmm: a libvncclient client
# logs in with the right password and sees the screen, a wrong password is
# refused; a network-facing listen needs a password file; a WebSocket client
# (as noVNC connects: HTTP upgrade, then RFB in WebSocket frames) sees the
# screen and types, and cannot skip the password. TAP output.
set -u
build=${1:?usage: vnc-security.sh BUILD_DIR}
src=$(cd "$(dirname "$0")" && pwd)
fake=$build/tests/display/fake-vmm probe=$build/tests/display/vnc-probe vnc=$build/vdisplay/domus-vnc
ws=$src/ws-rfb.py
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
n=0 failed=
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() {
    n=$((n + 1)); echo "not ok $n - $*"; failed=1
    for f in "$tmp"/*.log; do echo "# --- ${f##*/}"; tail -n 15 "$f" | sed 's/^/# /'; done
}
[ -x "$vnc" ] && [ -x "$probe" ] || { echo "1..0 # SKIP domus-vnc not built (libvncserver-dev)"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
wait_line() {   # FILE REGEX
    local i
    for i in $(seq 1 100); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
cd "$tmp"
# start_vnc NAME ARGS...: domus-vnc on fake-vmm's channel; sets port.
start_vnc() {
    local name=$1; shift
    "$vnc" --channel "$tmp/chan" "$@" > "$name.log" 2>&1 & pids+=($!)
    wait_line "$name.log" "listening on [^ ]*:[0-9]+" || return 1
    port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$name.log" | head -n1)
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$fake" "$tmp/chan" 1024x768 > fake.log 2>&1 & pids+=($!)
wait_line fake.log "^mode 1024 768" || { echo "1..0 # fake-vmm did not start"; exit 1; }
pattern=(--expect 200,300,ff0000 --expect -200,300,0000ff --expect 64,64,ffffff --expect -64,-64,00ff00)
ws_pattern=(--expect=200,300,ff0000 --expect=-200,300,0000ff --expect=64,64,ffffff --expect=-64,-64,00ff00)
echo "1..8"

printf 'sesame\n' > pw
start_vnc pwvnc --password-file pw
"$probe" 127.0.0.1:$port --password sesame --timeout 10 "${pattern[@]}" --key a > probe-right.log 2>&1 &&
    wait_line fake.log "^key 30 1" &&
    ok "with --password-file, a client with the right password sees the screen and types" ||
    notok "right password"

"$probe" 127.0.0.1:$port --password wrong --timeout 10 --expect 64,64,ffffff > probe-wrong.log 2>&1
rc=$?
[ $rc != 0 ] && grep -q "cannot connect" probe-wrong.log && kill -0 "${pids[-1]}" &&
    ok "a wrong password is refused (vnc-probe exit $rc), domus-vnc goes on" || notok "wrong password accepted (exit $rc)"

"$probe" 127.0.0.1:$port --timeout 10 --expect 64,64,ffffff > probe-none.log 2>&1
rc=$?
[ $rc != 0 ] && ok "no password is refused too" || notok "empty password accepted"

python3 "$ws" 127.0.0.1:$port --timeout 10 "${ws_pattern[@]}" > ws-pw.log 2>&1
rc=$?
[ $rc != 0 ] && grep -q "wants authentication" ws-pw.log &&
    ok "a WebSocket client cannot skip the password" || notok "WebSocket client got in without a password (exit $rc)"

p=$(free_port)
"$vnc" --channel "$tmp/chan" --listen 0.0.0.0:$p > refuse.log 2>&1
rc=$?
[ $rc = 2 ] && grep -q "refusing to listen on 0.0.0.0:$p without a password" refuse.log &&
    ok "a network-facing listen without --password-file is refused (exit 2)" || notok "non-loopback refusal: exit $rc"

p=$(free_port)
start_vnc netvnc --listen 0.0.0.0:$p --password-file pw &&
    "$probe" 127.0.0.1:$port --password sesame --timeout 10 --expect 64,64,ffffff > probe-net.log 2>&1 &&
    ok "a network-facing listen with --password-file serves password holders" || notok "0.0.0.0 with password"

start_vnc wsvnc
python3 "$ws" 127.0.0.1:$port --timeout 10 "${ws_pattern[@]}" --key b > ws.log 2>&1 &&
    grep -q "logged in over WebSocket" ws.log && wait_line fake.log "^key 48 1" &&
    ok "a WebSocket client (no subprotocol, as noVNC today) sees the screen and its key reaches the VMM" ||
    notok "WebSocket client"

python3 "$ws" 127.0.0.1:$port --protocol binary --timeout 10 "${ws_pattern[@]}" > ws-binary.log 2>&1 &&
    "$probe" 127.0.0.1:$port --timeout 10 "${pattern[@]}" > probe-after-ws.log 2>&1 &&
    ok "the 'binary' subprotocol (older noVNC) works, and plain VNC clients share the port" ||
    notok "WebSocket binary subprotocol"
exit ${failed:+1}
