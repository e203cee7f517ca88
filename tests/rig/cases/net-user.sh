#!/bin/bash
# case-timeout: 300
# User-mode networking (--net user, libslirp) with a real guest driver
# (virtio_net): the guest gets its address by DHCP, downloads a file from an
# HTTP server on the host's loopback (10.0.2.2 is the host), and serves a
# page that the host fetches through a hostfwd port forward. Then the guest
# floods the network with TCP while it reads entropy and writes to its
# console: the other devices must keep working.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3 curl

. "$RIG_DIR/netlib.sh"
net_http_start
fwd_port=$((http_port + 10000))
done_port=$((fwd_port + 1))
# A TCP sink for the flood: counts what arrives.
sink_port=$((http_port + 1))
cat > sink.py <<'P'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
n = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    n += len(b)
    with open("flood-bytes", "w") as f:
        f.write(str(n))
P
spawn sink.log 600 python3 sink.py "$sink_port"
sink_pid=$SPAWNED_PID

net_udhcpc_script
guest_script net.sh <<'G'
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 2 >/dev/null 2>&1 || echo "guest-dhcp-failed"
echo "guest-addr=$(ip -4 -o addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')"
echo "guest-mac=$(cat /sys/class/net/eth0/address)"
wget -q -O /tmp/payload.bin "http://10.0.2.2:$(arg netport)/payload.bin" || echo "guest-wget-failed"
echo "guest-sum=$(md5sum < /tmp/payload.bin | cut -d' ' -f1)"
mkdir -p /www
echo "served-by-guest-$(arg token)" > /www/index.html
httpd -p 8080 -h /www
echo "guest-httpd-ready"
nc -l -p 8081 > /dev/null
echo "guest-forward-done"
# Flood: TCP to the host as fast as the guest can send, while other devices work.
dd if=/dev/zero bs=64k count=100000 2>/dev/null | nc 10.0.2.2 "$(arg sinkport)" &
flood=$!
sleep 1
start=$(date +%s)
head -c 65536 /dev/hwrng | wc -c | sed 's/^/guest-rng-bytes=/'
echo "console-during-flood" > /dev/hvc0
echo "guest-during-flood=$(( $(date +%s) - start ))s"
kill $flood 2>/dev/null
echo "guest-net-done"
G
build_guest guest.cpio.gz --add net.sh:/init.d/10-net --add udhcpc.sh:/etc/udhcpc.sh

token=$RANDOM$RANDOM
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet netport=$http_port sinkport=$sink_port token=$token" --name net-test \
    --console file:console.log \
    --net "user,hostfwd=tcp:127.0.0.1:$fwd_port-:8080,hostfwd=tcp:127.0.0.1:$done_port-:8081"
vmm=$SPAWNED_PID
wait_for_line serial.log "guest-httpd-ready" 300 "$vmm"
grep -q "guest-dhcp-failed" serial.log && fail "DHCP failed"
grep -q "guest-addr=10.0.2.15" serial.log || { show_tail serial.log; fail "the guest did not get 10.0.2.15 by DHCP"; }
grep -qE "guest-mac=02:d0:" serial.log || fail "the guest's MAC is not the one derived from the VM name"
grep -q "guest-sum=$want_sum" serial.log || { show_tail serial.log; fail "the guest's download differs from the host's file"; }
log "guest got its address by DHCP and downloaded 1 MiB from the host intact"
page=$(curl -s --max-time 60 "http://127.0.0.1:$fwd_port/index.html") || fail "cannot fetch the guest's page through hostfwd"
[ "$page" = "served-by-guest-$token" ] || fail "hostfwd page is '$page'"
log "host fetched the guest's page through the port forward"
echo done > "/dev/tcp/127.0.0.1/$done_port"
wait_for_line serial.log "guest-net-done" 200 "$vmm"
expect_exit 0 "$vmm"
grep -q "guest-rng-bytes=65536" serial.log || { show_tail serial.log; fail "virtio-rng starved during the network flood"; }
grep -q "console-during-flood" console.log || fail "virtio-console starved during the network flood"
flooded=$(cat flood-bytes 2>/dev/null || echo 0)
[ "$flooded" -gt 0 ] || fail "the guest's TCP flood never reached the host"
log "during a TCP flood ($flooded bytes reached the host): $(grep -o 'guest-during-flood=[0-9]*s' serial.log)"
kill "$http_pid" "$sink_pid" 2>/dev/null || :
