#!/bin/bash
# Builds Rampart's bootable UEFI disk image from Debian 12 (bookworm):
# debootstrap minbase into a directory, the kernel, systemd-boot, the
# Rampart .debs installed with apt and their units enabled, SSH installed but
# disabled. No loop devices and no mounts: the file systems are made from
# directories (mkfs.ext4 -d, mkfs.vfat + mtools) and put into a GPT disk
# file with sgdisk and dd.
#
# Layout (GPT):
#   1  ESP            FAT32  systemd-boot, kernel, initrd (mounted at /boot/efi)
#   2  rampart-root   ext4   the operating system
#   3  rampart-state  ext4   /var/lib/rampart-signer: slashing database, audit
#                            log, sealed shares; nodev,nosuid,noexec. Keeping
#                            the signer's only writable data on its own
#                            partition lets the root be mounted read-only.
#
# Usage: build.sh DIST
#   reads  DIST/rampart-signer_$VERSION_*.deb, DIST/rampartctl_$VERSION_*.deb
#   writes DIST/image/rootfs (kept for image-test), DIST/rampart-$VERSION-amd64.img
# Environment: VERSION (required); MIRROR and SECURITY_MIRROR (default: the
# ones this machine's apt sources use for bookworm and bookworm-security,
# see mirror.sh); sizes as in assemble.sh.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
work=$dist/image
rootfs=$work/rootfs
image=$dist/rampart-$VERSION-amd64.img
SUITE=bookworm

shopt -s nullglob
debs=("$dist"/rampart-signer_"$VERSION"_*.deb "$dist"/rampartctl_"$VERSION"_*.deb)
shopt -u nullglob
if [ ${#debs[@]} -ne 2 ]; then
	echo "build.sh: $dist has no rampart-signer and rampartctl .debs for version $VERSION; run make deb first" >&2
	exit 1
fi

# The Debian mirror: MIRROR when set, else the one this machine's apt uses
# for $SUITE main (mirror.sh), so the image is built from the same (possibly
# local or pinned) source and the tree names no host. The security archive
# likewise: SECURITY_MIRROR, else this machine's source for $SUITE-security,
# else the mirror's sibling debian-security directory.
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$("$here/mirror.sh" "$SUITE") || {
		echo "build.sh: set MIRROR to the Debian mirror to build the image from" >&2
		exit 1
	}
fi
if [ -z "${SECURITY_MIRROR:-}" ]; then
	SECURITY_MIRROR=$("$here/mirror.sh" "$SUITE-security" 2>/dev/null) || SECURITY_MIRROR=${MIRROR%/debian}/debian-security
fi

in_root() {
	chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
apt_in_root() {
	in_root apt-get -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false -y -q install "$@"
}

rm -rf "$work"
mkdir -p "$work"

step "debootstrap $SUITE minbase from $MIRROR"
debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,udev,dbus,kmod,systemd-resolved,iproute2,ca-certificates,curl,less,procps,openssh-server,softhsm2,opensc \
	"$SUITE" "$rootfs" "$MIRROR"

# Name resolution inside the chroot while building: the build machine's
# (systemd-resolved's package points /etc/resolv.conf at its stub, which
# does not run in a chroot). The symlink is restored at the end.
rm -f "$rootfs/etc/resolv.conf"
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"

# Same sources as the build machine, security updates included, so `apt
# upgrade` on the server works out of the box.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
rm -f "$rootfs/etc/apt/sources.list.d/"*

# Kernel in two steps: with zstd and initramfs-tools installed first, the
# kernel's postinst builds its initramfs once instead of twice.
step "initramfs-tools and zstd"
in_root apt-get -q update
apt_in_root zstd initramfs-tools
step "kernel and systemd-boot"
apt_in_root linux-image-amd64 systemd-boot-efi

step "Rampart packages"
mkdir -p "$rootfs/tmp/debs"
cp "${debs[@]}" "$rootfs/tmp/debs/"
in_debs=()
for d in "${debs[@]}"; do in_debs+=("/tmp/debs/$(basename "$d")"); done
apt_in_root "${in_debs[@]}"
rm -rf "$rootfs/tmp/debs"

step "configure the system"
install -m 0644 "$here/files/10-rampart.preset" "$rootfs/usr/lib/systemd/system-preset/10-rampart.preset"
install -m 0644 "$here/files/80-dhcp.network" "$rootfs/etc/systemd/network/80-dhcp.network"
install -m 0755 "$here/files/zz-rampart-esp" "$rootfs/etc/kernel/postinst.d/zz-rampart-esp"
install -d "$rootfs/etc/initramfs/post-update.d"
install -m 0755 "$here/files/zz-rampart-esp" "$rootfs/etc/initramfs/post-update.d/zz-rampart-esp"
echo rampart >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trampart\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
ln -sf /usr/share/zoneinfo/Etc/UTC "$rootfs/etc/localtime"
# Each server gets its own machine id on first boot.
echo uninitialized >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Host keys are made per server when an operator enables SSH
# (dpkg-reconfigure openssh-server), never shared by every copy of the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
in_root systemctl disable ssh.service ssh.socket
in_root systemctl enable systemd-networkd.service systemd-resolved.service
in_root systemctl is-enabled rampart-signer.service
# Root has an empty, expired password: the first console login must set
# one. SSH is off and would refuse empty passwords anyway.
in_root passwd -d root
in_root chage -d 0 root
mkdir -p "$rootfs/var/log/journal"

cat >"$rootfs/etc/fstab" <<FSTAB
# <file system>           <mount point>            <type> <options>                         <dump> <pass>
PARTLABEL=rampart-root    /                        ext4   defaults,errors=remount-ro        0      1
PARTLABEL=ESP             /boot/efi                vfat   umask=0077,nodev,nosuid,noexec    0      2
PARTLABEL=rampart-state   /var/lib/rampart-signer  ext4   defaults,nodev,nosuid,noexec      0      2
FSTAB
mkdir -p "$rootfs/boot/efi" "$rootfs/var/lib/rampart-signer"
in_root apt-get -q clean
ln -sf ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/* "$rootfs"/var/log/*.log

step "assemble the disk image"
# The production image's state partition starts empty; systemd gives it to
# the rampart-signer user on the first start (StateDirectory=).
mkdir -p "$work/state"
"$here/assemble.sh" "$rootfs" "$work/state" "$image"
step "done: $image"
