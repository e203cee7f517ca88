#!/bin/bash
# case-timeout: 420
# A guest flooding the network does not starve the VMM's other devices
# (--net user, libslirp): in one boot the guest floods the host with UDP
# datagrams (4 senders) and TCP streams (2) as fast as its stack sends, and
# meanwhile its serial console answers, it reads 4 MiB from virtio-blk with
# the host's content and takes entropy from virtio-rng. The host counts the
# flood arriving before and after those checks, so it flowed all the while.
# Limits are generous: the checks must finish, not finish fast.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3

. "$RIG_DIR/netlib.sh"
net_sink_start
net_flood_guest guest.cpio.gz

head -c 4M /dev/urandom > disk.img
kvm_trace_start                      # for a stall's diagnosis (in the rig)
want_sum=$(md5sum < disk.img | cut -d' ' -f1)
args=(--memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz
      --append "console=ttyS0 quiet mkguest.shell=1" --disk disk.img,readonly --net user
      --serial "unix:$PWD/ser.sock" --control "unix:$PWD/ctl.sock" --name net-flood)
log "domus-vmm ${args[*]}"
spawn vmm.log 600 "$DOMUS_VMM" "${args[@]}"
vmm=$SPAWNED_PID
drive() {
    python3 "$RIG_DIR/serial-drive.py" "$PWD/ser.sock" "$PWD/ctl.sock" "$@" && return
    show_tail serial-drive.log 15
    show_tail vmm.log.err 15
    if kill -0 "$vmm" 2>/dev/null; then
        show_stuck "$vmm"            # a guest or VMM that stopped answering: where its threads are
        kvm_trace_show
        python3 "$RIG_DIR/stall-diag.py" "$PWD/ser.sock" "$PWD/ctl.sock"
    else
        local rc=0; wait "$vmm" || rc=$?; echo "domus-vmm exited with status $rc"
    fi
    fail "serial console: step failed"
}

drive 'ask:echo $((40+2))=>^42$' 'send:net-up' 'want:^guest-addr=10\.0\.2\.15'
log "guest up with its address by DHCP at ${SECONDS}s"
# (net-flood runs itself at nice 19: the guest's scheduler lets the checks
# in, so what is tested is the VMM's fairness.)
drive "send:net-flood udp 10.0.2.2 $sink_port 4 600 >/dev/null & net-flood tcp 10.0.2.2 $sink_port 2 600 >/dev/null & echo flood-\$((1+2))" \
      'want:^flood-3$'

# flood_flowing: waits (120 s at most) until both counters grew past $1 $2.
flood_flowing() {
    local deadline=$((SECONDS + 120)) u t
    while [ $SECONDS -lt $deadline ]; do
        read -r u t < sink.count
        [ "$u" -gt "$1" ] && [ "$t" -gt "$2" ] && return 0
        sleep 0.5
    done
    fail "the flood does not reach the host: $(net_sink_count) (datagrams, TCP bytes), wanted more than $1 $2"
}
flood_flowing 0 0
read -r udp0 tcp0 < sink.count
log "flood flowing at ${SECONDS}s: $udp0 datagrams and $tcp0 TCP bytes at the host so far"

log "reading virtio-blk and virtio-rng and using the console under the flood"
start=$SECONDS
drive "send:echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | md5sum; echo disk-\$((2+2))" \
      "want:^$want_sum@300" 'want:^disk-4$@60' \
      'send:head -c 4096 /dev/hwrng | wc -c; echo rng-$((2+3))' 'want:^ *4096$@120' 'want:^rng-5$@60' \
      'send:echo serial-$((6*7))' 'want:^serial-42$@120'
took=$((SECONDS - start))
# For the record: the I/O thread's CPU time so far says whether the flood saturated it.
ps -L -o comm=,time= -p "$(pgrep -f -- "--name net-flood" | tail -1)" | grep -E '^(io|vcpu)' | tr -s ' \n' ' ' | sed 's/^/CPU time: /' || :
echo
read -r udp1 tcp1 < sink.count
log "under the flood: 4 MiB read intact from virtio-blk, 4 KiB from virtio-rng, console answered (${took}s)"
[ "$udp1" -gt "$udp0" ] && [ "$tcp1" -gt "$tcp0" ] ||
    fail "the flood stopped while the other devices worked: $udp0 -> $udp1 datagrams, $tcp0 -> $tcp1 TCP bytes"
flood_flowing "$udp1" "$tcp1"
log "the flood went on meanwhile: $udp1 datagrams, $tcp1 TCP bytes at the host"

# The flood stops (and the link goes down) before the power-off: Debian 12's
# kernel breaks virtio queues at shutdown (virtio_dev_shutdown) but lacks
# Linux 0d0eff39ceb3 ("virtio_ring: fix infinite loop in
# virtnet_poll_cleantx when device is broken"), so a guest powered off in
# mid-flood can spin before it ever writes S5, on any VMM (here 1 run in 8;
# seen with Firecracker too). That is the guest's bug, and why `domus stop`
# forces the VM off after its timeout.
log "stopping the flood, powering off"
drive 'send:cat /sys/class/net/eth0/statistics/tx_packets; echo tx-$((3+4))' 'want:^tx-7$@60' \
      'send:killall net-flood; ip link set eth0 down; echo quiet-$((4+4))' 'want:^quiet-8$@60' \
      'send:poweroff -f' 'want:reboot: Power down@120'
expect_exit 0 "$vmm" 60
tr -d '\r' < serial-drive.log | grep -B1 '^tx-7' | head -1 | sed 's/^/guest tx_packets: /'
kill "$sink_pid" 2>/dev/null || :
