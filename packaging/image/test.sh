#!/bin/bash
# The image boot test (`make image-test`): takes the root file system that
# `make image` built, provisions a copy of it as an operator would for a
# one-signer cluster (SoftHSM token with the sealing key, TLS identity
# signed by a cluster CA kept outside the image, the PIN as a systemd
# credential, a configuration and a sealed 1-of-1 share, all through
# rampartctl), boots it under qemu (TCG, OVMF) and reads the serial console
# for rampart-bootcheck's verdicts (test/bootcheck.sh): unit installed and
# enabled, SSH off, state partition, exposure, rampart-signer active
# (running), /upcheck answered, requests signed and verified; then the
# disaster recovery drill of docs/operations.md with the packaged rampartctl:
# a backup of the running signer through its administrative API (an admin
# identity from the test's CA, the administrative token's verifier as a
# systemd credential), the state disk lost, the backup restored, and the
# signer signing again while refusing a double vote of what it signed before
# the backup.
#
# Usage: test.sh DIST
# Environment: VERSION (required); RAMPARTCTL (default bin/rampartctl);
# BOOT_TIMEOUT seconds (default 1200).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
repo=$(cd "$here/../.." && pwd)
base=$dist/image/rootfs
work=$dist/image-test
rootfs=$work/rootfs
state=$work/state
image=$work/rampart-test.img
ctl=$(realpath "${RAMPARTCTL:-$repo/bin/rampartctl}")
module=/usr/lib/softhsm/libsofthsm2.so
BOOT_TIMEOUT=${BOOT_TIMEOUT:-1200}

[ -d "$base" ] || { echo "test.sh: $base missing; run make image first" >&2; exit 1; }
[ -x "$ctl" ] || { echo "test.sh: $ctl missing; run make build first" >&2; exit 1; }
[ -f "$module" ] || { echo "test.sh: $module missing (Debian package softhsm2)" >&2; exit 1; }

step "copy the image's root file system"
rm -rf "$work"
mkdir -p "$work" "$state"
cp -a "$base" "$rootfs"

step "provision: tokens, sealing key, TLS identities"
# Four SoftHSM tokens made on this machine: the cluster CA's (stays here,
# as an offline CA would), the signer's (moved into the image's state
# partition), the boot check's client identity and the operator's admin
# identity (both in the boot check's own SoftHSM directory).
hsm=$work/hsm
mkdir -p "$hsm/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$hsm" >"$hsm/softhsm2.conf"
export SOFTHSM2_CONF=$hsm/softhsm2.conf
pin=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
so_pin=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s' "$pin" >"$hsm/pin")
for label in ca signer client admin; do
	softhsm2-util --init-token --free --label "rampart-$label" --pin "$pin" --so-pin "$so_pin" >/dev/null
done
uri() { echo "pkcs11:token=rampart-$1;object=$2?module-path=$module&pin-source=file:$hsm/pin"; }
"$ctl" hsm init --key "$(uri signer rampart-seal)"
"$ctl" tls ca --key "$(uri ca rampart-ca)" --out "$work/ca.pem" --name "Rampart boot test CA"
"$ctl" tls issue --name 127.0.0.1 --key "$(uri signer rampart-tls)" \
	--ca-key "$(uri ca rampart-ca)" --ca-cert "$work/ca.pem" --out "$work/signer.pem"
"$ctl" tls issue --name bootcheck.rampart.test --key "$(uri client bootcheck-tls)" \
	--ca-key "$(uri ca rampart-ca)" --ca-cert "$work/ca.pem" --out "$work/client.pem"
"$ctl" tls issue --name admin.rampart.test --key "$(uri admin admin-tls)" \
	--ca-key "$(uri ca rampart-ca)" --ca-cert "$work/ca.pem" --out "$work/admin.pem"
# The administrative token, made where the operator works; the signer gets
# only its verifier (docs/operations.md, "Administrators").
admin_verifier=$("$ctl" admin token --out "$work/admin.token")

step "provision: a sealed 1-of-1 share"
# `rampartctl shares deal` is the offline dealer: it creates the validator
# key, splits it (here t=1, n=1), seals the share with the signer's sealing
# key, writes the sealed share file and registers the key in the signer's
# slashing protection database. It reads the signer's configuration: the
# image's, with this machine's paths for the state and the PIN.
sed -e "s|@PUBKEY@|0x$(printf 'a0%.0s' $(seq 48))|" \
	-e "s|^data_dir: .*|data_dir: $state|" \
	-e "s|pin-source=credential:hsm-pin|pin-source=file:$hsm/pin|g" \
	-e "s|/etc/rampart/tls/signer.pem|$work/signer.pem|" -e "s|/etc/rampart/tls/ca.pem|$work/ca.pem|" \
	"$here/test/signer.yaml" >"$work/deal.yaml"
"$ctl" shares deal --config "$work/deal.yaml" --validators 1 --threshold 1 --accept-low-safety --out "$work/pubkey"
pubkey=$(tr -d ' \n' <"$work/pubkey")
echo "validator $pubkey"

step "provision: configuration, PIN credential, SoftHSM for the service"
# token_dir prints the directory of the token with the given label.
token_dir() {
	local d
	for d in "$hsm"/tokens/*/; do
		if grep -qa "rampart-$1" "$d/token.object"; then
			echo "${d%/}"
			return
		fi
	done
	echo "test.sh: token rampart-$1 not found in $hsm/tokens" >&2
	exit 1
}
mkdir -p "$state/softhsm/tokens" "$rootfs/var/lib/rampart-bootcheck/softhsm/tokens"
cp -a "$(token_dir signer)" "$state/softhsm/tokens/"
cp -a "$(token_dir client)" "$(token_dir admin)" "$rootfs/var/lib/rampart-bootcheck/softhsm/tokens/"
printf 'directories.tokendir = /var/lib/rampart-signer/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	>"$rootfs/etc/rampart/softhsm2.conf"
install -d -m 0755 "$rootfs/etc/rampart/tls"
install -m 0644 "$work/ca.pem" "$rootfs/etc/rampart/tls/ca.pem"
install -m 0644 "$work/signer.pem" "$rootfs/etc/rampart/tls/signer.pem"
install -m 0600 "$hsm/pin" "$rootfs/etc/rampart/credentials/hsm-pin"
sed -e "s|@PUBKEY@|$pubkey|g" "$here/test/signer.yaml" >"$rootfs/etc/rampart/signer.yaml"
# SoftHSM finds its tokens through SOFTHSM2_CONF (not a secret), set in a
# drop-in as docs/operations.md describes for test servers.
install -d "$rootfs/etc/systemd/system/rampart-signer.service.d"
printf '[Service]\nEnvironment=SOFTHSM2_CONF=/etc/rampart/softhsm2.conf\n' \
	>"$rootfs/etc/systemd/system/rampart-signer.service.d/50-softhsm.conf"
# The administrative token's verifier, as docs/operations.md tells an
# operator: a root-only file under /etc/rampart/credentials, handed to the
# service by a LoadCredential= drop-in (signer.yaml: admin.token:
# credential:admin-token).
install -m 0600 -o root -g root /dev/null "$rootfs/etc/rampart/credentials/admin-token"
echo "$admin_verifier" >"$rootfs/etc/rampart/credentials/admin-token"
printf '[Service]\nLoadCredential=admin-token:/etc/rampart/credentials/admin-token\n' \
	>"$rootfs/etc/systemd/system/rampart-signer.service.d/admin-token.conf"

step "install the boot check"
lib=$rootfs/usr/local/lib/rampart-bootcheck
install -d "$lib"
(cd "$repo" && CGO_ENABLED=1 go build -trimpath -o "$lib/signcheck" ./packaging/image/test/signcheck)
install -m 0755 "$here/test/bootcheck.sh" "$lib/bootcheck.sh"
install -m 0644 "$work/ca.pem" "$lib/ca.pem"
install -m 0644 "$work/client.pem" "$lib/client.pem"
install -m 0644 "$work/admin.pem" "$lib/admin.pem"
install -m 0600 "$work/admin.token" "$lib/admin.token"
install -m 0600 "$hsm/pin" "$lib/pin"
# The operator's cluster file, where docs/operations.md's backup commands
# look for it (--cluster /root/cluster.yaml): the signer's endpoints, the
# cluster CA and the admin identity with the administrative token.
install -d -m 0700 "$rootfs/root"
cat >"$rootfs/root/cluster.yaml" <<CLUSTER
network:
  name: mainnet
cluster_id: bootcheck
threshold: 1
ca: /usr/local/lib/rampart-bootcheck/ca.pem
participants:
  - id: 1
    endpoint: https://127.0.0.1:9100
    tls_name: 127.0.0.1
admin:
  name: admin.rampart.test
  certificate: /usr/local/lib/rampart-bootcheck/admin.pem
  key: "pkcs11:token=rampart-admin;object=admin-tls?module-path=$module&pin-source=file:/usr/local/lib/rampart-bootcheck/pin"
  token: file:/usr/local/lib/rampart-bootcheck/admin.token
CLUSTER
printf 'directories.tokendir = /var/lib/rampart-bootcheck/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' >"$lib/softhsm2.conf"
cat >"$lib/sign.sh" <<SIGN
#!/bin/sh
SOFTHSM2_CONF=/usr/local/lib/rampart-bootcheck/softhsm2.conf exec /usr/local/lib/rampart-bootcheck/signcheck \\
	-url https://127.0.0.1:9000 -ca /usr/local/lib/rampart-bootcheck/ca.pem \\
	-cert /usr/local/lib/rampart-bootcheck/client.pem \\
	-key 'pkcs11:token=rampart-client;object=bootcheck-tls?module-path=$module&pin-source=file:/usr/local/lib/rampart-bootcheck/pin' \\
	-pubkey $pubkey -network mainnet "\$@"
SIGN
chmod 0755 "$lib/sign.sh"
install -m 0644 "$here/test/rampart-bootcheck.service" "$rootfs/etc/systemd/system/rampart-bootcheck.service"
chroot "$rootfs" systemctl enable rampart-bootcheck.service

step "assemble the test image"
"$here/assemble.sh" "$rootfs" "$state" "$image"

step "boot under qemu (TCG, OVMF); console in $work/console.log"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/ovmf-vars.fd"
# restrict=on: the guest gets a network interface but reaches nothing
# outside qemu.
set +e
timeout "$BOOT_TIMEOUT" qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -smp 2 -m 2048 \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,unit=1,file="$work/ovmf-vars.fd" \
	-drive file="$image",format=raw,if=virtio \
	-netdev user,id=net0,restrict=on -device virtio-net-pci,netdev=net0 \
	-device virtio-rng-pci \
	-display none -monitor none -serial file:"$work/console.log" -no-reboot
qemu_status=$?
set -e

step "verdict"
log=$work/console.log
grep -a 'RAMPART-BOOTCHECK\|rampart-signer.service - \|Active:' "$log" | tr -d '\r' || true
if [ $qemu_status -eq 124 ]; then
	echo "image-test: the machine did not power off within ${BOOT_TIMEOUT}s; last console lines:" >&2
	tail -n 40 "$log" | tr -d '\r' >&2
	exit 1
fi
if ! grep -aq 'RAMPART-BOOTCHECK DONE' "$log"; then
	echo "image-test: the boot check never finished; last console lines:" >&2
	tail -n 40 "$log" | tr -d '\r' >&2
	exit 1
fi
if grep -aq 'RAMPART-BOOTCHECK FAIL' "$log"; then
	echo "image-test: FAILED" >&2
	exit 1
fi
if ! grep -aq 'Active: active (running)' "$log"; then
	echo "image-test: rampart-signer never showed 'active (running)' on the console" >&2
	exit 1
fi
echo "image-test: passed"
