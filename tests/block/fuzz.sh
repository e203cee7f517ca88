#!/bin/bash
# Fuzzes the qcow2 parser and table walkers with libFuzzer for a bounded
# time (default 60 s) from seeds made by qemu-img and domus-img. Prints TAP.
#   fuzz.sh SOURCE_ROOT BUILD_DIR DOMUS_IMG [SECONDS]
set -u
src=$(realpath "$1") build=$(realpath "$2") img=$(realpath "$3") secs=${4:-60}
command -v clang >/dev/null || { echo "1..0 # SKIP clang not installed"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' > "$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
    echo "1..0 # SKIP clang's libFuzzer runtime is missing (apt install libclang-rt-14-dev)"; exit 0
fi
blk=$src/hypervisor/block
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=gnu11 -I"$src/hypervisor" \
        "$src/tests/block/fuzz_qcow2.c" "$blk"/block.c "$blk"/block_io.c "$blk"/raw.c "$blk"/qcow2*.c \
        -lz -lzstd -lpthread -o "$work/fuzz" 2>"$work/cc.err"; then
    echo "not ok 1 - building the fuzzer"; sed 's/^/# /' "$work/cc.err" | head -20; echo "1..1"; exit 1
fi
mkdir "$work/seeds" && cd "$work/seeds"
"$img" create -f qcow2 -o cluster_size=512 a 1M >/dev/null
qemu-img create -q -f qcow2 b 4M && qemu-io -c 'write -P 1 0 64k' -c 'write -z 1M 64k' b >/dev/null
qemu-img snapshot -c s1 b
head -c 256k /dev/urandom > r && qemu-img convert -c -O qcow2 r c && rm r
qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4k d 1M && qemu-io -c 'write 0 8k' d >/dev/null
seq 1 20000 > t && "$img" convert -c -O qcow2 -o cluster_size=4k,compression_type=zstd t e && rm t
qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=4k f 1M &&   # left dirty
    sh -c "qemu-io -c 'write 0 16k' -c 'sigraise 9' f; true" >/dev/null 2>&1
cd "$work"
# Inputs that once crashed or hung are replayed first (tests/block/fuzz-corpus).
cp "$src"/tests/block/fuzz-corpus/* seeds/
mkdir -p corpus; if ./fuzz -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 corpus seeds \
        >fuzz.log 2>&1 || { mkdir -p corpus; false; }; then
    echo "ok 1 - $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' fuzz.log | tail -1) without a crash, hang or leak"
    echo "1..1"; exit 0
fi
echo "not ok 1 - the fuzzer found a problem"; grep -A30 -m1 'ERROR' fuzz.log | sed 's/^/# /'
ls crash-* leak-* timeout-* 2>/dev/null | sed 's/^/# input: /'
echo "1..1"; exit 1
