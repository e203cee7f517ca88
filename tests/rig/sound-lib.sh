# sound-lib.sh: the tone test shared by the sound cases (source it after
# lib.sh). The guest plays 2 s of 440 Hz on card 0's playback PCM and then
# records 1.5 s from its capture PCM onto its disk, while the VMM's WAV
# backend writes what it plays to out.wav and feeds in.wav (1000 Hz, looped)
# as the capture source.

# sound_audio_tone: ./audio-tone, the static guest-side player/recorder.
sound_audio_tone() {
    cp "${BUILD_DIR:-}/tests/rig/audio-tone" audio-tone 2>/dev/null ||
        gcc -static -O2 -o audio-tone "$RIG_DIR/audio-tone.c" -lm ||
        skip "cannot build a static helper (libc6-dev)"
}

# sound_tone_guest OUT.cpio.gz [SETUP]: in.wav, cap.img and a guest that
# runs the shell line SETUP (loading a driver), then plays and records.
# Uses $GUEST_MODULES; further mkguest args go in SOUND_GUEST_ADDS (array).
sound_tone_guest() {
    local out=$1 setup=${2:-:}
    sound_audio_tone
    python3 - <<'P'
import array, math, struct
a = array.array('h', [0]) * (2 * 48000)
for i in range(48000):   # one second of 1000 Hz on the left; vaudio loops it
    a[2 * i] = int(9000 * math.sin(2 * math.pi * 1000 * i / 48000))
d = a.tobytes()
h = b'RIFF' + struct.pack('<I', 36 + len(d)) + b'WAVEfmt ' + struct.pack('<IHHIIHH', 16, 1, 2, 48000, 192000, 4, 16) + b'data' + struct.pack('<I', len(d))
open('in.wav', 'wb').write(h + d)
P
    guest_script sound.sh <<G
$setup
for i in \$(seq 50); do [ -e /dev/snd/pcmC0D0p ] && [ -e /dev/snd/pcmC0D0c ] && break; sleep 0.2; done
ls /dev/snd/ | tr '\n' ' '; echo
cat /proc/asound/cards
/audio-tone play /dev/snd/pcmC0D0p 440 2 || echo "guest-play-failed"
/audio-tone record /dev/snd/pcmC0D0c 1.5 > /dev/vda || echo "guest-record-failed"
sync
echo "guest-sound-done"
G
    build_guest "$out" --add sound.sh:/init.d/10-sound --add audio-tone:/audio-tone "${SOUND_GUEST_ADDS[@]}"
    truncate -s 4M cap.img
}

# sound_tone_check WHAT: after the VMM ran the guest (serial.log): the
# guest's PCM devices worked, out.wav peaks at 440 Hz, the recording at 1000.
sound_tone_check() {
    local what=$1 peak rest
    grep -q "guest-sound-done" serial.log || { show_tail serial.log; fail "the guest did not finish"; }
    grep -q "pcmC0D0p" serial.log || { show_tail serial.log; fail "no $what playback device in the guest"; }
    grep -q "guest-play-failed\|guest-record-failed" serial.log && { show_tail serial.log; fail "the guest's ALSA calls failed"; }
    read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" out.wav)
    log "$what playback: out.wav peak ${peak} Hz ($rest)"
    [ "$peak" -ge 435 ] && [ "$peak" -le 445 ] || fail "$what playback peak is $peak Hz, wanted 440"
    read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" --raw cap.img)
    log "$what capture: guest recorded peak ${peak} Hz ($rest)"
    [ "$peak" -ge 995 ] && [ "$peak" -le 1005 ] || fail "$what capture peak is $peak Hz, wanted 1000"
}
SOUND_GUEST_ADDS=()
