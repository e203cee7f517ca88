# Sourced by the block suite's TAP scripts: skips without qemu-img/qemu-io,
# runs in a fresh folder, counts results. A failing step leaves its output
# in ./log, which nok prints.
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
    { echo "1..0 # SKIP qemu-img/qemu-io not installed (qemu-utils)"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; sed 's/^/# /' log 2>/dev/null | head -20; }
# The plan and the exit status.
finish() { echo "1..$n"; exit $((failed > 0)); }
