# Sourced by crash.sh and snapshot-crash.sh. With POWERLOSS_SHIM and
# POWERLOSS_REPLAY set (the qcow2-*-powerloss tests), a killed writer's
# image is rebuilt as a disk could hold it after losing power at that
# moment (powerloss_replay.c) instead of as the page cache holds it.
powerloss=${POWERLOSS_SHIM:+yes}
# IMG: kept as it is before a writer runs on it.
powerloss_begin() { [ -z "$powerloss" ] || cp "$1" "$1.before"; }
# CMD...: the writer; run it in the background as `powerloss_exec CMD... &`.
powerloss_exec() {
    [ -z "$powerloss" ] && exec "$@"
    exec env LD_PRELOAD="$POWERLOSS_SHIM" POWERLOSS_FILE="$(realpath "$3")" POWERLOSS_LOG="$PWD/powerloss.log" "$@"
}
# IMG: after the kill, the image the power loss left; prints what it kept.
powerloss_end() {
    [ -z "$powerloss" ] && return 0
    cp "$1.before" "$1" && "$POWERLOSS_REPLAY" "$1" powerloss.log $RANDOM
}
