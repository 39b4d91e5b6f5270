#!/bin/bash
# Assembles a bootable GPT disk image from a root directory (made by
# build.sh) and a directory with the state partition's content, without loop
# devices or mounts: mkfs.vfat + mtools for the ESP, mkfs.ext4 -d for the
# others, sgdisk for the table and dd to place each file system.
#
# Usage: assemble.sh ROOTFS STATEDIR IMAGE
# Environment: ESP_SIZE_MB (256), ROOT_SIZE_MB (2048), STATE_SIZE_MB (512),
# EXTRA_CMDLINE (appended to the kernel command line).
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 ROOTFS STATEDIR IMAGE" >&2
	exit 2
fi
rootfs=$1
statedir=$2
image=$3
ESP_SIZE_MB=${ESP_SIZE_MB:-256}
ROOT_SIZE_MB=${ROOT_SIZE_MB:-2048}
STATE_SIZE_MB=${STATE_SIZE_MB:-512}
work=$(mktemp -d "$(dirname "$image")/assemble.XXXXXX")
trap 'rm -rf "$work"' EXIT

kver=$(basename "$(ls -d "$rootfs"/lib/modules/* | sort -V | tail -n 1)")
for f in "$rootfs/boot/vmlinuz-$kver" "$rootfs/boot/initrd.img-$kver" "$rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi"; do
	[ -f "$f" ] || { echo "assemble.sh: $f missing from the root file system" >&2; exit 1; }
done

# The root is found by its partition UUID, fresh for every image.
root_uuid=$(cat /proc/sys/kernel/random/uuid)
cmdline="root=PARTUUID=$root_uuid rw console=tty0 console=ttyS0,115200n8 ${EXTRA_CMDLINE:-}"
cmdline=${cmdline% }
# Kernel upgrades on the server reuse it (/etc/kernel/postinst.d/zz-rampart-esp).
echo "$cmdline" >"$rootfs/etc/kernel/cmdline"

esp=$work/esp.img
mkfs.vfat -F 32 -n ESP -C "$esp" $((ESP_SIZE_MB * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/loader ::/loader/entries
mcopy -i "$esp" "$rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/systemd/systemd-bootx64.efi
mcopy -i "$esp" "$rootfs/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$esp" "$rootfs/boot/initrd.img-$kver" ::/initrd.img
printf 'default rampart.conf\ntimeout 2\nconsole-mode keep\neditor no\n' >"$work/loader.conf"
printf 'title Rampart signer\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n' "$cmdline" >"$work/rampart.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$work/rampart.conf" ::/loader/entries/rampart.conf

used_mb=$(du -sm "$rootfs" | cut -f1)
if [ $((used_mb * 3 / 2)) -gt "$ROOT_SIZE_MB" ]; then
	echo "assemble.sh: the root file system holds ${used_mb} MiB; ROOT_SIZE_MB=$ROOT_SIZE_MB leaves too little room for upgrades" >&2
	exit 1
fi
mkfs.ext4 -q -L rampart-root -d "$rootfs" "$work/root.img" "${ROOT_SIZE_MB}M"
mkfs.ext4 -q -L rampart-state -d "$statedir" "$work/state.img" "${STATE_SIZE_MB}M"

rm -f "$image"
truncate -s "$((1 + ESP_SIZE_MB + ROOT_SIZE_MB + STATE_SIZE_MB + 1))M" "$image"
# Never sgdisk -q: on a fresh file it silently writes nothing.
sgdisk --clear \
	-n "1:1M:+${ESP_SIZE_MB}M" -t 1:ef00 -c 1:ESP \
	-n "2:0:+${ROOT_SIZE_MB}M" -t 2:8304 -c 2:rampart-root -u "2:$root_uuid" \
	-n "3:0:+${STATE_SIZE_MB}M" -t 3:8300 -c 3:rampart-state \
	"$image" >/dev/null
if ! sgdisk -v "$image" | grep -q 'No problems found'; then
	sgdisk -v "$image" >&2
	exit 1
fi

# put N FILE copies a file system into partition N. sgdisk aligns
# partitions to 1 MiB, so whole-MiB blocks fit exactly.
put() {
	local start
	start=$(sgdisk -i "$1" "$image" | awk '/^First sector:/ { print $3 }')
	if [ $((start % 2048)) -ne 0 ]; then
		echo "assemble.sh: partition $1 starts at sector $start, not on a MiB boundary" >&2
		exit 1
	fi
	dd if="$2" of="$image" bs=1M seek=$((start / 2048)) conv=notrunc,sparse status=none
}
put 1 "$esp"
put 2 "$work/root.img"
put 3 "$work/state.img"
sgdisk -p "$image"
