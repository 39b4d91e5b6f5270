#!/bin/sh
# Runs inside the booted test image (rampart-bootcheck.service) and reports
# on the serial console, one line per check (then the backup and restore
# drill's duration as an INFO line):
#   RAMPART-BOOTCHECK PASS|FAIL <check>: <detail>
# then RAMPART-BOOTCHECK DONE <passed> passed, <failed> failed, and powers
# the machine off. packaging/image/test.sh reads these lines.
set -u

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "RAMPART-BOOTCHECK PASS $1: $2"; }
fail() { failed=$((failed + 1)); echo "RAMPART-BOOTCHECK FAIL $1: $2"; }
check() { # check NAME DETAIL COMMAND...
	name=$1 detail=$2
	shift 2
	if out=$("$@" 2>&1); then pass "$name" "$detail"; else fail "$name" "$detail: $(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
report() { # report NAME DETAIL COMMAND...: check, with the command's output on PASS too
	name=$1 detail=$2
	shift 2
	if out=$("$@" 2>&1); then
		pass "$name" "$detail: $(echo "$out" | awk 'NR > 1 { printf " | " } { printf "%s", $0 }')"
	else
		fail "$name" "$detail: $(echo "$out" | tail -n 5 | tr '\n' ' ')"
	fi
}

unit=rampart-signer.service

# The packaged, hardened unit is the one in use: loaded from /lib, enabled
# by the package, with no drop-in beyond those the test provisioned.
check unit-installed "$unit loaded from /lib/systemd/system" \
	sh -c "systemctl show -p FragmentPath --value $unit | grep -qx /lib/systemd/system/$unit"
check unit-enabled "$unit enabled" sh -c "systemctl is-enabled $unit | grep -qx enabled"
check ssh-disabled "ssh installed but not enabled or running" \
	sh -c '! systemctl is-enabled --quiet ssh.service && ! systemctl is-active --quiet ssh.service && test -x /usr/sbin/sshd'
opts=",$(findmnt -no OPTIONS /var/lib/rampart-signer 2>/dev/null),"
case $opts in
*,nodev,*) case $opts in *,nosuid,*) case $opts in *,noexec,*) ok=1 ;; *) ok= ;; esac ;; *) ok= ;; esac ;;
*) ok= ;;
esac
if [ -n "$ok" ]; then pass state-partition "/var/lib/rampart-signer mounted $opts"; else fail state-partition "/var/lib/rampart-signer mounted '$opts', want nodev,nosuid,noexec"; fi
exposure=$(systemd-analyze security --no-pager "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 1.0) }'; then
	pass exposure "systemd-analyze security $unit: $exposure (goal 1.0)"
else
	fail exposure "systemd-analyze security $unit: '${exposure:-no score}' (goal 1.0)"
fi

# wait_running NAME: the signer active (running) under the hardened unit,
# within the start timeout (unsealing happens before READY=1).
wait_running() {
	state=
	i=0
	while [ $i -lt 300 ]; do
		state=$(systemctl show -p ActiveState,SubState --value $unit | tr '\n' ' ')
		case $state in
		"active running "|"failed "*) break ;;
		esac
		sleep 1
		i=$((i + 1))
	done
	systemctl status --no-pager --lines=0 $unit | grep -E '^(●|[[:space:]]*(Loaded|Active):)'
	if [ "$state" = "active running " ]; then
		pass "$1" "$unit active (running) after ${i}s"
	else
		fail "$1" "$unit is '$state' after ${i}s"
		journalctl -u $unit -b --no-pager -n 40 -o cat
	fi
}
wait_running signer-running

check upcheck "GET http://127.0.0.1:9200/upcheck" curl -fsS --max-time 10 http://127.0.0.1:9200/upcheck

lib=/usr/local/lib/rampart-bootcheck
if [ ! -x $lib/sign.sh ]; then
	fail sign "no signing check installed"
	echo "RAMPART-BOOTCHECK DONE $passed passed, $failed failed"
	systemctl --no-block poweroff
	exit 0
fi
check sign "one signing request through the API, signature verified" $lib/sign.sh
report sign-attestation "an attestation of the current epoch signed and verified, kept for the double-vote check" \
	$lib/sign.sh -type ATTESTATION -save /root/attestation.json

# The disaster recovery drill of docs/operations.md ("Back up", "Restore",
# "Disaster recovery drill"), with the packaged rampartctl and the
# commands as the guide gives them. The admin identity's key is in the
# boot check's SoftHSM token.
drill_start=$(date +%s)
export SOFTHSM2_CONF=$lib/softhsm2.conf
backup=/root/signer-1-$(date +%F).tar
report backup-create "rampartctl backup create of the running signer" \
	rampartctl backup create --cluster /root/cluster.yaml --node 1 "$backup"
report backup-verify "rampartctl backup verify" rampartctl backup verify "$backup"

# lose_disk: the disk is gone with the state (slashing database, sealed
# shares, audit log and whatever else the signer keeps there) and the
# configuration, which the restore writes back from the backup; the HSM
# survives: SoftHSM's token directory, which the test keeps on the state
# partition, stays, and so do the credentials and drop-ins a rebuilt server
# is given again (docs/operations.md, the drill's step 2).
lost=/root/lost-disk
lose_disk() {
	mkdir "$lost" || return 1
	for f in $(ls -A /var/lib/rampart-signer); do
		case $f in softhsm|lost+found) continue ;; esac
		mv "/var/lib/rampart-signer/$f" "$lost/" || return 1
	done
	for f in slashing-protection.db shares audit; do
		[ -e "$lost/$f" ] || { echo "no $f in /var/lib/rampart-signer"; return 1; }
	done
	mv /etc/rampart/signer.yaml "$lost/" || return 1
	echo "moved to $lost: $(ls -A "$lost" | tr '\n' ' ')"
}
check stop "systemctl stop rampart-signer" systemctl stop rampart-signer
report lose-disk "the state directory emptied but for the HSM's tokens, the configuration gone" lose_disk
report backup-restore "rampartctl backup restore onto the empty state directory, without configuration" \
	rampartctl backup restore --config /etc/rampart/signer.yaml "$backup"
report config-restored "/etc/rampart/signer.yaml written back as the package installs it (root:rampart-signer 640)" \
	sh -c 'o=$(stat -c "%U:%G %a" /etc/rampart/signer.yaml) && echo "$o" && test "$o" = "root:rampart-signer 640"'
check start "systemctl start rampart-signer" systemctl start rampart-signer
wait_running signer-running-restored
report sign-after-restore "a new message (RANDAO_REVEAL for the next epoch) signed and verified" \
	$lib/sign.sh -epoch-offset 1
report double-vote-refused "the conflicting twin of the attestation signed before the backup" \
	$lib/sign.sh -twin-of /root/attestation.json
echo "RAMPART-BOOTCHECK INFO backup, lost disk, restore and signing again took $(($(date +%s) - drill_start))s"

# The daily checks and a certificate renewal's reload, as docs/operations.md
# gives them: /healthcheck answers 200 while this signer can sign (quorum
# apart: the image runs one signer of its cluster), the metrics carry the
# build and the HSM's state, and `systemctl reload` (SIGHUP) re-reads the
# certificate and rules in the same process, which keeps signing.
check healthcheck "GET http://127.0.0.1:9200/healthcheck answers 200" \
	curl -fsS --max-time 10 -o /dev/null http://127.0.0.1:9200/healthcheck
check metrics "GET /metrics carries rampart_build_info and rampart_hsm_up 1" \
	sh -c 'm=$(curl -fsS --max-time 10 http://127.0.0.1:9200/metrics) && echo "$m" | grep -q "^rampart_build_info{" && echo "$m" | grep -Eq "^rampart_hsm_up(\{[^}]*\})? 1$"'
reload_same_process() {
	before=$(systemctl show -p MainPID --value $unit)
	systemctl reload $unit || return 1
	sleep 2
	after=$(systemctl show -p MainPID --value $unit)
	state=$(systemctl show -p ActiveState,SubState --value $unit | tr '\n' ' ')
	echo "MainPID $before -> $after, $state"
	[ "$before" = "$after" ] && [ "$before" != 0 ] && [ "$state" = "active running " ]
}
report reload "systemctl reload rampart-signer: the same process, still active (running)" reload_same_process
report sign-after-reload "a message signed and verified after the reload" $lib/sign.sh

echo "RAMPART-BOOTCHECK DONE $passed passed, $failed failed"
systemctl --no-block poweroff
