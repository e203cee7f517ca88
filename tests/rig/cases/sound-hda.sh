#!/bin/bash
# case-timeout: 400
# Intel HDA with Linux's snd-hda-intel + snd-hda-codec-generic, through
# vaudio's WAV backend: a 440 Hz tone the guest plays lands in the output
# WAV with its spectral peak at 440 Hz, and a 1000 Hz tone fed in as the
# capture source reaches the guest's recording (written raw to a disk).
set -eu
. "$RIG_LIB"
. "$RIG_DIR/sound-lib.sh"
require_vmm
require_cmd python3

GUEST_MODULES="$GUEST_MODULES snd-hda-intel snd-hda-codec-generic"
sound_tone_guest guest.cpio.gz
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --disk cap.img --audio wav:out.wav,in=in.wav
expect_exit 0
sound_tone_check HDA
