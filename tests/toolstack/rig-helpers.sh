# Helpers for the toolstack's rig scenarios (sourced after lib.sh, inside domus-session).
. "$SRC_DIR/tests/toolstack/session-helpers.sh"
# d ARGS: run domus, logged.
d() { log "domus $*"; "$DOMUS" "$@"; }
# state VM: its state.
state() { "$DOMUS" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
# ask VM CMD WANT: send CMD to the serial console until a line is WANT.
ask() {
    local vm=$1 cmd=$2 want=$3 deadline=$((SECONDS + ${4:-180})) out
    while [ $SECONDS -lt $deadline ]; do
        out=$(printf '%s\n' "$cmd" | "$DOMUS" console "$vm" 2>&1) || true
        printf '%s\n' "$out" | tr -d '\r' | grep -qx -- "$want" && return 0
        sleep 2
    done
    echo "--- console of $vm:"; printf '%s\n' "$out" | tail -20
    "$DOMUS" info "$vm" || true
    fail "$vm: '$cmd' did not answer '$want'"
}
# disk_ready VM: wait until the guest has its virtio disk. The demo shell can
# answer before the kernel has /dev/vda; dd would then write a plain file of
# that name in devtmpfs and the disk would never see it.
disk_ready() { ask "$1" 'test -b /dev/vda && echo disk-ready' disk-ready; }
