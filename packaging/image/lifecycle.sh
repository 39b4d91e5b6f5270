#!/bin/bash
# Tests the maintainer scripts of the rampart-signer, rampart-vc and
# rampart-gateway packages in a copy of the image's root file system (chroot, no systemd running, as
# on a server being installed). Signer: remove keeps configuration and state
# and masks the unit; purge drops configuration, PIN and permission override
# but keeps the state directory; reinstall enables again;
# RAMPART_PURGE_STATE=yes purges the state too; the system user stays.
# Validator client: the same, except that purge removes its state. Gateway:
# the same, with no state at all. Side by side: the PIN they share and the
# directories they all ship stay until the last of them is purged.
#
# Usage: lifecycle.sh DIST     (after make image; needs root)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
root=$dist/image-lifecycle
deb=$(ls "$dist"/rampart-signer_"$VERSION"_*.deb)
vcdeb=$(ls "$dist"/rampart-vc_"$VERSION"_*.deb)
gwdeb=$(ls "$dist"/rampart-gateway_"$VERSION"_*.deb)
rm -rf "$root"
cp -a "$dist/image/rootfs" "$root"
trap 'rm -rf "$root"' EXIT
cp "$deb" "$root/tmp/signer.deb"
cp "$vcdeb" "$root/tmp/vc.deb"
cp "$gwdeb" "$root/tmp/gateway.deb"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
failed=0
expect() { # expect DESCRIPTION COMMAND...
	if "${@:2}" >/dev/null 2>&1; then echo "ok    $1"; else echo "FAIL  $1"; failed=1; fi
}
wants=$root/etc/systemd/system/multi-user.target.wants/rampart-signer.service

expect "installed: unit enabled" test -L "$wants"
expect "installed: system user exists" in_root getent passwd rampart-signer
expect "installed: configuration root:rampart-signer 0640" \
	test "$(in_root stat -c '%U:%G %a' /etc/rampart/signer.yaml)" = "root:rampart-signer 640"
expect "installed: credentials directory root-only" test "$(stat -c '%a' "$root/etc/rampart/credentials")" = 700

install -m 0600 /dev/null "$root/etc/rampart/credentials/hsm-pin"
mkdir -p "$root/var/lib/rampart-signer/shares"
touch "$root/var/lib/rampart-signer/slashing-protection.db"
echo "# local edit" >>"$root/etc/rampart/signer.yaml"

in_root dpkg -i /tmp/signer.deb >/dev/null
expect "upgrade: local configuration kept" grep -q '# local edit' "$root/etc/rampart/signer.yaml"

in_root dpkg -r rampart-signer >/dev/null
expect "remove: configuration kept" test -f "$root/etc/rampart/signer.yaml"
expect "remove: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "remove: unit masked" test "$(readlink "$root/etc/systemd/system/rampart-signer.service")" = /dev/null
expect "remove: state kept" test -f "$root/var/lib/rampart-signer/slashing-protection.db"

in_root dpkg -P rampart-signer >/dev/null 2>&1
expect "purge: configuration removed" test ! -e "$root/etc/rampart/signer.yaml"
expect "purge: PIN removed" test ! -e "$root/etc/rampart/credentials/hsm-pin"
expect "purge: permission override removed" bash -c "! chroot '$root' dpkg-statoverride --list /etc/rampart/signer.yaml"
expect "purge: unit unmasked" test ! -L "$root/etc/systemd/system/rampart-signer.service"
expect "purge: slashing database kept unless asked" test -f "$root/var/lib/rampart-signer/slashing-protection.db"
expect "purge: system user kept" in_root getent passwd rampart-signer

in_root dpkg -i /tmp/signer.deb >/dev/null
expect "reinstall: unit enabled again" test -L "$wants"
in_root env RAMPART_PURGE_STATE=yes dpkg -P rampart-signer >/dev/null 2>&1
expect "purge with RAMPART_PURGE_STATE=yes: state removed" test -z "$(ls -A "$root/var/lib/rampart-signer" 2>/dev/null)"

# The validator client alone (the image does not install it).
vcwants=$root/etc/systemd/system/multi-user.target.wants/rampart-vc.service
in_root dpkg -i /tmp/vc.deb >/dev/null
expect "vc installed: unit enabled" test -L "$vcwants"
expect "vc installed: system user exists" in_root getent passwd rampart-vc
expect "vc installed: configuration root:rampart-vc 0640" \
	test "$(in_root stat -c '%U:%G %a' /etc/rampart/vc.yaml)" = "root:rampart-vc 640"
expect "vc installed: credentials directory root-only" test "$(stat -c '%a' "$root/etc/rampart/credentials")" = 700

install -m 0600 /dev/null "$root/etc/rampart/credentials/hsm-pin"
mkdir -p "$root/var/lib/rampart-vc"
touch "$root/var/lib/rampart-vc/state"
echo "# local edit" >>"$root/etc/rampart/vc.yaml"

in_root dpkg -i /tmp/vc.deb >/dev/null
expect "vc upgrade: local configuration kept" grep -q '# local edit' "$root/etc/rampart/vc.yaml"

in_root dpkg -r rampart-vc >/dev/null
expect "vc remove: configuration kept" test -f "$root/etc/rampart/vc.yaml"
expect "vc remove: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "vc remove: unit masked" test "$(readlink "$root/etc/systemd/system/rampart-vc.service")" = /dev/null
expect "vc remove: state kept" test -f "$root/var/lib/rampart-vc/state"

in_root dpkg -P rampart-vc >/dev/null 2>&1
expect "vc purge: configuration removed" test ! -e "$root/etc/rampart/vc.yaml"
expect "vc purge: PIN removed" test ! -e "$root/etc/rampart/credentials/hsm-pin"
expect "vc purge: permission override removed" bash -c "! chroot '$root' dpkg-statoverride --list /etc/rampart/vc.yaml"
expect "vc purge: unit unmasked" test ! -L "$root/etc/systemd/system/rampart-vc.service"
expect "vc purge: state removed" test ! -e "$root/var/lib/rampart-vc"
expect "vc purge: system user kept" in_root getent passwd rampart-vc

# Both on one server: whichever is purged first leaves the other its
# configuration directory, credentials directory and the PIN.
in_root dpkg -i /tmp/signer.deb /tmp/vc.deb >/dev/null
expect "both installed: both units enabled" test -L "$wants" -a -L "$vcwants"
in_root dpkg -P rampart-signer >/dev/null 2>&1
expect "signer purged beside vc: credentials directory kept" \
	test "$(stat -c '%a' "$root/etc/rampart/credentials" 2>/dev/null)" = 700
expect "signer purged beside vc: vc configuration kept" test -f "$root/etc/rampart/vc.yaml"
install -m 0600 /dev/null "$root/etc/rampart/credentials/hsm-pin"
in_root dpkg -i /tmp/signer.deb >/dev/null
in_root dpkg -P rampart-vc >/dev/null 2>&1
expect "vc purged beside signer: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "vc purged beside signer: signer configuration kept" test -f "$root/etc/rampart/signer.yaml"
in_root dpkg -i /tmp/vc.deb >/dev/null
in_root dpkg -P rampart-signer >/dev/null 2>&1
expect "signer purged beside vc: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
in_root dpkg -P rampart-vc >/dev/null 2>&1
expect "last purge: PIN removed" test ! -e "$root/etc/rampart/credentials/hsm-pin"
expect "last purge: /etc/rampart removed" test ! -e "$root/etc/rampart"

# The gateway alone (on a validator client's host).
gwwants=$root/etc/systemd/system/multi-user.target.wants/rampart-gateway.service
in_root dpkg -i /tmp/gateway.deb >/dev/null
expect "gateway installed: unit enabled" test -L "$gwwants"
expect "gateway installed: system user exists" in_root getent passwd rampart-gateway
expect "gateway installed: configuration root:rampart-gateway 0640" \
	test "$(in_root stat -c '%U:%G %a' /etc/rampart/gateway.yaml)" = "root:rampart-gateway 640"
expect "gateway installed: credentials directory root-only" test "$(stat -c '%a' "$root/etc/rampart/credentials")" = 700
expect "gateway installed: example configuration is the conffile" \
	cmp "$root/etc/rampart/gateway.yaml" "$root/usr/share/doc/rampart-gateway/examples/gateway.yaml"

install -m 0600 /dev/null "$root/etc/rampart/credentials/hsm-pin"
echo "# local edit" >>"$root/etc/rampart/gateway.yaml"
in_root dpkg -i /tmp/gateway.deb >/dev/null
expect "gateway upgrade: local configuration kept" grep -q '# local edit' "$root/etc/rampart/gateway.yaml"

in_root dpkg -r rampart-gateway >/dev/null
expect "gateway remove: configuration kept" test -f "$root/etc/rampart/gateway.yaml"
expect "gateway remove: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "gateway remove: unit masked" test "$(readlink "$root/etc/systemd/system/rampart-gateway.service")" = /dev/null

in_root dpkg -P rampart-gateway >/dev/null 2>&1
expect "gateway purge: configuration removed" test ! -e "$root/etc/rampart/gateway.yaml"
expect "gateway purge: PIN removed" test ! -e "$root/etc/rampart/credentials/hsm-pin"
expect "gateway purge: permission override removed" bash -c "! chroot '$root' dpkg-statoverride --list /etc/rampart/gateway.yaml"
expect "gateway purge: unit unmasked" test ! -L "$root/etc/systemd/system/rampart-gateway.service"
expect "gateway purge: /etc/rampart removed" test ! -e "$root/etc/rampart"
expect "gateway purge: system user kept" in_root getent passwd rampart-gateway

# All three on one server: each purge but the last leaves the PIN and the
# directories to the others.
in_root dpkg -i /tmp/signer.deb /tmp/vc.deb /tmp/gateway.deb >/dev/null
expect "three installed: three units enabled" test -L "$wants" -a -L "$vcwants" -a -L "$gwwants"
install -m 0600 /dev/null "$root/etc/rampart/credentials/hsm-pin"
in_root dpkg -P rampart-signer >/dev/null 2>&1
in_root dpkg -P rampart-vc >/dev/null 2>&1
expect "signer and vc purged beside the gateway: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "signer and vc purged beside the gateway: gateway configuration kept" test -f "$root/etc/rampart/gateway.yaml"
in_root dpkg -i /tmp/vc.deb >/dev/null
in_root dpkg -P rampart-gateway >/dev/null 2>&1
expect "gateway purged beside vc: PIN kept" test -f "$root/etc/rampart/credentials/hsm-pin"
expect "gateway purged beside vc: vc configuration kept" test -f "$root/etc/rampart/vc.yaml"
in_root dpkg -P rampart-vc >/dev/null 2>&1
expect "last of three purged: PIN removed" test ! -e "$root/etc/rampart/credentials/hsm-pin"
expect "last of three purged: /etc/rampart removed" test ! -e "$root/etc/rampart"

if [ $failed -ne 0 ]; then
	echo "lifecycle: FAILED" >&2
	exit 1
fi
echo "lifecycle: passed"
