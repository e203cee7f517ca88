# Sourced by the toolstack's host tests (inside domus-session): the user
# template "payload" boots the snapshot payload (tests/payload/snapshot.c) on
# this machine's /dev/kvm: 64M, one CPU, a 16M disk.
mkdir -p "$XDG_DATA_HOME/domus/templates"
cat > "$XDG_DATA_HOME/domus/templates/payload.template" <<T
[template]
id=payload
name=Snapshot test payload
os-family=linux
firmware=direct
kernel=$payload
memory=64M
cpus=1
disk-size=16M
devices=virtio
clock=utc
T
