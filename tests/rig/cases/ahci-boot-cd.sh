#!/bin/bash
# SeaBIOS boots the hybrid GRUB ISO from an AHCI CD drive (--cdrom, El Torito);
# Linux then reads /dev/sr0 (see ../ahci-boot.sh).
set -eu
. "$RIG_LIB"
. "$RIG_DIR/ahci-boot.sh"
ahci_boot cd
