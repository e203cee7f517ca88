#!/bin/bash
# case-timeout: 400
# --audio pulse against a real PulseAudio daemon started here (its own
# runtime dir, a null sink): the guest plays a 440 Hz tone on HDA and parec
# records it from the sink's monitor with its peak at 440 Hz.
set -eu
. "$RIG_LIB"
. "$RIG_DIR/sound-lib.sh"
require_vmm
require_cmd python3 pulseaudio parec

sound_audio_tone
export XDG_RUNTIME_DIR=$CASE_TMPDIR/run HOME=$CASE_TMPDIR
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
spawn pulse.log 600 pulseaudio --daemonize=no --system=false -n --exit-idle-time=-1 \
    -L "module-null-sink sink_name=domus_test rate=48000" -L module-native-protocol-unix
for i in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.2; done
pactl info >/dev/null 2>&1 || { show_tail pulse.log.err; skip "PulseAudio does not start here"; }
pactl set-default-sink domus_test

guest_script sound.sh <<'G'
for i in $(seq 50); do [ -e /dev/snd/pcmC0D0p ] && break; sleep 0.2; done
echo "guest-sound-ready"
sleep 2
/audio-tone play /dev/snd/pcmC0D0p 440 2 || echo "guest-play-failed"
echo "guest-sound-done"
G
GUEST_MODULES="$GUEST_MODULES snd-hda-intel snd-hda-codec-generic"
build_guest guest.cpio.gz --add sound.sh:/init.d/10-sound --add audio-tone:/audio-tone
vmm_start serial.log 400 --memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --audio pulse
vmm=$SPAWNED_PID
# Record only around the tone (spectrum.py reads the first 10 s), with a
# short fragment so that killing parec loses nothing still in the server.
wait_for_line serial.log "guest-sound-ready" 300
spawn rec.log 600 parec --device=domus_test.monitor --latency-msec=20 --format=s16le --rate=48000 --channels=2 --raw
rec=$SPAWNED_PID
wait_for_line serial.log "guest-sound-done" 120 "$vmm"
sleep 0.5
kill "$rec"
expect_exit 0 "$vmm"
grep -q "warning: no sound" serial.log.err && fail "domus-vmm did not reach the PulseAudio daemon"
grep -q "guest-play-failed" serial.log && { show_tail serial.log; fail "the guest could not play"; }
read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" --raw rec.log)
log "PulseAudio sink monitor: peak ${peak} Hz ($rest)"
[ "$peak" -ge 435 ] && [ "$peak" -le 445 ] || fail "sink monitor peak is $peak Hz, wanted 440"
