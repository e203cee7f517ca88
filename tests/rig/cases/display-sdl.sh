#!/bin/bash
# domus-view under Xvfb and domus-vnc at once (--display sdl --display vnc):
# a screenshot of the window and a libvncclient client both show the guest's
# pattern; a key typed into the window with xdotool reaches the guest's
# virtio keyboard; domus-view killed with SIGKILL disturbs neither the guest
# nor the VNC client.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd gcc Xvfb xdotool import
BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
probe=$BUILD_DIR/tests/display/vnc-probe
[ -x "$probe" ] && [ -x "$BUILD_DIR/vdisplay/domus-vnc" ] && [ -x "$BUILD_DIR/vdisplay/domus-view" ] ||
    skip "domus-vnc/domus-view/vnc-probe not built (libvncserver-dev, libsdl2-dev)"
gcc -static -O2 -I/usr/include/libdrm -o guest-fb "$SRC_DIR/tests/display/guest-fb.c" || fail "cannot build guest-fb"

GUEST_MODULES="$GUEST_MODULES virtio_gpu virtio_input"
guest_script run.sh <<'G'
for i in $(seq 1 100); do [ -e /dev/fb0 ] && break; sleep 0.1; done
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
guest-fb keys 240 &
sleep 0.5
guest-fb paint
wait
echo "guest-done"
G
build_guest guest.cpio.gz --add guest-fb:/bin/guest-fb --add run.sh:/init.d/10-run

# The rig has no X: this case brings its own.
spawn xvfb.log 400 Xvfb :57 -screen 0 1280x1024x24 -nolisten tcp
export DISPLAY=:57
# Under the rig's emulated CPU, GL through llvmpipe is far too slow to be
# useful; SDL's software renderer draws the same pixels.
export SDL_RENDER_DRIVER=software
for i in $(seq 1 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.2; done

vmm_start serial.log 400 --name rig-sdl --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet vt.global_cursor_default=0" --display sdl --display vnc
vmm=$SPAWNED_PID
wait_for_line serial.log.err "domus-vnc: listening on 127.0.0.1:[0-9]+" 60
port=$(sed -n 's/.*domus-vnc: listening on 127.0.0.1:\([0-9]*\).*/\1/p' serial.log.err | head -n1)
wait_for_line serial.log "guest-fb: painted 1024x768" 120
log "guest painted; domus-vnc on $port"

wid=
for i in $(seq 1 100); do
    wid=$(xdotool search --onlyvisible --name '^rig-sdl' 2>/dev/null | head -n1) && [ -n "$wid" ] && break
    sleep 0.2
done
[ -n "$wid" ] || { show_tail serial.log.err; fail "no domus-view window titled rig-sdl"; }
log "window $wid"
timeout 10 xdotool windowmove --sync "$wid" 0 0 || :     # wholly on the screen, for import

# One ImageMagick run per screenshot (each is slow on the rig's emulated CPU).
want="1024 768 ff0000 0000ff ffffff 00ff00"
got=
for i in $(seq 1 15); do
    # The window sits at 0,0 and Xvfb has no window manager: the root's corner is the window.
    if timeout 60 import -window root -crop 1024x768+0+0 +repage shot.png 2>/dev/null; then
        got=$(convert shot.png -format '%w %h %[hex:u.p{200,300}] %[hex:u.p{824,300}] %[hex:u.p{64,64}] %[hex:u.p{960,704}]' info: 2>/dev/null |
              tr 'A-F' 'a-f' | sed -E 's/([0-9a-f]{6})[0-9a-f]{2}/\1/g')
        [ "$got" = "$want" ] && break
    fi
    log "screenshot $i: ${got:-none}"
    kill -0 "$vmm" 2>/dev/null || break
    sleep 2
done
[ "$got" = "$want" ] || { show_tail serial.log.err; fail "window screenshot is '$got', wanted '$want'"; }
log "the window shows the guest's pattern"

"$probe" 127.0.0.1:$port --timeout 30 \
    --expect 200,300,ff0000 --expect -200,300,0000ff --expect 64,64,ffffff --expect -64,-64,00ff00 ||
    fail "the VNC client does not see the same frame"

timeout 10 xdotool windowfocus --sync "$wid" 2>/dev/null || xdotool windowfocus "$wid"
xdotool key b
wait_for_line serial.log "^key 48 1" 30
log "a key typed into the window reached the guest"

viewpid=$(xdotool getwindowpid "$wid")
[ -n "$viewpid" ] || fail "cannot find domus-view's pid"
kill -KILL "$viewpid"
sleep 1
kill -0 "$vmm" 2>/dev/null || fail "domus-vmm died with its viewer"
"$probe" 127.0.0.1:$port --timeout 30 --key c --expect 200,300,ff0000 --expect 64,64,ffffff ||
    fail "the VNC client lost the guest after domus-view was killed"
wait_for_line serial.log "^key 46 1" 30
log "SIGKILL of domus-view left the guest and the VNC client working"

"$probe" 127.0.0.1:$port --timeout 30 --key 0xff1b || fail "cannot send Escape"
wait_for_line serial.log "guest-done" 30 "$vmm"
expect_exit 0 "$vmm"
