#!/bin/bash
# case-timeout: 300
# A guest reboot restarts the VM in the same domus-vmm process: the second
# boot finds what the first wrote to disk and powers off (exit 0).
set -eu
. "$RIG_LIB"
require_vmm

guest_script reboot.sh <<'G'
if dd if=/dev/vda bs=512 count=1 2>/dev/null | grep -q BOOTED-ONCE; then
    echo "second boot"
    # keep the VM up a moment so the host can look at the process before
    # the power-off ends it (on hardware KVM the rest of init takes ms)
    sleep 10
else
    printf BOOTED-ONCE | dd of=/dev/vda bs=512 conv=sync 2>/dev/null
    sync
    echo "first boot, rebooting"
    reboot -f
    sleep 60
fi
G
build_guest guest.cpio.gz --add reboot.sh:/init.d/10-reboot
truncate -s 16M disk.img
vmm_start serial.log 300 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --disk disk.img
wait_for_line serial.log "first boot, rebooting" 200
vmm_pid=$(pgrep -P "$SPAWNED_PID")
wait_for_line serial.log "second boot" 200
[ "$(pgrep -P "$SPAWNED_PID")" = "$vmm_pid" ] || fail "domus-vmm's PID changed across the reboot"
expect_exit 0
