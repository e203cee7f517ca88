#!/bin/bash
# case-timeout: 450
# The NIC's cable pulled and plugged back in at run time through the control
# socket ({"execute":"set-link"}), for virtio-net and for e1000 (two guests
# at once, to keep the case short), each with Linux's own driver: the guest
# sees its carrier drop (and its ping to the host fail), then come back,
# after which DHCP, ping and a download from the host (HTTP) work again.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3

. "$RIG_DIR/netlib.sh"
net_http_start
token=$RANDOM$RANDOM
echo "link-$token" > www/link.txt
net_udhcpc_script
guest_script link.sh <<'G'
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# wait_carrier VALUE: up to 300 s for /sys/class/net/eth0/carrier to read
# VALUE (the host may still be busy with the other guest).
wait_carrier() {
    for i in $(seq 1500); do
        read -r c 2>/dev/null < /sys/class/net/eth0/carrier && [ "$c" = "$1" ] && return 0
        sleep 0.2
    done
    return 1
}
dhcp_ping() {
    udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 2 >/dev/null 2>&1 && echo "guest-$1-dhcp=ok"
    ping -c 1 -W 5 10.0.2.2 >/dev/null 2>&1 && echo "guest-$1-ping=ok"
}
echo "guest-driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
ip link set eth0 up
wait_carrier 1 && dhcp_ping before
echo "guest-link-ready"
wait_carrier 0 && echo "guest-carrier=0"
ping -c 1 -W 3 10.0.2.2 >/dev/null 2>&1 && echo "guest-down-ping=answered" || echo "guest-down-ping=lost"
echo "guest-down-checked"
wait_carrier 1 && echo "guest-carrier=1"
dhcp_ping after
echo "guest-after-fetch=$(wget -q -O - "http://10.0.2.2:$(arg netport)/link.txt")"
echo "guest-link-done"
G
GUEST_MODULES="$GUEST_MODULES e1000"
build_guest guest.cpio.gz --add link.sh:/init.d/10-link --add udhcpc.sh:/etc/udhcpc.sh

# link_cycle MODEL PID: pulls the cable of the guest with MODEL, checks it
# saw that, plugs it back in and checks the network works again.
link_cycle() {
    local model=$1 vmm=$2 log=serial-$1.log sock=$PWD/ctl-$1.sock t0=$SECONDS reply
    set_link() {
        reply=$(vmm_control "$sock" "{\"execute\":\"set-link\",\"arguments\":{\"up\":$1}}")
        echo "$reply" | grep -q '"return"' || fail "$model: set-link up=$1 failed: $reply"
    }
    wait_for_line "$log" "guest-link-ready" 300 "$vmm"
    grep -q "guest-before-ping=ok" "$log" || { show_tail "$log"; fail "$model: no DHCP/ping before the link change"; }
    set_link false
    wait_for_line "$log" "guest-down-checked" 120 "$vmm"
    grep -q "guest-carrier=0" "$log" || { show_tail "$log"; fail "$model: the guest did not see its carrier drop"; }
    grep -q "guest-down-ping=lost" "$log" || { show_tail "$log"; fail "$model: the host answered a ping with the cable out"; }
    set_link true
    wait_for_line "$log" "guest-link-done" 200 "$vmm"
    grep -q "guest-carrier=1" "$log" || { show_tail "$log"; fail "$model: the carrier did not come back"; }
    grep -q "guest-after-dhcp=ok" "$log" || { show_tail "$log"; fail "$model: DHCP failed after the link came back"; }
    grep -q "guest-after-ping=ok" "$log" || { show_tail "$log"; fail "$model: ping failed after the link came back"; }
    grep -q "guest-after-fetch=link-$token" "$log" || { show_tail "$log"; fail "$model: HTTP from the host failed after the link came back"; }
    log "$model ($(grep -o 'guest-driver=[a-z0-9_]*' "$log")): carrier dropped and returned; DHCP, ping and HTTP work after it (cycle done $((SECONDS - t0)) s after boot began)"
}

pids=()
for model in virtio e1000; do
    vmm_start "serial-$model.log" 500 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
        --append "console=ttyS0 quiet netport=$http_port" --name "link-$model" \
        --control "unix:$PWD/ctl-$model.sock" --net "user,model=$model"
    pids+=("$SPAWNED_PID")
done
link_cycle virtio "${pids[0]}" > cycle-virtio.log 2>&1 &
cycles=($!)
link_cycle e1000 "${pids[1]}" > cycle-e1000.log 2>&1 &
cycles+=($!)
rc=0
for i in 0 1; do wait "${cycles[$i]}" || rc=1; done
cat cycle-virtio.log cycle-e1000.log
[ $rc = 0 ] || fail "a link cycle failed (above)"
expect_exit 0 "${pids[0]}"
expect_exit 0 "${pids[1]}"
kill "$http_pid" 2>/dev/null || :
