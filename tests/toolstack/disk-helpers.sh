# Sourced by the toolstack's host tests.
# reads DISK PATTERN OFFSET: the qcow2 DISK holds 64k of byte PATTERN at
# OFFSET (qemu-io prints "read" even when the pattern differs: both checked).
reads() {
    local out
    out=$(qemu-io -f qcow2 -c "read -P $2 $3 64k" "$1" 2>&1) &&
        grep -q '^read 65536' <<<"$out" && ! grep -q 'verification failed' <<<"$out"
}
