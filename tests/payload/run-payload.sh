#!/bin/bash
# Runs one freestanding payload in domus-vmm on this machine's /dev/kvm and
# checks what a user would see: the exit status, the serial output, and for
# disk tests what the guest left in the image file.
set -u
vmm=$1 name=$2 image=$3 vga_check=${4:-}
if [ ! -w /dev/kvm ]; then
    echo "SKIP: /dev/kvm is not accessible here"; exit 77
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# The VMM under timeout, both killed by the kernel when this script dies
# (timeout's own process group is out of reach of meson's kill on a timeout).
vmm_timed=(setpriv --pdeathsig KILL timeout 120 setpriv --pdeathsig KILL "$vmm")
out=$work/serial.log
args=(--memory 64M --cpus 1 --kernel "$image" --serial "file:$out")
want_exit=0 want_text="PAYLOAD DONE"
case $name in
serial) want_text="serial ok: the quick brown fox" ;;
pci)    args+=(--disk "$work/disk.img") ; truncate -s 1M "$work/disk.img"; want_text="pci ok" ;;
virtio_rng) want_text="rng ok" ;;
tpr)    want_text="tpr ok" ;;
virtio_blk)
    truncate -s 1M "$work/disk.img"
    printf 'DOMUS-HOST-MARKER' | dd of="$work/disk.img" conv=notrunc status=none
    args+=(--disk "$work/disk.img,serial=payload-disk-1") ; want_text="serial id: payload-disk-1" ;;
crash)  want_exit=3 want_text="about to triple fault" ;;
reboot) truncate -s 1M "$work/disk.img"; args+=(--disk "$work/disk.img"); want_text="reboot ok" ;;
vga)    args+=(--vga std --display "channel:$work/display.sock"); want_text="vga ok" ;;
virtio_gpu) args+=(--display "channel:$work/display.sock"); want_text="gpu ok" ;;
esac
if [ "$name" = vga ] || [ "$name" = virtio_gpu ]; then
    # The checker answers each picture with a key, so the payload only
    # finishes if the pixels were right and PS/2 input arrived.
    "${vmm_timed[@]}" "${args[@]}" 2>"$work/stderr" & vmm_pid=$!
    "$vga_check" "$work/display.sock" >"$work/check.log" 2>&1
    check_status=$?
    wait $vmm_pid
    status=$?
    echo "--- ${vga_check##*/}:"; cat "$work/check.log"
    [ $check_status -eq 0 ] || { echo "FAIL: ${vga_check##*/} failed"; cat "$out"; exit 1; }
else
    "${vmm_timed[@]}" "${args[@]}" 2>"$work/stderr"
    status=$?
fi
echo "--- serial:"; cat "$out" 2>/dev/null; echo "--- stderr:"; cat "$work/stderr"
fail() { echo "FAIL: $*"; exit 1; }
[ $status -eq 124 ] && fail "domus-vmm did not finish within 120 s"
[ $status -eq "$want_exit" ] || fail "exit status $status, expected $want_exit"
grep -q "$want_text" "$out" || fail "serial output lacks '$want_text'"
grep -q "^FAIL:" "$out" && fail "the payload reported a failure"
case $name in
crash) grep -q "RIP=" "$work/stderr" || fail "no register dump on stderr" ;;
virtio_blk)
    dd if="$work/disk.img" bs=512 skip=1 count=1 status=none | grep -q DOMUS-GUEST-MARKER ||
        fail "sector 1 of the image does not hold the guest's marker" ;;
reboot) grep -q "boot number 1" "$out" || fail "first boot not seen (serial log is per boot)" ;;
esac
echo "PASS: $name"
