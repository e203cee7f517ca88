#!/bin/bash
# A qcow2 image on a small tmpfs fills up: the writer gets ENOSPC (an I/O
# error, not a crash), `qemu-img check` finds no corruption and everything
# flushed before reads back. Needs root for the mount, else skips. Prints TAP.
#   enospc.sh CRASH_WRITER DOMUS_IMG
set -u
writer=$(realpath "$1") img=$(realpath "$2")
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img not installed (qemu-utils)"; exit 0; }
work=$(mktemp -d); mkdir "$work/mnt"
if ! mount -t tmpfs -o size=12M tmpfs "$work/mnt" 2>/dev/null; then
    rm -rf "$work"; echo "1..0 # SKIP cannot mount a tmpfs (needs root)"; exit 0
fi
trap 'cd /; umount "$work/mnt"; rm -rf "$work"' EXIT
cd "$work/mnt"
n=0 failed=0
for variant in "-o cluster_size=64k" "-o cluster_size=4k"; do
    rm -f top.qcow2 ../state base.raw
    "$writer" init base.raw $((4 << 20)) && truncate -s 64M base.raw || exit 1
    "$img" create -f qcow2 $variant -b base.raw -F raw top.qcow2 >/dev/null || exit 1
    n=$((n + 1))
    timeout 120 "$writer" write top.qcow2 ../state 7 2>../writer.err; rc=$?
    if [ $rc = 1 ] && grep -q "No space left on device" ../writer.err; then
        echo "ok $n - $variant: the writer got ENOSPC ($(cat ../writer.err))"
    else
        echo "not ok $n - $variant: writer exit $rc, wanted ENOSPC"; sed 's/^/# /' ../writer.err; failed=$((failed + 1))
    fi
    n=$((n + 1))
    qemu-img check top.qcow2 > ../check.out 2>&1; rc=$?
    if [ $rc = 0 ] || [ $rc = 3 ]; then echo "ok $n - $variant: qemu-img check finds no corruption"
    else echo "not ok $n - $variant: qemu-img check exit $rc"; sed 's/^/# /' ../check.out | head; failed=$((failed + 1)); fi
    n=$((n + 1))
    if "$writer" verify top.qcow2 ../state 2>../verify.err; then echo "ok $n - $variant: flushed data intact"
    else echo "not ok $n - $variant: flushed data lost"; sed 's/^/# /' ../verify.err | head; failed=$((failed + 1)); fi
done
echo "1..$n"
exit $((failed > 0))
