package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/protect"
)

// testNetGVR is the genesis validators root of the test network the vectors
// are moved to: theirs is zero, which no network config can have.
const testNetGVR = "0x5a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a5"

// testNetworkFlags writes a custom network (genesis in 2020, so its current
// epoch is large) and returns the flags that select it.
func testNetworkFlags(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "network.yaml")
	cfg := "PRESET_BASE: mainnet\nCONFIG_NAME: slashing-test\nMIN_GENESIS_TIME: 1600000000\nGENESIS_DELAY: 0\nGENESIS_FORK_VERSION: 0x10000038\nSECONDS_PER_SLOT: 12\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--network-config", path, "--genesis-validators-root", testNetGVR}
}

// importArgs is "slashing import" with the test network's flags.
func importArgs(t *testing.T, args ...string) []string {
	return append(append([]string{"slashing", "import"}, testNetworkFlags(t)...), args...)
}

// vectorFile returns the first interchange of an EIP-3076 test case, moved
// to the test network.
func vectorFile(t *testing.T, name string) []byte {
	t.Helper()
	dir := os.Getenv("INTERCHANGE_TESTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "slashing-interchange", "tests", "generated")
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("interchange test case: %v", err)
	}
	var c struct {
		Steps []struct {
			Interchange json.RawMessage `json:"interchange"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(c.Steps[0].Interchange, []byte("0x"+strings.Repeat("00", 32)), []byte(testNetGVR))
}

func TestSlashingImportExport(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "p.db")
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, vectorFile(t, "multiple_validators_multiple_blocks_and_attestations.json"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, importArgs(t, "--db", dbPath, in)...)
	if code != 1 || !strings.Contains(stderr, "pass --create") {
		t.Fatalf("import into a missing database without --create: %d %s", code, stderr)
	}
	code, stdout, stderr := run(t, importArgs(t, "--db", dbPath, "--create", in)...)
	if code != 0 || !strings.Contains(stdout, "imported history of 3 validators") || !strings.Contains(stdout, "new") {
		t.Fatalf("import: %d\n%s\n%s", code, stdout, stderr)
	}
	// Importing the same file again merges; root-less records now conflict.
	code, stdout, _ = run(t, importArgs(t, "--db", dbPath, in)...)
	if code != 0 || !strings.Contains(stdout, "merged") || !strings.Contains(stdout, "warning:") {
		t.Fatalf("second import: %d\n%s", code, stdout)
	}

	out := filepath.Join(dir, "out.json")
	code, stdout, stderr = run(t, "slashing", "export", "--db", dbPath, out)
	if code != 0 || !strings.Contains(stdout, "exported history of 3 validators") {
		t.Fatalf("export: %d\n%s\n%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil || len(ic.Data) != 3 {
		t.Fatalf("exported file: %v, %d validators", err, len(ic.Data))
	}
	code, _, stderr = run(t, "slashing", "export", "--db", dbPath, out)
	if code != 1 || !strings.Contains(stderr, "pass --force") {
		t.Fatalf("export over an existing file: %d %s", code, stderr)
	}
	one := ic.Data[1].PublicKey.String()
	code, stdout, _ = run(t, "slashing", "export", "--db", dbPath, "--key", one, "-")
	if code != 0 || strings.Count(stdout, `"pubkey"`) != 1 || !strings.Contains(stdout, one) {
		t.Fatalf("export of one key to stdout: %d\n%s", code, stdout)
	}
	code, _, stderr = run(t, "slashing", "export", "--db", dbPath, "--key", "0x12", "-")
	if code != 2 || !strings.Contains(stderr, "has 2 hex digits, want 96") {
		t.Fatalf("bad --key: %d %s", code, stderr)
	}
}

func TestSlashingImportRefusesBadFilesAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "p.db")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x00"},"data":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, importArgs(t, "--db", dbPath, "--create", bad)...)
	if code != 1 || !strings.Contains(stderr, "metadata.genesis_validators_root: has 2 hex digits") || !strings.Contains(stderr, "nothing was imported") {
		t.Fatalf("bad file: %d %s", code, stderr)
	}
	if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
		t.Fatalf("a refused file created the database: %v", err)
	}

	// A file for another network is refused by an existing database.
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, vectorFile(t, "single_validator_single_block.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, importArgs(t, "--db", dbPath, "--create", good)...); code != 0 {
		t.Fatal(stderr)
	}
	other := filepath.Join(dir, "other.json")
	otherNet := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x0000000000000000000000000000000000000000000000000000000000000001"},"data":[]}`
	if err := os.WriteFile(other, []byte(otherNet), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, importArgs(t, "--db", dbPath, other)...)
	if code != 1 || !strings.Contains(stderr, "genesis validators root does not match") || !strings.Contains(stderr, "the file is for 0x"+strings.Repeat("00", 31)+"01") {
		t.Fatalf("file for another network than the one selected: %d %s", code, stderr)
	}
	code, _, stderr = run(t, "slashing", "import", "--db", dbPath, other)
	if code != 2 || !strings.Contains(stderr, "not a built-in network: give it with --network-config FILE --genesis-validators-root") {
		t.Fatalf("file for an unknown network without network flags: %d %s", code, stderr)
	}
	// A database for another network refuses a file for the selected one.
	otherDB := filepath.Join(dir, "other.db")
	db, err := protect.Create(context.Background(), otherDB, protect.Root{1}, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, stderr = run(t, importArgs(t, "--db", otherDB, good)...)
	if code != 1 || !strings.Contains(stderr, "genesis validators root does not match the database's network") {
		t.Fatalf("database of another network: %d %s", code, stderr)
	}
}

// TestAttackSlashingImportRefusesFarFutureRecords: an interchange file
// with a target epoch of 2^64-2 (or a block far ahead) would, once imported
// and pruned, refuse every honest message of the validator. The offline
// import refuses the whole file, naming the record, as the signer would.
func TestAttackSlashingImportRefusesFarFutureRecords(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "p.db")
	key := "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
	doc := func(blocks, atts string) string {
		return `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + testNetGVR + `"},"data":[` +
			`{"pubkey":"` + key + `","signed_blocks":[` + blocks + `],"signed_attestations":[` + atts + `]}]}`
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"far-future target", doc(`{"slot":"5"}`, `{"source_epoch":"1","target_epoch":"2"},{"source_epoch":"150001","target_epoch":"18446744073709551614"}`),
			"data[0].signed_attestations[1] (validator " + key + "): target epoch 18446744073709551614 is beyond the last epoch allowed now: epoch "},
		{"far-future block", doc(`{"slot":"5"},{"slot":"18446744073709551615"}`, ``),
			"data[0].signed_blocks[1] (validator " + key + "): slot 18446744073709551615 is in epoch 576460752303423487, beyond the last epoch allowed now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(dir, "in.json")
			if err := os.WriteFile(in, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := run(t, importArgs(t, "--db", dbPath, "--create", in)...)
			if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "+ 1 epoch allowed ahead (--future-epochs)") || !strings.Contains(stderr, "nothing was imported") {
				t.Fatalf("got %d %s\nwant %q", code, stderr, tc.want)
			}
		})
	}
	if code, _, stderr := run(t, importArgs(t, "--db", dbPath, "--future-epochs", "0", filepath.Join(dir, "in.json"))...); code != 2 || !strings.Contains(stderr, "--future-epochs 0 is not between 1 and 1024") {
		t.Fatalf("--future-epochs 0: %d %s", code, stderr)
	}
	// A built-in network is found from the file's root: a mainnet file
	// with a record of 2035 is refused without network flags.
	mainnet := strings.ReplaceAll(doc(``, `{"source_epoch":"900000","target_epoch":"900001"}`), testNetGVR, network.Mainnet().GenesisValidatorsRoot().String())
	in := filepath.Join(dir, "mainnet.json")
	if err := os.WriteFile(in, []byte(mainnet), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "slashing", "import", "--db", filepath.Join(dir, "mainnet.db"), "--create", in)
	if code != 1 || !strings.Contains(stderr, "target epoch 900001 is beyond the last epoch allowed now") {
		t.Fatalf("mainnet file: %d %s", code, stderr)
	}
}

func TestSlashingCommandsFailFastOnADatabaseInUse(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "p.db")
	// Stands in for a running signer: it holds the file open.
	gvr, err := protect.ParseRoot(testNetGVR)
	if err != nil {
		t.Fatal(err)
	}
	db, err := protect.Create(context.Background(), dbPath, gvr, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	code, _, stderr := run(t, "slashing", "export", "--db", dbPath, "--lock-timeout", "100ms", "-")
	if code != 1 || !strings.Contains(stderr, "database is in use by another process (is rampart-signer running?)") {
		t.Fatalf("export: %d %s", code, stderr)
	}
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, vectorFile(t, "single_validator_single_block.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, importArgs(t, "--db", dbPath, "--lock-timeout", "100ms", in)...)
	if code != 1 || !strings.Contains(stderr, "is rampart-signer running?") {
		t.Fatalf("import: %d %s", code, stderr)
	}
}

// TestHoldDatabaseChild is a helper process standing in for a running
// signer: it opens the database named in the environment, says so, and
// holds it until killed.
func TestHoldDatabaseChild(t *testing.T) {
	path := os.Getenv("RAMPARTCTL_HOLD_DB")
	if path == "" {
		t.Skip("helper for TestSlashingCommandsFailFastWhileAnotherProcessHoldsTheDatabase")
	}
	db, err := protect.Open(context.Background(), path, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	os.Stdout.WriteString("holding\n")
	select {}
}

func TestSlashingCommandsFailFastWhileAnotherProcessHoldsTheDatabase(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "p.db")
	db, err := protect.Create(context.Background(), dbPath, protect.Root{}, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	child := exec.Command(os.Args[0], "-test.run=^TestHoldDatabaseChild$")
	child.Env = append(os.Environ(), "RAMPARTCTL_HOLD_DB="+dbPath)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("child did not open the database: %q %v", line, err)
	}
	code, _, stderr := run(t, "slashing", "export", "--db", dbPath, "--lock-timeout", "200ms", "-")
	if code != 1 || !strings.Contains(stderr, "database is in use by another process (is rampart-signer running?)") {
		t.Fatalf("export: %d %s", code, stderr)
	}
}

// TestSlashingImportRaiseWatermarks: by default a second file only adds
// records (EIP-3076 complete strategy), so a block between two imported
// ones may be signed; with --raise-watermarks the second file's minima
// become watermarks, as restoring a signer from a peer's pruned export
// needs.
func TestSlashingImportRaiseWatermarks(t *testing.T) {
	key := "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
	file := func(dir, name, slot string) string {
		path := filepath.Join(dir, name)
		doc := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + testNetGVR + `"},"data":[{"pubkey":"` + key + `","signed_blocks":[{"slot":"` + slot + `"}],"signed_attestations":[]}]}`
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		flags []string
		want  bool // block 45 may be signed
	}{{nil, true}, {[]string{"--raise-watermarks"}, false}} {
		dir := t.TempDir()
		dbPath := filepath.Join(dir, "p.db")
		if code, _, stderr := run(t, importArgs(t, "--db", dbPath, "--create", file(dir, "a.json", "40"))...); code != 0 {
			t.Fatal(stderr)
		}
		if code, _, stderr := run(t, importArgs(t, append(tc.flags, "--db", dbPath, file(dir, "b.json", "50"))...)...); code != 0 {
			t.Fatal(stderr)
		}
		cfg := protect.DefaultConfig()
		cfg.Limit = protect.NoLimit
		db, err := protect.Open(context.Background(), dbPath, cfg)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := protect.ParsePublicKey(key)
		_, err = db.ApproveBlock(context.Background(), db.GenesisValidatorsRoot(), k, protect.Block{Slot: 45, SigningRoot: protect.Root{1}})
		db.Close()
		if (err == nil) != tc.want {
			t.Errorf("flags %v: block 45: %v, want signable %v", tc.flags, err, tc.want)
		}
	}
}

// TestSlashingCreateGivesTheDatabaseToTheSigner: an import with --create
// run as root leaves a database the signer (the owner of the state
// directory) can open, instead of a root-owned file that keeps it from
// starting.
func TestSlashingCreateGivesTheDatabaseToTheSigner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the import is run as root on a signer, and only root may give files away")
	}
	dir := filepath.Join(t.TempDir(), "rampart-signer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4242, 4343
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.json")
	interchange := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + testNetGVR + `"},
"data":[{"pubkey":"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c","signed_blocks":[{"slot":"81952"}],"signed_attestations":[]}]}`
	if err := os.WriteFile(in, []byte(interchange), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "slashing-protection.db")
	if code, out, errOut := run(t, importArgs(t, "--db", db, "--create", in)...); code != 0 {
		t.Fatalf("import --create: %d\n%s%s", code, out, errOut)
	}
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != uid || sys.Gid != gid {
		t.Fatalf("database owned by %d:%d; want the directory's owner %d:%d", sys.Uid, sys.Gid, uid, gid)
	}
}
