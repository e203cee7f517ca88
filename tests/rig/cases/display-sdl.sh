#!/bin/bash
# case-timeout: 450
# domus-view under Xvfb with a Debian guest on virtio-gpu (--display sdl):
# the window, titled with the VM's name, shows the pattern the guest painted
# into /dev/fb0; a key typed into it reaches the guest's virtio keyboard;
# closing the window (as a window manager's close button does) leaves the
# VM running; `domus-view --channel` attaches a new window, which takes its
# title from the VM; resizing that window makes its size the guest's
# preferred mode; Escape typed into it ends the guest.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd gcc Xvfb xdotool python3
BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
view=$BUILD_DIR/vdisplay/domus-view
xwin=$SRC_DIR/tests/display/xwin.py
[ -x "$view" ] || skip "domus-view not built (libsdl2-dev)"
cp "$BUILD_DIR/tests/display/guest-fb" guest-fb 2>/dev/null ||
    gcc -static -O2 -I/usr/include/libdrm -o guest-fb "$SRC_DIR/tests/display/guest-fb.c" || fail "cannot build guest-fb"

GUEST_MODULES="$GUEST_MODULES virtio_gpu virtio_input"
guest_script run.sh <<'G'
for i in $(seq 1 100); do [ -e /dev/fb0 ] && break; sleep 0.1; done
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
guest-fb keys 900 &
sleep 0.5
guest-fb paint
guest-fb wait-mode 800x600 900
wait
echo "guest-done"
G
build_guest guest.cpio.gz --add guest-fb:/bin/guest-fb --add run.sh:/init.d/10-run

# The rig has no X: this case brings its own, without a window manager (so
# windows take exactly the geometry asked for).
spawn xvfb.log 600 Xvfb :57 -screen 0 1600x1200x24 -nolisten tcp
export DISPLAY=:57
for i in $(seq 1 100); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.2; done
xdotool getdisplaygeometry >/dev/null 2>&1 || fail "Xvfb did not start"
# GL through llvmpipe on the rig's emulated CPU is far too slow (and has
# crashed there). SDL's software renderer draws the same pixels, but SDL
# would still present its window surface through a GL texture (recreating
# the X window, so ids found earlier die with BadWindow) unless told not to.
export SDL_RENDER_DRIVER=software SDL_FRAMEBUFFER_ACCELERATION=0

chan=$CASE_TMPDIR/vm.display
vmm_start serial.log 600 --name rig-sdl --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet vt.global_cursor_default=0" --display sdl --display "channel:$chan"
vmm=$SPAWNED_PID

# find_window TITLE-REGEX: the id of the visible window so titled.
find_window() {
    local w i
    for i in $(seq 1 150); do
        w=$(xdotool search --onlyvisible --name "$1" 2>/dev/null | head -n1)
        [ -n "$w" ] && { echo "$w"; return 0; }
        kill -0 "$vmm" 2>/dev/null || return 1
        sleep 0.4
    done
    return 1
}
# shows_pattern WID W H: the window is WxH and shows the guest's pattern.
shows_pattern() {
    local got= i want="${2}x$3 ff0000 0000ff ffffff 00ff00"
    for i in $(seq 1 90); do
        got=$(python3 "$xwin" pixels "$1" 200,300 -200,300 64,64 -64,-64 2>&1) || :
        [ "$got" = "$want" ] && return 0
        kill -0 "$vmm" 2>/dev/null || break
        sleep 1
    done
    log "window $1 shows '$got', wanted '$want'"
    return 1
}
# type_key WID KEY CODE: types KEY into the window until the guest reports
# evdev CODE pressed (a key typed before the guest listens is lost).
type_key() {
    local i
    for i in 1 2 3 4 5 6; do
        timeout 20 xdotool windowfocus --sync "$1" 2>/dev/null || xdotool windowfocus "$1" 2>/dev/null || :
        xdotool key --delay 100 "$2"
        for _ in $(seq 1 50); do grep -q "^key $3 1" serial.log && return 0; sleep 0.2; done
    done
    return 1
}

wait_for_line serial.log "guest-fb: painted 1024x768" 180 "$vmm"
wait_for_line serial.log "guest-fb: reading .*keyboard" 60 "$vmm"
wid=$(find_window '^rig-sdl') || { show_tail serial.log.err; fail "no domus-view window titled rig-sdl"; }
viewpid=$(xdotool getwindowpid "$wid") || fail "cannot find domus-view's pid"
log "window $wid (domus-view pid $viewpid)"
shows_pattern "$wid" 1024 768 || { show_tail serial.log.err; fail "the window does not show the guest's pattern"; }
log "the window shows the guest's pattern"

type_key "$wid" b 48 || fail "a key typed into the window did not reach the guest"
log "a key typed into the window reached the guest"

python3 "$xwin" close "$wid" || fail "cannot close the window"
for i in $(seq 1 100); do kill -0 "$viewpid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$viewpid" 2>/dev/null && fail "domus-view did not quit when its window was closed"
sleep 1
kill -0 "$vmm" 2>/dev/null || fail "domus-vmm ended with its window"
log "closing the window quit domus-view; the VM runs on"

# No --name: the title comes from the VM.
"$view" --channel "$chan" > view2.log 2>&1 &
_rig_pids+=($!)
wid=$(find_window '^rig-sdl') || { show_tail view2.log; fail "domus-view --channel opened no window titled rig-sdl"; }
shows_pattern "$wid" 1024 768 || { show_tail view2.log; fail "the reattached window does not show the guest's pattern"; }
log "domus-view --channel reattached: window $wid shows the guest's pattern"

timeout 20 xdotool windowsize --sync "$wid" 800 600 || xdotool windowsize "$wid" 800 600
wait_for_line serial.log "guest-mode-800x600" 90 "$vmm"
log "resizing the window to 800x600 made that the guest's preferred mode"

type_key "$wid" Escape 1 || fail "Escape typed into the reattached window did not reach the guest"
wait_for_line serial.log "guest-done" 60 "$vmm"
expect_exit 0 "$vmm"
