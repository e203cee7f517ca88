#!/bin/bash
# The ACPI power button turns off a mkguest guest sitting at its shell (as
# the demo guest does): mkguest's init runs busybox acpid when the "button
# evdev" modules give it an input device. QEMU's monitor presses the button.
set -eu
. "$RIG_LIB"
require_kvm
require_cmd qemu-system-x86_64

build_guest guest.cpio.gz
# The monitor on a pair of FIFOs (QEMU opens mon.in read-write, so writing to
# it never blocks); no socket client needed.
mkfifo mon.in mon.out
spawn serial.log 300 qemu-system-x86_64 -accel kvm -cpu host -machine q35 \
    -m 256M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$GUEST_KERNEL" -initrd guest.cpio.gz \
    -append "console=ttyS0 quiet panic=-1" -serial stdio \
    -chardev pipe,id=mon,path=mon -mon chardev=mon,mode=readline
exec 3<>mon.out   # drain the monitor's replies so QEMU never blocks on them
cat <&3 >/dev/null &
wait_for_line serial.log 'mkguest: userspace ready' 240
sleep 2   # let the shell start: the button must work from there
log "pressing the power button"
echo system_powerdown > mon.in
pressed=$SECONDS
expect_exit 0
log "guest powered off $((SECONDS - pressed))s after the button press"
