#!/bin/bash
# case-timeout: 1500
# Stress reproducer (not in rig_cases; run by hand, see tests/rig/README.md):
# the net-flood guest floods the host through --net user for STRESS_SECONDS
# (600) while the host keeps its serial console busy, each answer due within
# STRESS_LIMIT (60) seconds. STRESS_KINDS picks the rounds (echo, rng, disk,
# type-ahead: all), STRESS_FLOOD the senders (udp,tcp); the flood restarts
# every 8th round, and each round has a new serial client unless
# STRESS_RECONNECT=0; STRESS_APPEND adds to the guest's command line. A
# stall shows the VMM's threads, the KVM trace of COM1 and GSI 4 and 1 s of
# the guest's exits (QEMU rig), the vCPU, LAPIC, IOAPIC and UART state and
# the code at RIP (stall-diag.py), and whether output resumes after one more
# input byte or an XON.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3

secs=${STRESS_SECONDS:-600} limit=${STRESS_LIMIT:-60}
. "$RIG_DIR/netlib.sh"
net_sink_start
net_flood_guest guest.cpio.gz
head -c 4M /dev/urandom > disk.img
want_sum=$(md5sum < disk.img | cut -d' ' -f1)

kvm_trace_start
args=(--memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz
      --append "console=ttyS0 quiet mkguest.shell=1 ${STRESS_APPEND:-}" --disk disk.img,readonly --net user
      --serial "unix:$PWD/ser.sock" --control "unix:$PWD/ctl.sock" --name serial-stress)
log "domus-vmm ${args[*]}"
spawn vmm.log $((secs + 600)) "$DOMUS_VMM" "${args[@]}"
vmm=$SPAWNED_PID
# what a stall is shown with
cat > diag.sh <<D
. "$RIG_LIB"; trap - EXIT; KVM_TRACE_ON=${KVM_TRACE_ON:-}
show_stuck $vmm
kvm_trace_show
python3 "$RIG_DIR/stall-diag.py" "$PWD/ser.sock" "$PWD/ctl.sock"
D

python3 "$RIG_DIR/serial-drive.py" "$PWD/ser.sock" "$PWD/ctl.sock" \
    'ask:echo $((40+2))=>^42$' 'send:net-up' 'want:^guest-addr=10\.0\.2\.15' ||
    fail "the guest did not come up"
# STRESS_FLOOD: which senders (default udp,tcp: 4 UDP and 2 TCP streams)
flood=
case ${STRESS_FLOOD:-udp,tcp} in *udp*) flood+="net-flood udp 10.0.2.2 $sink_port 4 $((secs + 300)) >/dev/null & " ;; esac
case ${STRESS_FLOOD:-udp,tcp} in *tcp*) flood+="net-flood tcp 10.0.2.2 $sink_port 2 $((secs + 300)) >/dev/null & " ;; esac
python3 "$RIG_DIR/serial-drive.py" "$PWD/ser.sock" "$PWD/ctl.sock" "send:${flood}echo flood-\$((1+2))" \
    'want:^flood-3$' || fail "the flood did not start"
deadline=$((SECONDS + 120))
until read -r u t < sink.count && { [ "$u" -gt 0 ] || [ "$t" -gt 0 ]; }; do
    [ $SECONDS -lt $deadline ] || fail "the flood does not reach the host: $(net_sink_count)"
    sleep 0.5
done
log "flood flowing; stressing the console for ${secs}s (answers due within ${limit}s)"
export FLOOD_RESTART="killall net-flood; ${flood% }" SERIAL_RECONNECT=${STRESS_RECONNECT:-1} STRESS_KINDS=${STRESS_KINDS:-echo,rng,disk,type-ahead}
rc=0
python3 "$RIG_DIR/serial-stress.py" "$PWD/ser.sock" "$PWD/ctl.sock" "$secs" "$limit" "$want_sum" "bash $PWD/diag.sh" || rc=$?
read -r u1 t1 < sink.count
log "flood at the host: $u1 datagrams, $t1 TCP bytes"
pid=$(pgrep -f -- "--name serial-stress" | tail -1) &&
    ps -L -o comm=,time= -p "$pid" | grep -E '^(io|vcpu)' | tr -s ' \n' ' ' | sed 's/^/CPU time: /' || :
echo
show_tail vmm.log.err 10
[ $rc = 0 ] || fail "the serial console stalled under the flood"
kill "$vmm" "$sink_pid" 2>/dev/null || :
