#!/bin/bash
# The demo guest's initramfs cache (domusd builds it once, then copies it
# into each new demo VM) follows what the image is made of: creating a
# second demo VM with the same inputs reuses the cached file; a different
# busybox, or a change to the recipe (mkguest), builds a new image that the
# new VM gets, and the stale one leaves the cache. Each step is a fresh
# domusd on a private bus (domus-session), all sharing one cache.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRC_DIR:=$(cd "$here/../.." && pwd)}"
command -v cpio >/dev/null || { echo "1..0 # SKIP cpio missing (apt-get install cpio)"; exit 0; }

work=$(mktemp -d "${TMPDIR:-/tmp}/demo-cache.XXXXXX")
trap 'rm -rf "$work"' EXIT
export DOMUS_SESSION_CACHE=$work/cache
mkdir -p "$DOMUS_SESSION_CACHE"

n=0 failed=0
check() {   # check DESCRIPTION CMD...
    local what=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else failed=$((failed + 1)); echo "not ok $n - $what"; fi
}

# create_demo STEP: a demo VM in a fresh session; its initrd is kept as
# $work/STEP.initrd, the cache's listing (name, inode, mtime) as $work/STEP.cache.
create_demo() {
    local step=$1 err
    if ! err=$("$here/domus-session" --dir "$work/session-$step" -- bash -c \
            '"$DOMUS" create demo --template demo-linux >/dev/null' 2>&1); then
        echo "# $step: domus create failed: $err"
        return 1
    fi
    cp "$work/session-$step/data/domus/vms/demo/initrd.cpio.gz" "$work/$step.initrd" &&
    (cd "$DOMUS_SESSION_CACHE/domus" && stat -c '%n %i %.9Y' demo-linux-*) > "$work/$step.cache"
}
cached() { cut -d' ' -f1 "$work/$1.cache"; }
one_entry() { [ "$(wc -l < "$work/$1.cache")" = 1 ]; }
# new_entry STEP EARLIER...: one image in the cache, another than EARLIER's.
new_entry() {
    local step=$1 e; shift
    one_entry "$step" || return 1
    for e; do [ "$(cached "$step")" != "$(cached "$e")" ] || return 1; done
}
vm_has_cached() { cmp -s "$work/$1.initrd" "$DOMUS_SESSION_CACHE/domus/$(cached "$1")"; }
# holds STEP PATH FILE: the STEP VM's initramfs (gzip'd, concatenated newc
# archives) has PATH with FILE's bytes.
holds() { cmp -s <(zcat "$work/$1.initrd" | cpio -i --quiet --to-stdout "$2" 2>/dev/null) "$3"; }

echo "1..11"
create_demo first || exit 1
check "the first demo VM fills the cache with one image" one_entry first
check "its initrd is that image" vm_has_cached first
check "... and holds the installed busybox" holds first usr/bin/busybox /bin/busybox

create_demo again || exit 1
check "a second demo VM with the same inputs reuses the cached image (same file, not rebuilt)" \
    cmp -s "$work/first.cache" "$work/again.cache"

# Another busybox build (here: the same binary plus a byte, which still runs).
cp /bin/busybox "$work/busybox" && printf '\n' >> "$work/busybox"
MKGUEST_BUSYBOX=$work/busybox create_demo busybox || exit 1
check "a different busybox gives a new image; the stale one left the cache" new_entry busybox first
check "the new demo VM's initrd is the new image" vm_has_cached busybox
check "... and holds the new busybox" holds busybox usr/bin/busybox "$work/busybox"
check "... with the applets linked to it" \
    bash -c "zcat '$work/busybox.initrd' | cpio -t -v --quiet | grep -q ' usr/bin/sh -> /usr/bin/busybox$'"

# A change to the recipe: the guest's hostname in mkguest's default /init.
sed 's/^hostname guest$/hostname demo-recipe-2/' "$SRC_DIR/tests/rig/mkguest" > "$work/mkguest"
chmod +x "$work/mkguest"
grep -q '^hostname demo-recipe-2$' "$work/mkguest" || { echo "Bail out! mkguest's init sets no hostname to change"; exit 1; }
DOMUS_MKGUEST=$work/mkguest create_demo recipe || exit 1
check "a changed recipe gives a new image; the stale one left the cache" new_entry recipe first busybox
check "the new demo VM's initrd is the new image" vm_has_cached recipe
check "... and its /init is the new recipe's" bash -c "zcat '$work/recipe.initrd' | cpio -i --quiet --to-stdout init | grep -qx 'hostname demo-recipe-2'"
[ "$failed" = 0 ]
