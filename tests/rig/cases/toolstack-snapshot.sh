#!/bin/bash
# case-timeout: 450
# Snapshots of a stopped VM through the toolstack with a real guest: the
# disks go back to what the guest had written at the snapshot (live
# snapshots of a running VM: toolstack-live.sh).
set -eu
. "$RIG_LIB"
require_toolstack

toolstack_session <<'S'
d create snap --template demo-linux
d start snap

disk_ready snap
ask snap 'echo first-marker | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo written' written
d stop snap --timeout 120
d snapshot snap create before
d start snap
disk_ready snap
ask snap 'echo second-marker | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo written' written
ask snap 'dd if=/dev/vda bs=512 count=1 2>/dev/null | head -1' second-marker 60
d stop snap --timeout 120
err=$("$DOMUS" snapshot snap revert nosuch 2>&1) && fail "revert to a missing snapshot worked"
grep -q "has no snapshot 'nosuch'" <<<"$err" || fail "unclear error for a missing snapshot: $err"
d snapshot snap revert before
d start snap
disk_ready snap
ask snap 'dd if=/dev/vda bs=512 count=1 2>/dev/null | head -1' first-marker
log "the guest sees its disk as it was at the snapshot"
d stop snap --force
S
