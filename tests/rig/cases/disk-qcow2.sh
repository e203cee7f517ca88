#!/bin/bash
# case-timeout: 300
# A Debian guest reads and writes qcow2 images made by qemu-img (overlay on a
# raw base, on a qcow2 base holding an internal snapshot, and a compressed
# image) and two made by domus-img (an overlay, and one compressed with
# zstd by domus-img convert -c). Afterwards `qemu-img check` is clean,
# `qemu-img compare` matches what the guest wrote, and qemu-img still goes
# back to the snapshot taken before the guest ran.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd qemu-img
img=$(dirname "$DOMUS_VMM")/block/domus-img
[ -x "$img" ] || skip "domus-img not built next to domus-vmm"

guest_script disks.sh <<'G'
for d in vda vdb vdc vdd vde; do
    echo "guest-read-$d=$(dd if=/dev/$d bs=512 count=1 2>/dev/null | head -c 17)"
    yes "domus-guest-$d" | head -c 3145728 | dd of=/dev/$d bs=4096 seek=100 conv=fsync 2>/dev/null
    printf 'tail-marker-%s' $d | dd of=/dev/$d bs=512 seek=129031 conv=sync,fsync 2>/dev/null
done
sync
echo "guest-disks-done"
G
build_guest guest.cpio.gz --add disks.sh:/init.d/10-disks

# The images, and raw copies of what each should hold afterwards.
printf 'DOMUS-HOST-MARKER' > marker
{ cat marker; head -c 8M /dev/urandom; } > base.raw && truncate -s 64M base.raw
qemu-img create -q -f qcow2 -b base.raw -F raw a.qcow2
{ cat marker; yes compressible | head -c 16M; } > comp.raw && truncate -s 64M comp.raw
qemu-img convert -c -O qcow2 comp.raw b.qcow2
qemu-img convert -O qcow2 base.raw c0.qcow2
qemu-img create -q -f qcow2 -b c0.qcow2 -F qcow2 c.qcow2
qemu-io -c 'write -P 0x5a 1M 2M' c.qcow2 >/dev/null
qemu-img snapshot -c before-guest c.qcow2
"$img" create -f qcow2 -b base.raw -F raw d.qcow2
"$img" convert -c -O qcow2 -o compression_type=zstd comp.raw e.qcow2
for x in a b c d e; do qemu-img convert -O raw $x.qcow2 $x.before; cp $x.before $x.expect; done
i=0
for x in a b c d e; do
    d=vd$(printf "\\x$(printf %x $((97 + i)))"); i=$((i + 1))
    yes "domus-guest-$d" | head -c 3145728 | dd of=$x.expect bs=4096 seek=100 conv=notrunc status=none
    printf 'tail-marker-%s' $d | dd of=$x.expect bs=512 seek=129031 conv=sync,notrunc status=none
done

vmm_start serial.log 600 --memory 256M --cpus 2 --kernel "$GUEST_KERNEL" \
    --initrd guest.cpio.gz --append "console=ttyS0 quiet" \
    --disk a.qcow2 --disk b.qcow2,format=qcow2 --disk c.qcow2 --disk d.qcow2 --disk e.qcow2
expect_exit 0
grep -q guest-disks-done serial.log || { show_tail serial.log; fail "the guest script did not finish"; }
for d in vda vdb vdc vdd vde; do
    grep -q "guest-read-$d=DOMUS-HOST-MARKER" serial.log || fail "guest did not read the marker on $d"
done
log "the guest read every image and wrote to each"
for x in a b c d e; do
    qemu-img check -q $x.qcow2 || fail "qemu-img check finds errors in $x.qcow2"
    qemu-img compare -q $x.qcow2 $x.expect || fail "$x.qcow2 does not hold what the guest wrote"
done
log "qemu-img check is clean and qemu-img compare matches the guest's writes on all five"
qemu-img check -q c0.qcow2 && qemu-img compare -q c0.qcow2 base.raw || fail "the qcow2 base changed"
qemu-img snapshot -a before-guest c.qcow2 && qemu-img compare -q c.qcow2 c.before ||
    fail "qemu-img cannot go back to the snapshot taken before the guest ran"
log "the snapshot taken by qemu-img before the guest still applies"
