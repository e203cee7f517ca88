#!/bin/bash
# case-timeout: 450
# The control socket: status, pause/resume (the guest really stops: its
# clock-driven output stalls), a malformed request gets an error without
# harm, and powerdown turns the guest off through ACPI (exit 0).
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3

guest_script ticker.sh <<'G'
i=0
while true; do i=$((i + 1)); echo "tick $i"; sleep 0.2; done
G
build_guest guest.cpio.gz --add ticker.sh:/init.d/10-ticker
vmm_start serial.log 300 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --control "unix:$PWD/ctl.sock" --name rig-control
wait_for_line serial.log "tick 3" 200

ctl() { vmm_control "$PWD/ctl.sock" "$@"; }
status=$(ctl '{"execute":"status"}')
log "status: $status"
echo "$status" | grep -q '"state" *: *"running"' || fail "status does not say running: $status"
echo "$status" | grep -q '"name" *: *"rig-control"' || fail "status lacks the VM name: $status"

reply=$(ctl 'this is not json' '{"execute":"status"}')
echo "$reply" | head -1 | grep -q '"error"' || fail "garbage did not get an error reply: $reply"
echo "$reply" | tail -1 | grep -q '"running"' || fail "the socket stopped answering after garbage"

ctl '{"execute":"pause"}' | grep -q '"return"' || fail "pause failed"
ctl '{"execute":"status"}' | grep -q '"paused"' || fail "status does not say paused"
before=$(grep -c tick serial.log)
sleep 3
after=$(grep -c tick serial.log)
[ "$before" = "$after" ] || fail "the guest kept running while paused ($before -> $after ticks)"
ctl '{"execute":"resume"}' | grep -q '"return"' || fail "resume failed"
wait_for_line serial.log "tick $((after + 3))" 60

ctl '{"execute":"powerdown"}' | grep -q '"return"' || fail "powerdown failed"
expect_exit 0
