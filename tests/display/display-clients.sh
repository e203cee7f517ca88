#!/bin/bash
# Display clients against fake-vmm (no guest, no KVM): domus-vnc seen by a
# libvncclient client and domus-view under Xvfb seen by screenshots, both
# at once; keys, pointer and resize requests reach the "VMM"; the VMM's
# mode changes reach both; a viewer killed with SIGKILL disturbs nothing.
# TAP output, one test per step.
set -u
build=${1:?usage: display-clients.sh BUILD_DIR}
src=$(cd "$(dirname "$0")" && pwd)
fake=$build/tests/display/fake-vmm probe=$build/tests/display/vnc-probe
vnc=$build/vdisplay/domus-vnc view=$build/vdisplay/domus-view
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; for f in "$tmp"/*.log; do echo "# --- ${f##*/}"; sed 's/^/# /' "$f" | tail -n 15; done; failed=1; }
skipall() { echo "1..0 # SKIP $*"; exit 0; }
failed=
[ -x "$vnc" ] && [ -x "$probe" ] || skipall "domus-vnc not built (libvncserver-dev)"
wait_line() {   # FILE REGEX [SECONDS]
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do grep -qE "$2" "$1" && return 0; sleep 0.1; done
    return 1
}
cd "$tmp"

"$fake" "$tmp/chan" 1024x768 > fake.log 2>&1 & pids+=($!)
wait_line fake.log "^mode 1024 768" || { notok "fake-vmm starts"; exit 1; }
"$vnc" --channel "$tmp/chan" > vnc.log 2>&1 & pids+=($!); vncpid=$!
wait_line vnc.log "listening on 127.0.0.1:[0-9]+" || { notok "domus-vnc listens"; exit 1; }
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' vnc.log)

echo "1..12"
pattern="--expect 200,300,ff0000 --expect -200,300,0000ff --expect 64,64,ffffff --expect -64,-64,00ff00"
"$probe" 127.0.0.1:$port --timeout 10 $pattern --key a --click 100,50 > probe1.log 2>&1 &&
    wait_line fake.log "^key 30 1" && wait_line fake.log "^pointer 100 50 1" &&
    ok "VNC client sees the frame; its key and click reach the VMM" || notok "VNC frame, key and click"

"$probe" 127.0.0.1:$port --timeout 10 --resize 800x600 --wait-size 800x600 > probe2.log 2>&1 &&
    wait_line fake.log "^resize 800 600" &&
    ok "VNC desktop size request reaches the VMM and the new mode reaches the client" || notok "VNC resize"

# fbdev-style damage (whole rows for one 8x16 cell): the client still gets
# the cell right, both ways.
"$probe" 127.0.0.1:$port --timeout 10 --expect 100,100,ff0000 --key d --after 100,100,ffffff \
    --after 103,111,ffffff --after 104,100,ff0000 --after 600,100,0000ff > probe-cell.log 2>&1 &&
    "$probe" 127.0.0.1:$port --timeout 10 --expect 100,100,ffffff --key d --after 100,100,ff0000 \
    --after 103,111,ff0000 > probe-cell2.log 2>&1 &&
    ok "a cell drawn and erased under row-wide damage reaches a connected client" || notok "cell update"

# A malformed RFB message closes that client only.
printf 'RFB 003.008\n\001\377garbage' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; head -c 12 <&3 >/dev/null; cat >&3; sleep 1" 2>/dev/null
"$probe" 127.0.0.1:$port --timeout 10 --expect 64,64,ffffff > probe3.log 2>&1 && kill -0 "$vncpid" 2>/dev/null &&
    ok "a malformed VNC client is dropped, domus-vnc serves the next one" || notok "malformed VNC client"

"$vnc" --channel "$tmp/chan" --listen 0.0.0.0:5999 > refuse.log 2>&1; rc=$?
[ $rc = 2 ] && grep -q "refusing to listen on 0.0.0.0:5999 without a password" refuse.log &&
    ok "domus-vnc refuses a network-facing listen without a password (exit 2)" || notok "non-loopback refusal: exit $rc"

command -v Xvfb >/dev/null && command -v xdotool >/dev/null && command -v python3 >/dev/null && [ -x "$view" ] || {
    for i in 6 7 8 9 10 11 12; do echo "ok $i # SKIP Xvfb, xdotool, python3 or domus-view missing"; done; exit ${failed:+1}; }

disp=:$((60 + RANDOM % 200))
Xvfb $disp -screen 0 1600x1200x24 -nolisten tcp > xvfb.log 2>&1 & pids+=($!)
export DISPLAY=$disp
# Software rendering all the way (see tests/rig/cases/display-sdl.sh): the
# test is about our pixels, not the machine's GL.
export SDL_RENDER_DRIVER=software SDL_FRAMEBUFFER_ACCELERATION=0
for i in $(seq 1 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done
"$view" --channel "$tmp/chan" --name fakevm > view.log 2>&1 & pids+=($!); viewpid=$!
wid=
for i in $(seq 1 300); do wid=$(xdotool search --name '^fakevm' 2>/dev/null | head -n1); [ -n "$wid" ] && break; sleep 0.1; done
[ -n "$wid" ] && ok "domus-view opens a window titled with the VM's name" || {
    notok "domus-view window"
    for i in 7 8 9 10 11 12; do echo "not ok $i # no window"; done
    exit 1
}
xdotool windowmove --sync "$wid" 0 0 2>/dev/null

shows_pattern() {   # W H: the window is W x H and shows the pattern
    local i got want="${1}x$2 ff0000 0000ff ffffff 00ff00"
    for i in $(seq 1 50); do
        got=$(python3 "$src/xwin.py" pixels "$wid" 200,300 -200,300 64,64 -64,-64 2>&1)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "# window shows '$got', wanted '$want'"
    return 1
}
shows_pattern 800 600 && ok "a screenshot of the window shows the VMM's frame" || notok "window screenshot"

xdotool windowfocus --sync "$wid" 2>/dev/null; xdotool key --delay 50 b
wait_line fake.log "^key 48 1" && wait_line fake.log "^key 48 0" &&
    ok "a key typed into the window reaches the VMM as KEY_B" || notok "window key"

# A held key repeats as a PC keyboard's does (repeated presses, one release):
# guests on the PS/2 keyboard (firmware, boot loaders, Windows before its
# drivers) get no repeat otherwise; virtio-input guests ignore the extra
# presses and repeat by themselves.
xdotool keydown n; sleep 1.5; xdotool keyup n
wait_line fake.log "^key 49 0" && presses=$(grep -c '^key 49 1' fake.log) && [ "$presses" -ge 5 ] &&
    ok "a key held in the window repeats ($presses presses, one release)" ||
    notok "held key repeat (${presses:-no} presses)"

xdotool windowsize --sync "$wid" 1024 768 2>/dev/null
wait_line fake.log "^resize 1024 768" && shows_pattern 1024 768 &&
    ok "resizing the window asks for that mode, and the window shows it" || notok "window resize"

"$probe" 127.0.0.1:$port --timeout 10 $pattern > probe4.log 2>&1 &&
    ok "the VNC client sees the same frame as the window" || notok "two clients"

kill -KILL "$viewpid"; wait "$viewpid" 2>/dev/null; sleep 0.5
"$probe" 127.0.0.1:$port --timeout 10 $pattern --key c > probe5.log 2>&1 && wait_line fake.log "^key 46 1" &&
    kill -0 "${pids[0]}" &&
    ok "SIGKILL of domus-view disturbs neither the VMM nor the VNC client" || notok "viewer killed"
exit ${failed:+1}
