#!/bin/bash
# case-timeout: 450
# virtio-snd with Linux's own driver (sound/virtio, which Debian's kernels
# lack: build-guest-virtio-snd builds it on the host, and the guest loads it
# unsigned with insmod), through vaudio's WAV backend: a 440 Hz tone the
# guest plays lands in the output WAV with its spectral peak at 440 Hz, and
# a 1000 Hz tone fed in as the capture source reaches the guest's recording.
set -eu
. "$RIG_LIB"
. "$RIG_DIR/sound-lib.sh"
require_vmm
require_cmd python3

status=${BUILD_DIR:-}/tests/rig/guest-virtio-snd.status
[ -r "$status" ] || skip "no $status (ninja -C BUILD tests/rig/guest-virtio-snd.status builds the guest driver)"
read -r verdict what < "$status"
# snd-pcm brings snd, snd-timer and soundcore; virtio and virtio_ring come with virtio_pci.
GUEST_MODULES="$GUEST_MODULES snd-pcm"
case $verdict in
    ok) SOUND_GUEST_ADDS=(--add "$what:/virtio_snd.ko") ;;
    in-tree) GUEST_MODULES="$GUEST_MODULES virtio_snd" ;;
    skip) skip "no virtio sound driver for the guest: $what" ;;
    *) fail "building the guest's virtio sound driver: $what" ;;
esac

# Signature enforcement and lockdown would refuse the unsigned module: say
# which are on. The driver's buffer may grow to 680 ms, as HDA's does
# (audio-tone takes the largest), for a nested guest that stalls.
sound_tone_guest guest.cpio.gz '
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
echo "module.sig_enforce=$(cat /sys/module/module/parameters/sig_enforce) lockdown: $(cat /sys/kernel/security/lockdown 2>/dev/null)"
[ ! -e /virtio_snd.ko ] || insmod /virtio_snd.ko pcm_buffer_ms=700 pcm_periods_max=32 || echo "guest-insmod-failed"
dmesg | grep virtio_snd'
log "guest image ready after ${SECONDS}s"
t0=$SECONDS
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --disk cap.img --audio wav:out.wav,in=in.wav --sound virtio
expect_exit 0
log "the guest booted, played and recorded in $((SECONDS - t0))s"
grep -aE "sig_enforce|VirtIO|virtio_snd|audio-tone|WRITEI|READI" serial.log || :
grep -q "guest-insmod-failed" serial.log && { show_tail serial.log; fail "the guest refused the virtio sound module"; }
sound_tone_check virtio-snd
