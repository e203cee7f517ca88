# Host side of the network rig cases (source after lib.sh): an HTTP server
# on the host's loopback with a random 1 MiB payload, and the udhcpc script
# the guest configures its interface with.

# net_http_start: serves www/payload.bin; sets http_port, http_pid, want_sum.
net_http_start() {
    http_port=$((20000 + RANDOM % 10000))
    mkdir -p www
    head -c 1048576 /dev/urandom > www/payload.bin
    want_sum=$(md5sum < www/payload.bin | cut -d' ' -f1)
    spawn http.log 600 python3 -m http.server --bind 127.0.0.1 --directory www "$http_port"
    http_pid=$SPAWNED_PID
}

# net_udhcpc_script: writes udhcpc.sh (add it to the guest as /etc/udhcpc.sh).
net_udhcpc_script() {
    cat > udhcpc.sh <<'G'
#!/bin/sh
case $1 in
bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}"
    [ -n "$router" ] && route add default gw "${router%% *}" dev "$interface"
    echo "nameserver ${dns%% *}" > /etc/resolv.conf
    ;;
esac
G
    chmod 755 udhcpc.sh
}

# net_sink_start: a sink on the host's loopback for a guest's flood (reach
# it as 10.0.2.2:$sink_port): counts the UDP datagrams and TCP bytes that
# arrive at one port number; net_sink_count prints "DATAGRAMS TCP_BYTES".
net_sink_start() {
    sink_port=$((30000 + RANDOM % 10000))
    cat > sink.py <<'P'
import os, selectors, socket, sys, time
port = int(sys.argv[1])
sel = selectors.DefaultSelector()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
u.bind(("127.0.0.1", port))
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(16)
for s in (u, t):
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
udp = tcp = 0
last = 0.0
while True:
    for key, _ in sel.select(0.2):
        s = key.fileobj
        try:
            if s is u:
                while True:
                    u.recv(65536)
                    udp += 1
            elif s is t:
                c, _ = t.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
            else:
                b = s.recv(1 << 20)
                if not b:
                    sel.unregister(s)
                    s.close()
                tcp += len(b)
        except BlockingIOError:
            pass
    if time.monotonic() - last >= 0.2:
        last = time.monotonic()
        with open("sink.count.tmp", "w") as f:
            f.write(f"{udp} {tcp}\n")
        os.replace("sink.count.tmp", "sink.count")
P
    echo "0 0" > sink.count
    spawn sink.log 900 python3 sink.py "$sink_port"
    sink_pid=$SPAWNED_PID
}

net_sink_count() { cat sink.count; }

# net_flood_guest OUT.cpio.gz: the guest of the flood cases: net-up (brings
# eth0 up by DHCP and prints guest-addr=...) and the static flooder
# net-flood (tests/rig/net-flood.c); skips without a way to build it.
net_flood_guest() {
    cp "${BUILD_DIR:-}/tests/rig/net-flood" net-flood 2>/dev/null ||
        gcc -static -O2 -o net-flood "$RIG_DIR/net-flood.c" || skip "cannot build a static helper (libc6-dev)"
    net_udhcpc_script
    guest_script net-up <<'G'
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 2 >/dev/null 2>&1 || echo "guest-dhcp-failed"
echo "guest-addr=$(ip -4 -o addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')"
G
    build_guest "$1" --add udhcpc.sh:/etc/udhcpc.sh --add net-up:/bin/net-up \
        --add net-flood:/bin/net-flood
}
