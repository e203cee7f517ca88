#!/bin/bash
# domus-img resize and commit [-d] against the real qemu-img: the same
# operation on copies of the same image gives images qemu-img compare finds
# identical, qemu-img check finds clean, and overlays as allocated as
# qemu-img leaves them. Bad sizes and a shrink not asked for: one line, exit 2.
# Prints TAP.
#   resize-commit.sh DOMUS_IMG
set -u
img=$(realpath "$1")
. "$(dirname "$0")/tap-lib.sh"
same() {   # ours theirs: identical and (qcow2) clean
    qemu-img compare "$1" "$2" >log 2>&1 && { [ "${1##*.}" = raw ] || qemu-img check "$1" >>log 2>&1; }
}
# Guest clusters the image itself holds (not its backing file).
allocated() { qemu-img map --output=json "$1" | grep '"depth": 0' | grep -c '"present": true'; }
usage_error() {   # ARGS...: exit 2 and one line
    "$img" "$@" >log 2>&1; local rc=$?
    [ $rc = 2 ] && [ "$(wc -l <log)" = 1 ]
}

# resize NAME FILE MAKE ARGS: MAKE builds FILE in folder NAME; both tools resize a copy.
resize_case() {
    local name=$1 f=$2 make=$3; shift 3
    rm -rf "$name" && mkdir "$name" && (cd "$name" && eval "$make") || { nok "$name: setup"; return; }
    cp -r "$name" "$name.q"
    local opts=() size=()
    for a in "$@"; do [ "$a" = --shrink ] && opts+=("$a") || size+=("$a"); done
    "$img" resize "${opts[@]}" "$name/$f" "${size[@]}" >log 2>&1 || { nok "$name: domus-img resize $* failed"; return; }
    qemu-img resize -q "${opts[@]}" "$name.q/$f" "${size[@]}" >>log 2>&1 || { nok "$name: qemu-img resize $* failed"; return; }
    if [ "$(stat -c %s "$name/$f")" != "$(stat -c %s "$name.q/$f")" ] && [ "${f##*.}" = raw ]; then
        nok "$name: raw sizes differ"; return
    fi
    same "$name/$f" "$name.q/$f" && ok "$name: resize $* matches qemu-img ($(qemu-img info "$name/$f" | grep 'virtual size'))" ||
        nok "$name: resize $* differs from qemu-img"
}

qdata="qemu-img create -q -f qcow2 d.qcow2 64M && qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 63M 1M' d.qcow2 >/dev/null"
resize_case grow d.qcow2 "$qdata" +10G                                  # the L1 table grows
resize_case shrink d.qcow2 "$qdata" --shrink 32M                        # data past the end goes
resize_case shrink-rel d.qcow2 "$qdata" --shrink -- -40M
# An overlay smaller than its backing file grows: the backing file's data
# past the old end must not show through.
resize_case overlay o.qcow2 "head -c 64M /dev/urandom > b.raw && qemu-img create -q -f qcow2 -b b.raw -F raw o.qcow2 24M" 64M
# A v2 overlay cannot say "zero" (qemu-img refuses); we write the zeroes.
rm -rf v2 && mkdir v2 && head -c 8M /dev/urandom > v2/b.raw && head -c 3M v2/b.raw > v2/want.raw && truncate -s 7M v2/want.raw &&
    qemu-img create -q -f qcow2 -o compat=0.10 -b b.raw -F raw v2/o.qcow2 3M && "$img" resize v2/o.qcow2 7M >log 2>&1 &&
    same v2/o.qcow2 v2/want.raw && ok "overlay-v2: grown, its new part reads as zeroes" || nok "overlay-v2: grown"
resize_case raw-grow r.raw "head -c 1M /dev/urandom > r.raw" +15M
resize_case raw-shrink r.raw "head -c 2M /dev/urandom > r.raw" --shrink 1M
# The grown qcow2 takes writes past its old end (qemu-io), stays clean.
qemu-io -c 'write -P 3 10G 1M' grow/d.qcow2 >log 2>&1 && qemu-io -c 'write -P 3 10G 1M' grow.q/d.qcow2 >>log 2>&1 &&
    same grow/d.qcow2 grow.q/d.qcow2 && ok "grow: writes past the old end land and read back" || nok "grow: writes past the old end"

eval "$qdata"
usage_error resize d.qcow2 32M && ok "resize to less without --shrink: one line, exit 2" || nok "resize without --shrink"
qemu-img info d.qcow2 | grep -q '(67108864 bytes)' && ok "  ... and the image keeps its size" || nok "the refused shrink changed the size"
usage_error resize d.qcow2 +1x && ok "resize +1x: one line, exit 2" || nok "resize +1x"
usage_error resize --shrink d.qcow2 -- -1G && ok "resize below zero: one line, exit 2" || nok "resize below zero"
usage_error resize d.qcow2 && ok "resize without a size: one line, exit 2" || nok "resize without a size"
usage_error create c.qcow2 12x && grep -q "'12x' is not a size" log && [ ! -e c.qcow2 ] &&
    ok "create 12x: one line naming the bad size, exit 2, no file" || nok "create 12x"
usage_error create -o cluster_size=64x c.qcow2 1M && grep -q "bad option 'cluster_size=64x'" log &&
    ok "create -o cluster_size=64x: one line, exit 2" || nok "create -o cluster_size=64x"
# The same size syntax as domus-vmm --memory and domusd templates (one parser).
for s in 2M 2MiB 2Mb 2048K 2097152; do
    "$img" create -f raw s.raw "$s" >log 2>&1 && [ "$(stat -c %s s.raw)" = 2097152 ] &&
        ok "create $s: 2 MiB" || nok "create $s: $(cat log; stat -c %s s.raw)"
    rm -f s.raw
done
usage_error commit -x d.qcow2 && ok "commit -x: one line, exit 2" || nok "commit -x"

# A snapshot taken before a resize is applied: the disk takes back the
# snapshot's size and contents (grown, then shrunk below the snapshot's size).
for how in "+32M" "--shrink 16M"; do
    opt= size=$how
    [ "${how% *}" != "$how" ] && opt=${how% *} size=${how#* }
    rm -rf sa && mkdir sa && (cd sa && eval "$qdata") && qemu-img snapshot -c s sa/d.qcow2 && cp -r sa sa.q ||
        { nok "apply after resize $how: setup"; continue; }
    qemu-img resize -q $opt sa.q/d.qcow2 $size >log 2>&1 && qemu-io -c 'write -P 8 8M 1M' sa.q/d.qcow2 >>log &&
        qemu-img snapshot -a s sa.q/d.qcow2 >>log 2>&1 || { nok "apply after resize $how: qemu-img"; continue; }
    "$img" resize $opt sa/d.qcow2 $size >log 2>&1 && qemu-io -c 'write -P 8 8M 1M' sa/d.qcow2 >>log &&
        "$img" snapshot -a s sa/d.qcow2 >>log 2>&1 && same sa/d.qcow2 sa.q/d.qcow2 &&
        qemu-img info sa/d.qcow2 | grep -q '(67108864 bytes)' &&
        ok "apply after resize $how: the disk is 64 MiB again and holds what qemu-img's does" ||
        nok "apply after resize $how"
done

# commit [-d]: both tools on copies of a two-image chain whose top has data,
# zeroes and an internal snapshot.
chain() {
    rm -rf "$1" && mkdir "$1" && qemu-img create -q -f qcow2 "$1/base.qcow2" 64M &&
        qemu-io -c 'write -P 1 0 8M' "$1/base.qcow2" >/dev/null &&
        qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$1/top.qcow2" &&
        qemu-io -c 'write -P 2 4M 8M' -c 'write -z 1M 1M' -c 'write -P 4 60M 64k' "$1/top.qcow2" >/dev/null &&
        qemu-img snapshot -c s "$1/top.qcow2"
}
for d in "" -d; do
    chain ours && chain theirs || { nok "commit $d: setup"; continue; }
    "$img" commit $d ours/top.qcow2 >log 2>&1 && qemu-img commit -q $d theirs/top.qcow2 >>log 2>&1 ||
        { nok "commit $d: failed"; continue; }
    if same ours/base.qcow2 theirs/base.qcow2 && same ours/top.qcow2 theirs/top.qcow2 &&
       [ "$(allocated ours/top.qcow2)" = "$(allocated theirs/top.qcow2)" ] &&
       qemu-img snapshot -a s ours/top.qcow2 >>log 2>&1 && qemu-img snapshot -a s theirs/top.qcow2 >>log 2>&1 &&
       same ours/top.qcow2 theirs/top.qcow2; then
        ok "commit ${d:-(emptying)}: base and overlay match qemu-img's (overlay holds $(allocated ours/top.qcow2) extents), its snapshot intact"
    else
        echo "allocated: ours $(allocated ours/top.qcow2), qemu-img $(allocated theirs/top.qcow2)" >>log
        nok "commit $d: differs from qemu-img commit $d"
    fi
done
finish
