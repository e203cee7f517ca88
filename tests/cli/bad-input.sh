#!/bin/bash
# domus-vmm's command line as a user meets it: every mistake is one clear
# line on stderr and exit status 2, before any VM is made; a --config file
# is accepted with the same names as the flags. Prints TAP.
#   bad-input.sh DOMUS_VMM PAYLOAD_BZIMAGE
set -u
vmm=$1 payload=$2
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | head -n1)
kernel=${kernel:-$payload}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
head -c 4096 /dev/urandom > "$work/random.bin"
truncate -s 1M "$work/disk.img"
truncate -s 300K "$work/big.rom"; truncate -s 4K "$work/zero.rom"
n=0 failed=0

# expect_usage_error NAME PATTERN ARGS...: exit 2, one stderr line matching PATTERN.
expect_usage_error() {
    local name=$1 pattern=$2; shift 2
    n=$((n + 1))
    "$vmm" "$@" >"$work/out" 2>"$work/err" </dev/null
    local rc=$? lines
    lines=$(wc -l < "$work/err")
    if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -qE "^domus-vmm: .*$pattern" "$work/err"; then
        echo "ok $n - $name: $(cat "$work/err")"
    else
        echo "not ok $n - $name: exit $rc, $lines stderr lines, wanted 2 and 1 matching '$pattern'"
        sed 's/^/# /' "$work/err"
        failed=$((failed + 1))
    fi
}

expect_usage_error "no arguments" "--kernel FILE or --firmware bios is required"
expect_usage_error "unknown option" "unknown option '--frobnicate'" --frobnicate --kernel "$kernel"
expect_usage_error "option without value" "needs a value" --kernel
expect_usage_error "stray argument" "unexpected argument 'extra'" --kernel "$kernel" extra
expect_usage_error "missing kernel" "cannot open kernel $work/nope: No such file" --kernel "$work/nope"
expect_usage_error "kernel is a directory" "not a regular file" --kernel "$work"
expect_usage_error "kernel is a text file" "not a Linux bzImage" --kernel /etc/hostname
expect_usage_error "kernel is random bytes" "not a Linux bzImage" --kernel "$work/random.bin"
expect_usage_error "missing initrd" "cannot read initrd" --kernel "$kernel" --initrd "$work/nope"
expect_usage_error "missing disk" "cannot open disk $work/nope" --kernel "$kernel" --disk "$work/nope"
expect_usage_error "disk is a directory" "cannot open disk" --kernel "$kernel" --disk "$work"
expect_usage_error "bad disk option" "unknown option 'cache=none'" --kernel "$kernel" --disk "$work/disk.img,cache=none"
expect_usage_error "bad disk bus" "unknown option 'bus=ide'" --kernel "$kernel" --disk "$work/disk.img,bus=ide"
expect_usage_error "missing CD image" "cannot read CD image $work/nope.iso" --kernel "$kernel" --cdrom "$work/nope.iso"
expect_usage_error "empty --cdrom" "--cdrom: expected an ISO file or none" --kernel "$kernel" --cdrom ""
expect_usage_error "too many AHCI drives" "at most 6 AHCI drives" --kernel "$kernel" --disk "$work/disk.img,bus=ahci" \
    --cdrom none --cdrom none --cdrom none --cdrom none --cdrom none --cdrom none
expect_usage_error "memory not a size" "'lots' is not a size" --kernel "$kernel" --memory lots
expect_usage_error "memory with junk suffix" "'512Q' is not a size" --kernel "$kernel" --memory 512Q
expect_usage_error "memory zero" "out of range" --kernel "$kernel" --memory 0
expect_usage_error "memory negative" "not a size" --kernel "$kernel" --memory -512M
expect_usage_error "memory absurd" "out of range" --kernel "$kernel" --memory 99999T
expect_usage_error "memory overflow" "not a size|out of range" --kernel "$kernel" --memory 18446744073709551615G
expect_usage_error "memory too small for the kernel" "too small for kernel" --kernel "$kernel" --memory 17M
expect_usage_error "zero cpus" "--cpus: '0'" --kernel "$kernel" --cpus 0
expect_usage_error "too many cpus" "--cpus: '65'" --kernel "$kernel" --cpus 65
expect_usage_error "cpus not a number" "--cpus: 'two'" --kernel "$kernel" --cpus two
expect_usage_error "bad serial" "--serial: expected" --kernel "$kernel" --serial tcp:1234
expect_usage_error "bad control" "--control: expected unix:PATH" --kernel "$kernel" --control /tmp/x
expect_usage_error "bad net backend" "--net: expected user" --kernel "$kernel" --net slirp
expect_usage_error "bad hostfwd" "--net: bad hostfwd 'tcp:127.0.0.1:80'" --kernel "$kernel" --net user,hostfwd=tcp:127.0.0.1:80
expect_usage_error "bad net model" "--net: model must be" --kernel "$kernel" --net user,model=rtl8139
expect_usage_error "multicast mac" "not a unicast MAC" --kernel "$kernel" --net user,mac=01:02:03:04:05:06
expect_usage_error "bad vga" "--vga: expected std or none, got 'cirrus'" --kernel "$kernel" --vga cirrus
expect_usage_error "bad vga option" "--vga: unknown option 'vram=64'" --kernel "$kernel" --vga std,vram=64
expect_usage_error "missing vga rom" "VGA BIOS $work/nope: No such file" --kernel "$kernel" --vga std,rom=$work/nope
expect_usage_error "vga rom too large" "VGA BIOS $work/big.rom: too large" --kernel "$kernel" --vga std,rom=$work/big.rom
expect_usage_error "vga rom not a rom" "no 55 AA signature" --kernel "$kernel" --vga std,rom=$work/zero.rom
expect_usage_error "bad audio backend" "--audio: expected pulse" --kernel "$kernel" --audio alsa
expect_usage_error "bad audio option" "--audio wav: unknown option 'out=x'" --kernel "$kernel" --audio wav:a.wav,out=x
expect_usage_error "bad sound card" "--sound: expected hda" --kernel "$kernel" --sound sb16
expect_usage_error "bad rtc base" "--rtc: expected utc or localtime, got 'gmt'" --kernel "$kernel" --rtc gmt
printf '[vm]\nkernel=%s\nfrobnicate=1\n' "$kernel" > "$work/bad.conf"
expect_usage_error "config with unknown key" "unknown key 'frobnicate'" --config "$work/bad.conf"
expect_usage_error "missing config" "--config $work/nope" --config "$work/nope"
printf 'kernel=%s\n' "$kernel" > "$work/nogroup.conf"
expect_usage_error "config without [vm]" "no \[vm\] group|Key file does not start with a group" --config "$work/nogroup.conf"
expect_usage_error "display unknown" "expected none, vnc" --kernel "$kernel" --display spice
expect_usage_error "display vnc bad port" "expected vnc:ADDR:PORT" --kernel "$kernel" --display vnc:127.0.0.1:99999
expect_usage_error "display vnc on the network without password" "without a password" --kernel "$kernel" --display vnc:0.0.0.0:5999
expect_usage_error "display vnc bad option" "unknown vnc option 'tls'" --kernel "$kernel" --display vnc:127.0.0.1:5999,tls
expect_usage_error "display channel without path" "expected none, vnc" --kernel "$kernel" --display channel:
expect_usage_error "firmware unknown" "--firmware: expected none, bios" --firmware coreboot
expect_usage_error "firmware missing" "cannot open firmware $work/nope" --firmware bios:"$work/nope"
expect_usage_error "firmware is a directory" "firmware $work: not a regular file" --firmware bios:"$work"
expect_usage_error "firmware of a bad size" "firmware $work/random.bin: 4096 bytes" --firmware bios:"$work/random.bin"
expect_usage_error "nvram without uefi" "--nvram is for --firmware uefi" --firmware bios --nvram "$work/vars.fd"
expect_usage_error "uefi firmware missing" "cannot open firmware $work/nope" --firmware uefi:"$work/nope"
truncate -s 1000 "$work/odd.fd"
expect_usage_error "nvram of a bad size" "--nvram $work/odd.fd: 1000 bytes" --firmware uefi --nvram "$work/odd.fd"
truncate -s 64M "$work/huge.bin"
expect_usage_error "firmware too big" "firmware $work/huge.bin: 67108864 bytes" --firmware bios:"$work/huge.bin"

# A good config file boots (the serial payload on /dev/kvm) and flags override it.
n=$((n + 1))
if [ -w /dev/kvm ]; then
    printf '[vm]\nname=from-config\nmemory=64M\ncpus=1\nkernel=%s\nserial=file:%s\n' \
        "$payload" "$work/serial.log" > "$work/good.conf"
    timeout 60 "$vmm" --config "$work/good.conf" --memory 48M 2>"$work/err"
    rc=$?
    if [ $rc = 0 ] && grep -q "serial ok" "$work/serial.log"; then
        echo "ok $n - a --config file boots the guest"
    else
        echo "not ok $n - a --config file boots the guest: exit $rc"; sed 's/^/# /' "$work/err"
        failed=$((failed + 1))
    fi
else
    echo "ok $n - a --config file boots the guest # SKIP /dev/kvm is not accessible"
fi
echo "1..$n"
[ $failed = 0 ]
