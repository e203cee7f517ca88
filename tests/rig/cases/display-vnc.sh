#!/bin/bash
# case-timeout: 400
# A Debian guest on virtio-gpu paints a known pattern into /dev/fb0; domus-vnc
# (started by domus-vmm for --display vnc) serves it and a libvncclient
# client sees the pattern, types a key that the guest reads from its virtio
# keyboard, and asks for 800x600, which becomes the guest's preferred mode.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd gcc
BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
probe=$BUILD_DIR/tests/display/vnc-probe
[ -x "$probe" ] && [ -x "$BUILD_DIR/vdisplay/domus-vnc" ] || skip "domus-vnc/vnc-probe not built (libvncserver-dev missing)"
cp "$BUILD_DIR/tests/display/guest-fb" guest-fb 2>/dev/null ||
    gcc -static -O2 -I/usr/include/libdrm -o guest-fb "$SRC_DIR/tests/display/guest-fb.c" || fail "cannot build guest-fb"

GUEST_MODULES="$GUEST_MODULES virtio_gpu virtio_input"
guest_script run.sh <<'G'
for i in $(seq 1 100); do [ -e /dev/fb0 ] && break; sleep 0.1; done
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
guest-fb mode
guest-fb keys 120 &
sleep 0.5
guest-fb paint
n=0
while [ $n -lt 1200 ]; do
    guest-fb mode | grep -q " 800x600" && { echo "guest-mode-800x600"; break; }
    sleep 0.1; n=$((n + 1))
done
wait
echo "guest-done"
G
build_guest guest.cpio.gz --add guest-fb:/bin/guest-fb --add run.sh:/init.d/10-run

vmm_start serial.log 300 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet vt.global_cursor_default=0" --display vnc
wait_for_line serial.log.err "domus-vnc: listening on 127.0.0.1:[0-9]+" 60
port=$(sed -n 's/.*domus-vnc: listening on 127.0.0.1:\([0-9]*\).*/\1/p' serial.log.err | head -n1)
log "domus-vnc on port $port"
wait_for_line serial.log "guest-fb: painted" 120

"$probe" 127.0.0.1:$port --timeout 30 --key a \
    --expect 200,300,ff0000 --expect -200,300,0000ff --expect 64,64,ffffff --expect -64,-64,00ff00 ||
    { show_tail serial.log; fail "the VNC client does not see the guest's pattern"; }
wait_for_line serial.log "^key 30 1" 30
wait_for_line serial.log "^key 30 0" 10
log "the guest read the key typed over VNC"

"$probe" 127.0.0.1:$port --timeout 30 --resize 800x600 --hold 1 || fail "desktop size request failed"
wait_for_line serial.log "guest-mode-800x600" 60
log "the guest's preferred mode follows the client's size request"

"$probe" 127.0.0.1:$port --timeout 30 --key 0xff1b || fail "cannot send Escape"
wait_for_line serial.log "guest-done" 30
expect_exit 0
