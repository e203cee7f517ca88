#!/bin/bash
# A live snapshot of a Linux guest on the emulated NIC and sound card (e1000
# with Linux's e1000 driver, Intel HDA with snd-hda-intel): the guest has a
# DHCP address and is playing a 440 Hz tone when the VM is saved. Reverted
# while running, the guest's playback (rewound to mid-tone) runs to its end
# without an ALSA error (the stream goes on from the saved position on a
# reopened WAV backend), the tone is in out.wav, and the NIC keeps its MAC
# and address and downloads 1 MiB from the host intact. (The running VM's
# own playback must finish too: the save does not disturb it.)
set -eu
. "$RIG_LIB"
require_vmm
require_cmd gcc python3

gcc -static -O2 -o audio-tone "$RIG_DIR/audio-tone.c" -lm || skip "cannot build a static helper (libc6-dev)"
. "$RIG_DIR/netlib.sh"
net_http_start
net_udhcpc_script
GUEST_MODULES="$GUEST_MODULES e1000 snd-hda-intel snd-hda-codec-generic"
build_guest guest.cpio.gz --add udhcpc.sh:/etc/udhcpc.sh --add audio-tone:/audio-tone

mac=52:54:00:5e:1f:07
args=(--memory 256M --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz
      --append "console=ttyS0 quiet mkguest.shell=1" --net "user,model=e1000,mac=$mac" --audio wav:out.wav
      --serial "unix:$PWD/ser.sock" --control "unix:$PWD/ctl.sock" --name rig-snapshot-emulated)
drive() { python3 "$RIG_DIR/serial-drive.py" "$PWD/ser.sock" "$PWD/ctl.sock" "$@"; }
cmd() { printf '{"execute":"%s","path":"%s"}' "$1" "$PWD/$2"; }

log "domus-vmm ${args[*]}"
spawn vmm.log 600 "$DOMUS_VMM" "${args[@]}"
drive 'ask:echo $((40+2))=>^42$' \
      'send:ip link set eth0 up; sleep 1; udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 2 >/dev/null 2>&1; ip -4 -o addr show eth0 | sed -n "s/.*inet \([0-9.]*\).*/addr=\1/p"' \
      'want:^addr=10\.0\.2\.15$' \
      'ask:ls /dev/snd/ | grep -c pcmC0D0p=>^1$' \
      'send:(/audio-tone play /dev/snd/pcmC0D0p 440 4 && echo play-ok || echo play-failed) &' \
      'send:sleep 1; echo play-$((1+1))s' 'want:^play-2s$' \
      "ctl:$(cmd snapshot-save s1.state)" \
      'want:^play-ok$@60' \
      "ctl:$(cmd snapshot-load s1.state)" \
      'want:^play-ok$@60' \
      'ask:ip -4 -o addr show eth0 | grep -c "inet 10.0.2.15/"=>^1$' \
      "ask:cat /sys/class/net/eth0/address=>^$mac\$" \
      "ask:wget -q -O /tmp/p.bin http://10.0.2.2:$http_port/payload.bin && md5sum < /tmp/p.bin=>^$want_sum" \
      'send:poweroff -f'
expect_exit 0
grep -q "^play-failed" serial-drive.log && fail "the guest's playback failed after the revert"
log "after the revert the guest played its tone to the end and downloaded 1 MiB through the e1000"
read -r peak rest < <(python3 "$RIG_DIR/spectrum.py" out.wav)
seconds=$(python3 -c 'import os; print(round((os.path.getsize("out.wav") - 44) / 192000, 1))')
log "out.wav: ${seconds} s, peak ${peak} Hz ($rest)"
[ "$peak" -ge 435 ] && [ "$peak" -le 445 ] || fail "playback peak is $peak Hz, wanted 440"
python3 -c "import sys; sys.exit(0 if $seconds >= 5 else 1)" ||
    fail "out.wav holds $seconds s: the tone did not go on after the revert (4 s + the part replayed)"
grep -q "e1000:" vmm.log.err 2>/dev/null && { show_tail vmm.log.err; fail "domus-vmm stopped the e1000"; }
kill "$http_pid" 2>/dev/null || :
