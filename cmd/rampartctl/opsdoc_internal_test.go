package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/clidoc"
)

// operationsGuide is the operator's guide; docs lists every document whose
// rampartctl command lines are checked against the command tree.
const operationsGuide = "../../docs/operations.md"

var docs = []string{operationsGuide, "../../README.md", "../../docs/validator-client.md"}

// TestOperationsGuideCommandsExist checks every rampartctl command line of
// the guides (fenced shell blocks and inline code) against the real
// command tree: the command exists, every flag exists for it, typed values
// (numbers, durations) parse, and a command in a block has its required
// flags and arguments (issue 17). The other programs' tests do the same
// for theirs.
func TestOperationsGuideCommandsExist(t *testing.T) {
	invs := clidoc.CheckFiles(t, root(), docs...)
	blocks := 0
	for _, inv := range invs {
		if inv.File == filepath.ToSlash(operationsGuide) && !inv.Inline {
			blocks++
		}
	}
	// The guide holds about 17 rampartctl lines in code blocks: far fewer
	// found means the extraction broke, not that the guide changed.
	if blocks < 12 {
		t.Errorf("found only %d rampartctl command lines in the code blocks of %s: is the extraction broken?", blocks, operationsGuide)
	}
}

// runBy maps each rampartctl command that docs/operations.md names to the
// tests that run it for real (the command's own code in this test binary,
// SoftHSM through PKCS#11, real files, real signers over mutual TLS where
// the command talks to a signer), with the forms of the guide each runs.
// TestOperationsGuideCommandsAreRun keeps it complete and its tests real.
//
// The guide's other commands, for the record (not checked here):
// rampart-signer --check-config: cmd/rampart-signer
// TestCheckConfigFindsWhatStartWould; installing, upgrading, removing and
// purging the packages (RAMPART_PURGE_STATE=yes too):
// packaging/image/lifecycle.sh with dpkg -i in a chroot (make image-test);
// the image's first boot, systemctl status, journalctl, systemd-analyze
// security, curl /upcheck, /healthcheck and /metrics, systemctl stop,
// start and reload, the admin token's credential and drop-in, and the
// disaster-recovery drill with the packaged rampartctl:
// packaging/image/test.sh under qemu and test/bootcheck.sh (make
// image-test; the image is booted as a file, not written with dd);
// promtool check rules: make monitoring-check. Not run anywhere: lsblk
// and dd, systemd-ask-password, growpart, systemctl reset-failed and
// disable, the audit shipping rsync, promtool check config and the
// Prometheus and Grafana set-up.
var runBy = map[string][]struct{ file, test, forms string }{
	"hsm init":   {{"cmd/rampartctl/hsm_test.go", "TestHSMInitAndStatusEndToEnd", "--key URI"}},
	"hsm status": {{"cmd/rampartctl/hsm_test.go", "TestHSMInitAndStatusEndToEnd", "--key URI"}},
	"tls csr":    {{"cmd/rampartctl/tlsrequest_test.go", "TestTLSCSRAndSignEndToEnd", "--name --key --out"}, {"cmd/rampartctl/tlsrequest_test.go", "TestTLSCSRRefusesAndReusesKey", "--reuse-key"}},
	"tls sign":   {{"cmd/rampartctl/tlsrequest_test.go", "TestTLSCSRAndSignEndToEnd", "--csr --name --key-fingerprint --ca-key --ca-cert --out"}},
	"tls issue":  {{"cmd/rampartctl/tls_test.go", "TestTLSCommandsEndToEnd", "the lab's one-host form"}},
	"shares deal": {
		{"cmd/rampartctl/backup_test.go", "TestSharesDealGivesTheFilesToTheSigner", "files given to the shares directory's owner"},
	},
	"admin token":      {{"cmd/rampartctl/accounts_test.go", "TestAdminTokenWritesTheTokenAndPrintsItsVerifier", "--out FILE"}},
	"accounts removed": {{"cmd/rampartctl/accounts_test.go", "TestAccountsRemovedAndRestore", "--cluster"}},
	"accounts restore": {{"cmd/rampartctl/accounts_test.go", "TestAccountsRemovedAndRestore", "--cluster KEY"}},
	"status":           {{"cmd/rampartctl/status_test.go", "TestStatusShowsTheClusterAndFailsWhenItCannotSign", "--cluster, exit 1 below the threshold"}},
	"backup create":    {{"cmd/rampartctl/backup_test.go", "TestBackupCreateVerifyRestore", "--cluster --node FILE, while signing"}},
	"backup verify":    {{"cmd/rampartctl/backup_test.go", "TestBackupCreateVerifyRestore", "FILE"}},
	"backup restore": {
		{"cmd/rampartctl/backup_test.go", "TestBackupCreateVerifyRestore", "--config FILE (stopped), --config --merge PEER FILE, --cluster --node FILE (online)"},
		{"appliance/backup_test.go", "TestDisasterRecoveryDrill", "the drill's steps through the appliance's functions"},
	},
	"slashing export": {
		{"cmd/rampartctl/backup_test.go", "TestSlashingExportOnline", "--cluster --node FILE (running signer)"},
		{"cmd/rampartctl/slashing_test.go", "TestSlashingImportExport", "FILE, --db (stopped signer)"},
	},
	"slashing import": {
		{"cmd/rampartctl/slashing_test.go", "TestSlashingImportExport", "--create"},
		{"cmd/rampartctl/slashing_test.go", "TestSlashingImportRaiseWatermarks", "--raise-watermarks"},
		{"cmd/rampartctl/slashing_test.go", "TestAttackSlashingImportRefusesFarFutureRecords", "--future-epochs"},
	},
	"audit verify": {
		{"cmd/rampartctl/audit_test.go", "TestAuditVerifyChecksCheckpointTags", "--key URI, --no-anchor --key URI DIR"},
		{"cmd/rampartctl/audit_test.go", "TestAuditVerifyAnchorSources", "--no-anchor DIR, --anchor-url, --anchor"},
		{"redteam/audit_test.go", "TestHole7AuditRotationKeepsSigning", "--config FILE --key URI on a signer's own files (make redteam)"},
	},
	"audit acknowledge-loss": {{"cmd/rampartctl/audit_test.go", "TestAuditAcknowledgeLoss", "--config FILE"}},
	"reshare refresh": {
		{"cmd/rampartctl/reshare_test.go", "TestReshareRefreshRefreshesEveryShare", "--cluster, on a cluster of real signers"},
		{"appliance/reshare_test.go", "TestReshareRefreshChangesEveryShareAndNoKey", "the ceremony, its abort, resume and rollback (and the tests beside it)"},
	},
	"devnet replace": {{"cmd/rampartctl/devnet_test.go", "TestDevnetReplaceThenRepair", "--dir --signer on real signer processes, then reshare repair"}},
	"reshare redistribute": {
		{"cmd/rampartctl/reshare_test.go", "TestReshareRedistributeRemovesASigner", "--cluster --members --threshold on a cluster of real signers, and its refusals"},
		{"appliance/redistribute_test.go", "TestReshareRedistributeChangesMembersAndThreshold", "3-of-5 to 5-of-7, an abort, a weaker configuration refused, a removal"},
	},
	"shares list": {{"cmd/rampartctl/reshare_test.go", "TestReshareRedistributeRemovesASigner", "--dir: each share's configuration after a redistribution"}},
	"reshare repair": {
		{"cmd/rampartctl/reshare_test.go", "TestReshareFailsCleanly", "--cluster --participant --helpers: refusals and an abort"},
		{"appliance/reshare_test.go", "TestReshareRepairGivesAReplacedSignerItsShares", "a replaced signer's shares and history, a threshold of helpers"},
	},
}

// TestOperationsGuideCommandsAreRun fails when docs/operations.md names a
// rampartctl command that runBy does not map to a test, or runBy names a
// test that does not exist: every command of the guide is run by a test
// (issue 17).
func TestOperationsGuideCommandsAreRun(t *testing.T) {
	md, err := os.ReadFile(operationsGuide)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, inv := range clidoc.Extract(operationsGuide, md, "rampartctl") {
		path := clidoc.Path(root(), inv)
		if path == "" || isGroup(path) {
			continue // the program or a group named in prose
		}
		named[path] = true
		if _, ok := runBy[path]; !ok {
			t.Errorf("%s:%d names rampartctl %s, which no test in runBy runs: add a test that runs it and map it", operationsGuide, inv.Line, path)
		}
	}
	var keys []string
	for k := range runBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !named[k] {
			t.Errorf("runBy maps rampartctl %s, which %s no longer names: remove it", k, operationsGuide)
		}
		for _, r := range runBy[k] {
			src, err := os.ReadFile(filepath.Join(repoRoot, r.file))
			if err != nil {
				t.Errorf("runBy[%q]: %v", k, err)
				continue
			}
			if !regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(r.test) + `\(t \*testing\.T\)`).Match(src) {
				t.Errorf("runBy[%q]: %s has no test %s", k, r.file, r.test)
				continue
			}
			// The test must run the command: its words appear in the file.
			words := `"` + strings.ReplaceAll(k, " ", `", "`) + `"`
			if !strings.Contains(string(src), words) && !strings.Contains(r.file, "appliance/") {
				t.Errorf("runBy[%q]: %s never runs %s", k, r.file, words)
			}
		}
	}
}

// isGroup reports whether path names a group of rampartctl commands.
func isGroup(path string) bool {
	cmd := root()
	for _, w := range strings.Fields(path) {
		for _, s := range cmd.Subcommands {
			if s.Name == w {
				cmd = s
				break
			}
		}
	}
	return len(cmd.Subcommands) > 0
}
