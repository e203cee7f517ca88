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
