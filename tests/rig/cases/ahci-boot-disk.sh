#!/bin/bash
# SeaBIOS boots the hybrid GRUB ISO as an AHCI disk (bus=ahci, its MBR);
# Linux then reads /dev/sda (see ../ahci-boot.sh).
set -eu
. "$RIG_LIB"
. "$RIG_DIR/ahci-boot.sh"
ahci_boot disk
