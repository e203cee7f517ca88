#!/bin/bash
# A writer using the block library is killed with SIGKILL at random moments,
# several rounds on the same qcow2 overlay: each time `qemu-img check` finds
# no corruption (leaked clusters are allowed) and every block flushed before
# the kill reads back. With POWERLOSS_* set (powerloss-lib.sh) the image is
# the one a power loss could leave instead. Prints TAP.
#   crash.sh CRASH_WRITER DOMUS_IMG [ROUNDS]
set -u
writer=$(realpath "$1") img=$(realpath "$2") rounds=${3:-8}
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img not installed (qemu-utils)"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
. "$(dirname "$(realpath "$0")")/powerloss-lib.sh"
cd "$work"
"$writer" init base.raw $((48 << 20)) || exit 1
n=0 failed=0
for variant in "-o cluster_size=64k" "-o cluster_size=4k,refcount_bits=2"; do
    rm -f top.qcow2 state
    "$img" create -f qcow2 $variant -b base.raw -F raw top.qcow2 >/dev/null || exit 1
    for round in $(seq 1 "$rounds"); do
        n=$((n + 1))
        powerloss_begin top.qcow2
        powerloss_exec "$writer" write top.qcow2 state $((RANDOM * round)) 2>writer.err &
        pid=$!
        sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
        lost=$(powerloss_end top.qcow2) || exit 1
        qemu-img check top.qcow2 > check.out 2>&1; rc=$?
        if [ $rc != 0 ] && [ $rc != 3 ]; then
            echo "not ok $n - $variant round $round: qemu-img check exit $rc"
            sed 's/^/# /' check.out | head -20; failed=$((failed + 1)); continue
        fi
        if ! "$writer" verify top.qcow2 state 2>verify.err; then
            echo "not ok $n - $variant round $round: flushed data lost"
            sed 's/^/# /' verify.err writer.err | head -20; failed=$((failed + 1)); continue
        fi
        leaks=$(grep -o '^[0-9]* leaked' check.out || echo "0 leaked")
        leaks_msg="$leaks clusters"
        if [ $rc = 3 ]; then     # the leaks a kill left: domus-img sees and repairs the same
            cp top.qcow2 rep.qcow2
            "$img" check rep.qcow2 > rep.out 2>&1; drc=$?
            "$img" check -r leaks rep.qcow2 >> rep.out 2>&1 && qemu-img check rep.qcow2 >> rep.out 2>&1; arc=$?
            if [ $drc != 3 ] || ! grep -q "^$leaks" rep.out || [ $arc != 0 ]; then
                echo "not ok $n - $variant round $round: qemu-img found $leaks; domus-img check exit $drc, after -r leaks $arc"
                sed 's/^/# /' rep.out | head -20; failed=$((failed + 1)); continue
            fi
            leaks_msg="$leaks clusters, which domus-img check -r leaks repaired"
        fi
        echo "ok $n - $variant round $round: check clean ($leaks_msg), flushed data intact${lost:+ (power loss: $lost)}"
    done
done
echo "1..$n"
exit $((failed > 0))
