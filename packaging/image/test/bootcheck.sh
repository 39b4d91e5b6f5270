#!/bin/sh
# Runs inside the booted test image (rampart-bootcheck.service) and reports
# on the serial console, one line per check:
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

# The signer: active (running) under the hardened unit, within the start
# timeout (unsealing happens before READY=1).
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
	pass signer-running "$unit active (running) after ${i}s"
else
	fail signer-running "$unit is '$state' after ${i}s"
	journalctl -u $unit -b --no-pager -n 40 -o cat
fi

check upcheck "GET http://127.0.0.1:9200/upcheck" curl -fsS --max-time 10 http://127.0.0.1:9200/upcheck

if [ -x /usr/local/lib/rampart-bootcheck/sign.sh ]; then
	check sign "one signing request through the API, signature verified" /usr/local/lib/rampart-bootcheck/sign.sh
else
	fail sign "no signing check installed"
fi

echo "RAMPART-BOOTCHECK DONE $passed passed, $failed failed"
systemctl --no-block poweroff
