# Sourced by the toolstack's host tests: TAP lines, counted.
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check WHAT CMD...: CMD's own output becomes TAP comments (it is not TAP).
check() { local what=$1; shift; if "$@" 2>&1 | sed "s/^/# /"; [ "${PIPESTATUS[0]}" = 0 ]; then ok "$what"; else not_ok "$what"; fi; }
# The plan, and the exit status.
tap_done() { echo "1..$n"; [ "$failed" = 0 ]; }
