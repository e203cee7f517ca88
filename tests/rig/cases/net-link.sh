#!/bin/bash
# The NIC's cable pulled and plugged back in at run time through the control
# socket ({"execute":"set-link"}), for virtio-net and for e1000, each with
# Linux's own driver: the guest sees its carrier drop (and its ping to the
# host fail), then come back, after which DHCP, ping and a download from the
# host (HTTP) work again.
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
# wait_carrier VALUE: up to 60 s for /sys/class/net/eth0/carrier to read VALUE.
wait_carrier() {
    for i in $(seq 600); do [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done
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

# set_link UP: the request and its reply.
set_link() {
    local reply
    reply=$(vmm_control "$PWD/ctl.sock" "{\"execute\":\"set-link\",\"arguments\":{\"up\":$1}}")
    echo "$reply" | grep -q '"return"' || fail "set-link up=$1 failed: $reply"
}

for model in virtio e1000; do
    t0=$SECONDS
    rm -f ctl.sock
    vmm_start "serial-$model.log" 300 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
        --append "console=ttyS0 quiet netport=$http_port" --name "link-$model" \
        --control "unix:$PWD/ctl.sock" --net "user,model=$model"
    vmm=$SPAWNED_PID
    log=serial-$model.log
    wait_for_line "$log" "guest-link-ready" 200 "$vmm"
    grep -q "guest-before-ping=ok" "$log" || { show_tail "$log"; fail "$model: no DHCP/ping before the link change"; }
    set_link false
    wait_for_line "$log" "guest-down-checked" 60 "$vmm"
    grep -q "guest-carrier=0" "$log" || { show_tail "$log"; fail "$model: the guest did not see its carrier drop"; }
    grep -q "guest-down-ping=lost" "$log" || { show_tail "$log"; fail "$model: the host answered a ping with the cable out"; }
    set_link true
    wait_for_line "$log" "guest-link-done" 120 "$vmm"
    grep -q "guest-carrier=1" "$log" || { show_tail "$log"; fail "$model: the carrier did not come back"; }
    grep -q "guest-after-dhcp=ok" "$log" || { show_tail "$log"; fail "$model: DHCP failed after the link came back"; }
    grep -q "guest-after-ping=ok" "$log" || { show_tail "$log"; fail "$model: ping failed after the link came back"; }
    grep -q "guest-after-fetch=link-$token" "$log" || { show_tail "$log"; fail "$model: HTTP from the host failed after the link came back"; }
    log "$model ($(grep -o 'guest-driver=[a-z0-9_]*' "$log")): carrier dropped and returned; DHCP, ping and HTTP work after it ($((SECONDS - t0)) s)"
    expect_exit 0 "$vmm"
done
kill "$http_pid" 2>/dev/null || :
