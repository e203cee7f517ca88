#!/bin/bash
# Standard VGA through firmware, seen and typed into over VNC: SeaBIOS runs
# Debian's vgabios from the VGA's ROM BAR and its banner appears on the VNC
# screen; then GRUB's text menu does, and Down + Enter typed in a
# libvncclient client reach GRUB through the PS/2 keyboard and pick the
# second entry. The screen is read by comparing every text cell with the
# glyphs of the VGA BIOS's own 8x16 font (tests/rig/vga-text.py): no OCR.
set -eu
. "$RIG_LIB"
require_vmm
rom=/usr/share/seabios/vgabios-stdvga.bin
[ -r /usr/share/seabios/bios-256k.bin ] && [ -r "$rom" ] || skip "seabios is not installed"
BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
probe=$BUILD_DIR/tests/display/vnc-probe
[ -x "$probe" ] && [ -x "$BUILD_DIR/vdisplay/domus-vnc" ] || skip "domus-vnc/vnc-probe not built (libvncserver-dev missing)"
require_cmd python3 grub-mkrescue xorriso mformat

vnc_port() {
    wait_for_line "$1.err" "domus-vnc: listening on 127.0.0.1:[0-9]+" 60
    sed -n 's/.*domus-vnc: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$1.err" | head -n1
}

# screen_has PORT TIMEOUT TEXT...: polls the VNC screen until every TEXT is on it.
screen_has() {
    local port=$1 deadline=$((SECONDS + $2)); shift 2
    while [ $SECONDS -lt $deadline ] && kill -0 "$SPAWNED_PID" 2>/dev/null; do
        if "$probe" "127.0.0.1:$port" --timeout 20 --hold 1 --dump screen.ppm >probe.log 2>&1 &&
           python3 "$RIG_DIR/vga-text.py" screen.ppm "$rom" "$@" >text.log; then
            cat text.log
            return 0
        fi
        sleep 2
    done
    cat text.log probe.log 2>/dev/null || :
    show_tail "$SPAWNED_LOG"
    fail "not on the VNC screen: $*"
}

# 1. No bootable disk: SeaBIOS's banner and its complaint stay on screen.
start=$SECONDS
vmm_start bios.log 300 --memory 256M --firmware bios --firmware-log fw1.log --display vnc
port=$(vnc_port bios.log)
screen_has "$port" 180 "SeaBIOS (version" "No bootable device"
log "SeaBIOS on the VNC screen after $((SECONDS - start))s"
grep -q "Running option rom at c000" fw1.log || fail "SeaBIOS did not run the VGA's option ROM"
kill "$SPAWNED_PID"
wait_exit || :

# 2. GRUB's menu in text mode; its input only from the PS/2 keyboard.
mkdir -p iso/boot/grub
cat > iso/boot/grub/grub.cfg <<'CFG'
serial --unit=0 --speed=115200
terminal_input console
terminal_output serial console
set timeout=-1
menuentry "Domus VGA: first entry" {
    echo "grub: picked the first entry"
    sleep 3600
}
menuentry "Domus VGA: second entry" {
    echo "grub: picked the second entry"
    sleep 3600
}
CFG
grub-mkrescue -o boot.iso iso >grub-mkrescue.log 2>&1 || { cat grub-mkrescue.log; fail "grub-mkrescue failed"; }
start=$SECONDS
vmm_start grub.log 300 --memory 256M --firmware bios --firmware-log fw2.log --disk boot.iso,readonly --display vnc
port=$(vnc_port grub.log)
screen_has "$port" 180 "GNU GRUB" "Domus VGA: first entry" "Domus VGA: second entry"
log "GRUB's menu on the VNC screen after $((SECONDS - start))s"
"$probe" "127.0.0.1:$port" --timeout 20 --key 0xff54 --key 0xff0d >probe.log 2>&1 ||
    { cat probe.log; fail "cannot type into the VNC session"; }
wait_for_line grub.log "grub: picked the second entry" 60
log "Down, Enter over VNC reached GRUB through the PS/2 keyboard"
screen_has "$port" 60 "grub: picked the second entry"
