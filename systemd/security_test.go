package systemd_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/systemd"
)

// units lists every unit the packages install; a new unit must be added
// here so its sandbox is measured too.
var units = []string{"rampart-signer.service", "rampart-vc.service", "rampart-gateway.service"}

var overallRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+\.[0-9])`)

// exposure runs systemd-analyze on the unit file and returns the overall
// exposure level it prints, with the full report for failure messages.
func exposure(t *testing.T, unit string) (float64, string) {
	t.Helper()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (Debian package systemd; `make deps` installs it): %v", err)
	}
	path, err := filepath.Abs(unit)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// --threshold=100 keeps the exit status zero whatever the score, so a
	// non-zero status means the unit file itself could not be analysed.
	cmd := exec.CommandContext(ctx, tool, "security", "--offline=true", "--threshold=100", "--no-pager", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
	}
	m := overallRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security %s: no overall exposure line in:\n%s", unit, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v, string(out)
}

func TestExposureAtMostGoal(t *testing.T) {
	for _, unit := range units {
		t.Run(unit, func(t *testing.T) {
			got, report := exposure(t, unit)
			if got > systemd.MaxExposure {
				t.Fatalf("exposure %.1f exceeds the goal %.1f; the settings that cost exposure:\n%s",
					got, systemd.MaxExposure, failing(report))
			}
			t.Logf("%s: exposure %.1f", unit, got)
		})
	}
}

// TestExposureCatchesStrippedSandbox shows the measurement can fail: the
// signer's unit with its sandbox stripped (what a careless edit or a
// drop-in resetting the settings would leave) scores far above the goal.
func TestExposureCatchesStrippedSandbox(t *testing.T) {
	dir := t.TempDir()
	unit := filepath.Join(dir, "stripped.service")
	body := "[Service]\nType=notify\nExecStart=/usr/bin/rampart-signer --config /etc/rampart/signer.yaml\nUser=rampart-signer\n"
	if err := os.WriteFile(unit, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := exposure(t, unit)
	if got <= systemd.MaxExposure {
		t.Fatalf("a unit without sandbox scored %.1f, within the goal %.1f: the measurement is broken", got, systemd.MaxExposure)
	}
}

// failing keeps the report lines of settings that add exposure.
func failing(report string) string {
	var b strings.Builder
	for line := range strings.Lines(report) {
		if strings.HasPrefix(line, "✗") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// settings parses a unit file into directive -> values (in order), ignoring
// comments and section headers; enough for the checks below.
func settings(t *testing.T, unit string) map[string][]string {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", unit, line)
		}
		m[k] = append(m[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSignerUnitKeepsSafetySettings checks what the exposure score does not
// weigh but the signer's safety relies on.
func TestSignerUnitKeepsSafetySettings(t *testing.T) {
	s := settings(t, "rampart-signer.service")
	tests := []struct {
		name, key, want string
	}{
		{"reports readiness only after unsealing (notify protocol)", "Type", "notify"},
		{"is restarted by the watchdog when it hangs", "WatchdogSec", "30s"},
		{"restarts after a crash", "Restart", "on-failure"},
		{"bounds retries so a wrong PIN cannot lock the HSM", "StartLimitBurst", "5"},
		{"never restarts after a wrong PIN or a configuration error (exit status 2)", "RestartPreventExitStatus", "2"},
		{"has descriptors for every listener's connection cap", "LimitNOFILE", "16384"},
		{"gets the PIN as a credential, never in the environment", "LoadCredential", "hsm-pin:/etc/rampart/credentials/hsm-pin"},
		{"may lock all memory so shares never reach swap", "LimitMEMLOCK", "infinity"},
		{"bounds the memory it can lock", "MemoryMax", "2G"},
		{"never writes a core dump holding shares", "LimitCORE", "0"},
		{"keeps its state private to its user", "StateDirectoryMode", "0700"},
		{"runs as its own system user", "User", "rampart-signer"},
		{"creates private files", "UMask", "0077"},
		{"refuses privileged and resource-altering system calls", "SystemCallFilter", "~@privileged @resources"},
		{"denies every address not listed", "IPAddressDeny", "any"},
		{"cannot map writable code", "MemoryDenyWriteExecute", "yes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s[tc.key]
			for _, v := range got {
				if v == tc.want {
					return
				}
			}
			t.Fatalf("%s=%q, want a %s=%s line", tc.key, got, tc.key, tc.want)
		})
	}
}

// TestGatewayUnitKeepsSafetySettings checks what the exposure score does
// not weigh but the gateway relies on: the notify protocol and watchdog,
// no retry of a configuration error, its own user, and a socket directory
// only its group may enter.
func TestGatewayUnitKeepsSafetySettings(t *testing.T) {
	s := settings(t, "rampart-gateway.service")
	tests := []struct {
		name, key, want string
	}{
		{"reports readiness once it knows the accounts (notify protocol)", "Type", "notify"},
		{"is restarted by the watchdog when it hangs", "WatchdogSec", "30s"},
		{"does not retry a configuration error", "RestartPreventExitStatus", "2"},
		{"bounds retries so a wrong PIN cannot lock the HSM", "StartLimitBurst", "5"},
		{"runs as its own system user", "User", "rampart-gateway"},
		{"keeps the socket directory to its user and group", "RuntimeDirectoryMode", "0750"},
		{"names the socket directory the configuration uses", "RuntimeDirectory", "rampart-gateway"},
		{"creates private files", "UMask", "0077"},
		{"never writes a core dump holding its TLS key", "LimitCORE", "0"},
		{"denies every address not listed", "IPAddressDeny", "any"},
		{"cannot map writable code", "MemoryDenyWriteExecute", "yes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range s[tc.key] {
				if v == tc.want {
					return
				}
			}
			t.Fatalf("%s=%q, want a %s=%s line", tc.key, s[tc.key], tc.key, tc.want)
		})
	}
}

// TestUnitsDoNotTrustEnvironmentForSecrets is the regression test for a PIN
// leaking through Environment= (readable in /proc/PID/environ by the same
// user and shown by `systemctl show`).
func TestUnitsDoNotTrustEnvironmentForSecrets(t *testing.T) {
	for _, unit := range units {
		s := settings(t, unit)
		for _, key := range []string{"Environment", "EnvironmentFile", "PassEnvironment"} {
			if v, ok := s[key]; ok {
				t.Errorf("%s sets %s=%q; secrets come only through LoadCredential=", unit, key, v)
			}
		}
		// SetCredential= is visible to unprivileged processes, and on
		// systemd 252 its fallback for an absent LoadCredential= file fails
		// every start (status 243/CREDENTIALS, seen in the image boot test).
		if v, ok := s["SetCredential"]; ok {
			t.Errorf("%s sets SetCredential=%q; secrets come only through LoadCredential=, optional ones through a drop-in", unit, v)
		}
	}
}

// TestSignerUnitStartsWithoutTheAdministrativeToken: the unit loads only the
// PIN, which every signer has; the administrative token's verifier, which
// only a signer with administrators has, comes through the drop-in
// docs/operations.md gives (the boot test of 23f83d8 failed with status
// 243/CREDENTIALS on an absent admin-token file).
func TestSignerUnitStartsWithoutTheAdministrativeToken(t *testing.T) {
	s := settings(t, "rampart-signer.service")
	if !slices.Equal(s["LoadCredential"], []string{"hsm-pin:/etc/rampart/credentials/hsm-pin"}) {
		t.Fatalf("LoadCredential=%q, want only the PIN (optional credentials come through drop-ins)", s["LoadCredential"])
	}
}
