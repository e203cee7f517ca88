#!/bin/bash
# case-timeout: 300
# --net user,model=e1000 with Linux's own e1000 driver (what guests without
# virtio drivers use): the link comes up, DHCP gives 10.0.2.15, the guest
# downloads 1 MiB from an HTTP server on the host intact (receive path),
# uploads it back over TCP intact (transmit path: checksum and TCP
# segmentation offload), and the host fetches the guest's page through a
# hostfwd port forward.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3 curl

. "$RIG_DIR/netlib.sh"
net_http_start
fwd_port=$((http_port + 10000))
done_port=$((fwd_port + 1))
sink_port=$((http_port + 1))
cat > sink.py <<'P'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
with open("upload.bin", "wb") as f:
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        f.write(b)
P
spawn sink.log 600 python3 sink.py "$sink_port"
sink_pid=$SPAWNED_PID

net_udhcpc_script
guest_script net.sh <<'G'
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
echo "guest-nic=$(cat /sys/class/net/eth0/device/vendor):$(cat /sys/class/net/eth0/device/device) driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
ip link set eth0 up
for i in $(seq 50); do [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ] && break; sleep 0.2; done
echo "guest-carrier=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"
udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 2 >/dev/null 2>&1 || echo "guest-dhcp-failed"
echo "guest-addr=$(ip -4 -o addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')"
wget -q -O /tmp/payload.bin "http://10.0.2.2:$(arg netport)/payload.bin" || echo "guest-wget-failed"
echo "guest-sum=$(md5sum < /tmp/payload.bin | cut -d' ' -f1)"
nc 10.0.2.2 "$(arg sinkport)" < /tmp/payload.bin && echo "guest-upload-done"
mkdir -p /www
echo "served-by-guest-$(arg token)" > /www/index.html
httpd -p 8080 -h /www
echo "guest-httpd-ready"
nc -l -p 8081 > /dev/null
echo "guest-net-done"
G
GUEST_MODULES="$GUEST_MODULES e1000"
build_guest guest.cpio.gz --add net.sh:/init.d/10-net --add udhcpc.sh:/etc/udhcpc.sh

token=$RANDOM$RANDOM
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet netport=$http_port sinkport=$sink_port token=$token" --name net-e1000 \
    --net "user,model=e1000,hostfwd=tcp:127.0.0.1:$fwd_port-:8080,hostfwd=tcp:127.0.0.1:$done_port-:8081"
vmm=$SPAWNED_PID
wait_for_line serial.log "guest-httpd-ready" 300 "$vmm"
grep -q "guest-nic=0x8086:0x100e driver=e1000" serial.log || { show_tail serial.log; fail "no 8086:100e NIC bound to the e1000 driver"; }
grep -q "guest-carrier=1" serial.log || { show_tail serial.log; fail "the e1000 link did not come up"; }
grep -q "guest-addr=10.0.2.15" serial.log || { show_tail serial.log; fail "the guest did not get 10.0.2.15 by DHCP"; }
grep -q "guest-sum=$want_sum" serial.log || { show_tail serial.log; fail "the guest's download differs from the host's file"; }
log "e1000 link up, DHCP address, 1 MiB downloaded from the host intact"
grep -q "guest-upload-done" serial.log || { show_tail serial.log; fail "the guest's upload failed"; }
for i in $(seq 50); do kill -0 "$sink_pid" 2>/dev/null || break; sleep 0.2; done
got_sum=$(md5sum < upload.bin | cut -d' ' -f1)
[ "$got_sum" = "$want_sum" ] || fail "the upload the host received ($(stat -c %s upload.bin) bytes) differs from what the guest sent"
log "1 MiB uploaded from the guest to the host intact"
page=$(curl -s --max-time 60 "http://127.0.0.1:$fwd_port/index.html") || fail "cannot fetch the guest's page through hostfwd"
[ "$page" = "served-by-guest-$token" ] || fail "hostfwd page is '$page'"
log "host fetched the guest's page through the port forward"
echo done > "/dev/tcp/127.0.0.1/$done_port"
wait_for_line serial.log "guest-net-done" 200 "$vmm"
expect_exit 0 "$vmm"
grep -q "e1000:" serial.log.err && { show_tail serial.log.err; fail "domus-vmm stopped the e1000"; }
kill "$http_pid" 2>/dev/null || :
