package main

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// importAccount imports one fresh key 2-of-3 into the cluster.
func importAccount(t *testing.T, lc *localcluster.Cluster) api.PublicKey {
	t.Helper()
	peers, release, err := lc.File.AdminClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var admins []adminapi.AccountAdmin
	for _, p := range peers {
		admins = append(admins, p)
	}
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	im := &adminapi.Importer{Admins: admins, Threshold: 2, Network: network.Mainnet(), Rand: rand.Reader}
	pubs, err := im.Import(context.Background(), []adminapi.ImportKey{{Secret: sk}})
	if err != nil {
		t.Fatal(err)
	}
	return pubs[0]
}

// TestSlashingExportOnline is the regression test for export needing the
// signer stopped: the running signer exports its own history.
func TestSlashingExportOnline(t *testing.T) {
	lc := startCluster(t, 3)
	key := importAccount(t, lc)
	cf := filepath.Join(lc.Dir, "cluster.yaml")
	out := filepath.Join(t.TempDir(), "history.json")
	code, stdout, stderr := run(t, "slashing", "export", "--cluster", cf, "--node", "2", out)
	if code != 0 || !strings.Contains(stdout, "exported history of 1 validators from participant 2") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil || len(ic.Data) != 1 || ic.Data[0].PublicKey != protect.PublicKey(key) {
		t.Fatalf("export %v: %s", err, raw)
	}
	if code, _, stderr := run(t, "slashing", "export", "--cluster", cf, "--node", "2", out); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("replaced the export without --force: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "slashing", "export", "--cluster", cf, "--node", "9", "-"); code != 2 || !strings.Contains(stderr, "no such participant") {
		t.Fatalf("unknown node: exit %d %s", code, stderr)
	}
}

func TestBackupCreateVerifyRestore(t *testing.T) {
	lc := startCluster(t, 3)
	key := importAccount(t, lc)
	cf := filepath.Join(lc.Dir, "cluster.yaml")
	dir := t.TempDir()
	file := filepath.Join(dir, "signer-1.tar")

	code, stdout, stderr := run(t, "backup", "create", "--cluster", cf, "--node", "1", file)
	if code != 0 || !strings.Contains(stdout, "1 validators, 1 shares") {
		t.Fatalf("create: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file %v %v, want mode 0600", fi, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	if code, _, stderr := run(t, "backup", "create", "--cluster", cf, "--node", "1", file); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("replaced a backup without --force: exit %d %s", code, stderr)
	}
	code, stdout, stderr = run(t, "backup", "verify", file)
	if code != 0 || !strings.Contains(stdout, "every SHA-256 matches") || !strings.Contains(stdout, `node 1 of cluster "local"`) {
		t.Fatalf("verify: exit %d\n%s\n%s", code, stdout, stderr)
	}

	s := lc.Signers[0]
	t.Run("refuses while the signer runs", func(t *testing.T) {
		code, _, stderr := run(t, "backup", "restore", "--config", s.ConfigPath, "--lock-timeout", "50ms", file)
		if code == 0 || !strings.Contains(stderr, "the signer is running") {
			t.Fatalf("exit %d %s", code, stderr)
		}
	})
	t.Run("online, the running signer's history merged and raised", func(t *testing.T) {
		code, stdout, stderr := run(t, "backup", "restore", "--cluster", cf, "--node", "1", file)
		if code != 0 || !strings.Contains(stdout, "history of 1 validators merged; watermarks raised to epoch") {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		if code, _, stderr := run(t, "backup", "restore", "--cluster", cf, "--node", "2", file); code == 0 || !strings.Contains(stderr, "the backup is of node 1") {
			t.Fatalf("another node: exit %d %s", code, stderr)
		}
	})
	t.Run("onto a new disk, then again", func(t *testing.T) {
		cfg, config := onNewDisk(t, s.Config)
		code, stdout, stderr := run(t, "backup", "restore", "--config", config, file)
		for _, want := range []string{"slashing database restored to", "sealed shares: 1 restored, 0 already present", "the audit log is gone", "watermarks of 1 validators raised to epoch"} {
			if code != 0 || !strings.Contains(stdout, want) {
				t.Fatalf("exit %d, want %q\n%s\n%s", code, want, stdout, stderr)
			}
		}
		share := filepath.Join(cfg.DataDir, "shares", key.String()+".share")
		if _, err := os.Stat(share); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr = run(t, "backup", "restore", "--config", config, file)
		if code != 0 || !strings.Contains(stdout, "the backup's history merged into") || !strings.Contains(stdout, "0 restored, 1 already present") {
			t.Fatalf("again: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if err := os.WriteFile(share, []byte("another share"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr = run(t, "backup", "restore", "--config", config, file)
		if code == 0 || !strings.Contains(stderr, key.String()) || !strings.Contains(stderr, "different share") {
			t.Fatalf("a different share: exit %d %s", code, stderr)
		}
	})
	t.Run("run as root onto an emptied state directory, everything is the signer's", func(t *testing.T) {
		// The regression test for the image's drill: the shares directory
		// the restore made was root's, so the shares in it stayed root's
		// too and the signer, running as rampart-signer, could not read
		// them. The state directory is the service user's, as the unit's
		// StateDirectory= makes it.
		if os.Geteuid() != 0 {
			t.Skip("needs root: the command is run as root on a signer, and only root may give files away")
		}
		const uid, gid = 4242, 4343
		cfg, config := onNewDisk(t, s.Config)
		if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(cfg.DataDir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if code, stdout, stderr := run(t, "backup", "restore", "--config", config, file); code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		shares := filepath.Join(cfg.DataDir, "shares")
		for _, p := range []string{shares, filepath.Join(shares, key.String()+".share"), filepath.Join(cfg.DataDir, "slashing-protection.db")} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if sys := st.Sys().(*syscall.Stat_t); sys.Uid != uid || sys.Gid != gid {
				t.Errorf("%s owned by %d:%d; want the state directory's owner %d:%d", p, sys.Uid, sys.Gid, uid, gid)
			}
		}
	})
	t.Run("a restore that fails part way places no database", func(t *testing.T) {
		// A peer's export holding a record beyond the wall clock fails the
		// merge after the backup's database was copied: nothing may be
		// left at slashing.database, or the signer would start on the
		// backup's history without the raised watermarks.
		cfg, config := onNewDisk(t, s.Config)
		var ic *protect.Interchange
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for tr := tar.NewReader(f); ; {
			h, err := tr.Next()
			if err != nil {
				t.Fatalf("no slashing-protection.json in the backup: %v", err)
			}
			if h.Name == "slashing-protection.json" {
				b, _ := io.ReadAll(tr)
				if ic, err = protect.ParseInterchange(b); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		ic.Data = []protect.InterchangeValidator{{PublicKey: protect.PublicKey(key), SignedAttestations: []protect.SignedAttestation{{SourceEpoch: 1, TargetEpoch: 1 << 40}}}}
		future, err := ic.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		peer := filepath.Join(t.TempDir(), "peer.json")
		if err := os.WriteFile(peer, future, 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, "backup", "restore", "--config", config, "--merge", peer, file)
		if code == 0 || !strings.Contains(stderr, "nothing was placed") {
			t.Fatalf("exit %d %s", code, stderr)
		}
		db := filepath.Join(cfg.DataDir, "slashing-protection.db")
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Fatalf("a failed restore left %s: %v", db, err)
		}
	})
	t.Run("refuses a damaged backup, naming the member", func(t *testing.T) {
		raw, _ := os.ReadFile(file)
		i := strings.Index(string(raw), "signed_attestations")
		raw[i] = 'S'
		bad := filepath.Join(t.TempDir(), "bad.tar")
		os.WriteFile(bad, raw, 0o600)
		code, _, stderr := run(t, "backup", "verify", bad)
		if code == 0 || !strings.Contains(stderr, "slashing-protection.json has SHA-256") {
			t.Fatalf("exit %d %s", code, stderr)
		}
	})
}

// TestImportRunsAgainAfterAnInterruption is the regression test for "status
// 409: account already exists on this signer" failing a re-run of an
// import: the keys present are skipped and said so, the rest imported.
func TestImportRunsAgainAfterAnInterruption(t *testing.T) {
	lc := startCluster(t, 3)
	cf := filepath.Join(lc.Dir, "cluster.yaml")
	dir := t.TempDir()
	password := filepath.Join(t.TempDir(), "password")
	os.WriteFile(password, []byte("correct horse"), 0o600)
	opts := keystore.Options{KDF: keystore.PBKDF2, PBKDF2Iterations: 16}
	var keys []api.PublicKey
	for i := range 3 {
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		keys = append(keys, api.PublicKey(sk.PublicKey().Bytes()))
		ks, err := keystore.Encrypt(rand.Reader, sk, []byte("correct horse"), opts)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(ks)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("keystore-%d.json", i)), raw, 0o600)
	}
	// The first run imports the first batch of two and is "interrupted"
	// before the second: only the first two keystores are there.
	partial := t.TempDir()
	for i := range 2 {
		raw, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("keystore-%d.json", i)))
		os.WriteFile(filepath.Join(partial, fmt.Sprintf("keystore-%d.json", i)), raw, 0o600)
	}
	if code, stdout, stderr := run(t, "import", "--cluster", cf, "--keystores", partial, "--password-file", password, "--threshold", "2", "--accept-low-safety"); code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr := run(t, "import", "--cluster", cf, "--keystores", dir, "--password-file", password, "--threshold", "2", "--accept-low-safety")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"skipped " + keys[0].String() + ": already imported", "skipped " + keys[1].String(), "imported 1/3 keys, 2 already present"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("second run does not say %q:\n%s", want, stdout)
		}
	}
}

// TestSharesDealGivesTheFilesToTheSigner is the regression test for
// rampartctl shares deal leaving root-owned shares and databases that the
// signer, running as rampart-signer, cannot open; where the data directory
// is root's too, the command says the chown to run.
func TestSharesDealGivesTheFilesToTheSigner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the command is run as root on a signer, and only root may give files away")
	}
	t.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(t.TempDir(), "cluster"), Signers: 3, Threshold: 2,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	lc.CloseListeners()
	const uid, gid = 4242, 4343
	args := []string{"shares", "deal", "--validators", "2", "--threshold", "2", "--accept-low-safety"}
	for i, s := range lc.Signers {
		if i < 2 {
			if err := os.Chown(s.Config.DataDir, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "--config", s.ConfigPath)
	}
	code, stdout, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for i, s := range lc.Signers[:2] {
		shares, _ := filepath.Glob(filepath.Join(s.Config.Accounts.SharesDir, "*.share"))
		if len(shares) != 2 {
			t.Fatalf("signer %d: shares %v", i+1, shares)
		}
		for _, p := range append(shares, s.Config.Slashing.Database) {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if sys := st.Sys().(*syscall.Stat_t); sys.Uid != uid || sys.Gid != gid {
				t.Errorf("%s owned by %d:%d; want the data directory's owner %d:%d", p, sys.Uid, sys.Gid, uid, gid)
			}
		}
	}
	if want := "chown -R rampart-signer:rampart-signer " + lc.Signers[2].Config.DataDir; !strings.Contains(stderr, want) {
		t.Errorf("no chown step for the root-owned data directory (want %q):\n%s", want, stderr)
	}
}

// TestRestoredConfigurationGoesToTheSignersGroup is the regression test for a
// configuration written by backup restore (the disk lost with
// /etc/rampart/signer.yaml) staying root:root 0640, unreadable by the
// signer running as rampart-signer: it goes to the state directory's group,
// as the package's root:rampart-signer 0640; with a root-owned state
// directory the command says the chgrp to run.
func TestRestoredConfigurationGoesToTheSignersGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the command is run as root on a signer, and only root may give files away")
	}
	const uid, gid = 4242, 4343
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "signer.yaml")
	if err := os.WriteFile(config, []byte("node: {id: 1}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	note, err := giveConfigToService(config, data)
	if err != nil || !strings.Contains(note, "chgrp rampart-signer "+config) {
		t.Fatalf("root-owned state directory: note %q, %v", note, err)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	if note, err := giveConfigToService(config, data); err != nil || note != "" {
		t.Fatalf("note %q, %v", note, err)
	}
	st, err := os.Stat(config)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 0 || sys.Gid != gid || st.Mode().Perm() != 0o640 {
		t.Fatalf("%s is %d:%d %v; want 0:%d 0640", config, sys.Uid, sys.Gid, st.Mode().Perm(), gid)
	}
}

// onNewDisk writes the signer's configuration with its data on an empty
// disk (a data directory not yet made, every state path under it) and
// returns it with its file.
func onNewDisk(t *testing.T, base *appliance.Config) (appliance.Config, string) {
	t.Helper()
	cfg := *base
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Slashing.Database, cfg.Accounts.SharesDir, cfg.Audit.Dir = "", "", ""
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "signer.yaml")
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, config
}
