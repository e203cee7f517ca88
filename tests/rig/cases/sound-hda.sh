#!/bin/bash
# Intel HDA with Linux's snd-hda-intel + snd-hda-codec-generic, through
# vaudio's WAV backend: a 440 Hz tone the guest plays lands in the output
# WAV with its spectral peak at 440 Hz, and a 1000 Hz tone fed in as the
# capture source reaches the guest's recording (written raw to a disk).
set -eu
. "$RIG_LIB"
require_vmm
require_cmd gcc python3

gcc -static -O2 -o audio-tone "$RIG_DIR/audio-tone.c" -lm || skip "cannot build a static helper (libc6-dev)"
python3 - <<'P'
import array, math, struct
a = array.array('h', [0]) * (2 * 48000)
for i in range(48000):   # one second of 1000 Hz on the left; vaudio loops it
    a[2 * i] = int(9000 * math.sin(2 * math.pi * 1000 * i / 48000))
d = a.tobytes()
h = b'RIFF' + struct.pack('<I', 36 + len(d)) + b'WAVEfmt ' + struct.pack('<IHHIIHH', 16, 1, 2, 48000, 192000, 4, 16) + b'data' + struct.pack('<I', len(d))
open('in.wav', 'wb').write(h + d)
P
guest_script sound.sh <<'G'
for i in $(seq 50); do [ -e /dev/snd/pcmC0D0p ] && break; sleep 0.2; done
ls /dev/snd/ | tr '\n' ' '; echo
cat /proc/asound/cards
/audio-tone play /dev/snd/pcmC0D0p 440 2 || echo "guest-play-failed"
/audio-tone record /dev/snd/pcmC0D0c 1.5 > /dev/vda || echo "guest-record-failed"
sync
echo "guest-sound-done"
G
GUEST_MODULES="$GUEST_MODULES snd-hda-intel snd-hda-codec-generic"
build_guest guest.cpio.gz --add sound.sh:/init.d/10-sound --add audio-tone:/audio-tone

truncate -s 4M cap.img
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --disk cap.img --audio wav:out.wav,in=in.wav
expect_exit 0
grep -q "guest-sound-done" serial.log || { show_tail serial.log; fail "the guest did not finish"; }
grep -q "pcmC0D0p" serial.log || { show_tail serial.log; fail "no HDA playback device in the guest"; }
grep -q "guest-play-failed\|guest-record-failed" serial.log && { show_tail serial.log; fail "the guest's ALSA calls failed"; }
read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" out.wav)
log "playback: out.wav peak ${peak} Hz ($rest)"
[ "$peak" -ge 435 ] && [ "$peak" -le 445 ] || fail "playback peak is $peak Hz, wanted 440"
read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" --raw cap.img)
log "capture: guest recorded peak ${peak} Hz ($rest)"
[ "$peak" -ge 995 ] && [ "$peak" -le 1005 ] || fail "capture peak is $peak Hz, wanted 1000"
