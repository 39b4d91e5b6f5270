package devnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/proc"
	"github.com/rampart-signer/rampart/tss/keystore"
)

func testConfig(t *testing.T) Config {
	c := DefaultConfig()
	c.Dir = t.TempDir()
	c.BinDir = t.TempDir()
	return c
}

func TestConfigValidateNamesTheWrongField(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		change     func(*Config)
	}{
		{"refuses no directory", "Dir", func(c *Config) { c.Dir = "" }},
		{"refuses a relative directory", "Dir", func(c *Config) { c.Dir = "rel" }},
		{"refuses no binaries", "BinDir", func(c *Config) { c.BinDir = "" }},
		{"refuses zero validators", "Validators", func(c *Config) { c.Validators = 0 }},
		{"refuses 16 slots per epoch", "SlotsPerEpoch", func(c *Config) { c.SlotsPerEpoch = 16 }},
		{"refuses zero-second slots", "SecondsPerSlot", func(c *Config) { c.SecondsPerSlot = 0 }},
		{"refuses a genesis too soon", "GenesisDelay", func(c *Config) { c.GenesisDelay = time.Second }},
		{"refuses chain id 0", "ChainID", func(c *Config) { c.ChainID = 0 }},
		{"refuses a non-loopback host", "Host", func(c *Config) { c.Host = "0.0.0.0" }},
		{"refuses a privileged port", "Ports.BeaconHTTP", func(c *Config) { c.Ports.BeaconHTTP = 80 }},
		{"refuses a port used twice", "Ports.BeaconRPC", func(c *Config) { c.Ports.BeaconRPC = c.Ports.BeaconHTTP }},
		{"refuses no keystore password", "KeystorePassword", func(c *Config) { c.KeystorePassword = "" }},
		{"refuses a scrypt cost that is not a power of two", "ScryptN", func(c *Config) { c.ScryptN = 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			if err := c.Validate(); err != nil {
				t.Fatalf("default config refused: %v", err)
			}
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestInteropKeysMatchTheVectors checks the first interop keys against the
// eth2.0-pm mocked-start test vectors (keygen_test_vector.yaml).
func TestInteropKeysMatchTheVectors(t *testing.T) {
	for i, want := range []struct{ sk, pk string }{
		{"25295f0d1d592a90b333e26e85149708208e9f8e8bc18f6c77bd62f8ad7a6866", "a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"},
		{"51d0b65185db6989ab0b560d6deed19c7ead0e24b9b6372cbecb1f26bdfad000", "b89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5bac16a89108b6b6a1fe3695d1a874a0b"},
	} {
		sk, err := InteropKey(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		b := sk.Bytes()
		pk := sk.PublicKey().Bytes()
		if hex.EncodeToString(b[:]) != want.sk || hex.EncodeToString(pk[:]) != want.pk {
			t.Fatalf("interop key %d: %x / %x", i, b, pk)
		}
		sk.Zero()
	}
}

func TestDepositContractAllocation(t *testing.T) {
	code, storage, err := depositContract()
	if err != nil {
		t.Fatal(err)
	}
	// The runtime code the constructor returns: 0x18d6 bytes, starting
	// with Solidity's preamble and ending in the metadata of solc 0.6.11.
	if len(code) != 0x18d6 || !bytes.HasPrefix(code, []byte{0x60, 0x80, 0x60, 0x40}) || !bytes.HasSuffix(code, []byte{0x00, 0x06, 0x0b, 0x00, 0x33}) {
		t.Fatalf("runtime code of %d bytes: % x ... % x", len(code), code[:4], code[len(code)-5:])
	}
	// zero_hashes[1..31] in slots 34..64; zero_hashes[1] = sha256(0^64).
	if len(storage) != 31 {
		t.Fatalf("%d storage slots, want 31", len(storage))
	}
	first := sha256.Sum256(make([]byte, 64))
	if storage[[32]byte{31: 34}] != first || hex.EncodeToString(first[:4]) != "f5a5fd42" {
		t.Fatalf("slot 34 = %x, want %x", storage[[32]byte{31: 34}], first)
	}
	if _, ok := storage[[32]byte{31: 64}]; !ok {
		t.Fatal("slot 64 (zero_hashes[31]) missing")
	}
}

func TestExecutionGenesisHasPragueSystemContracts(t *testing.T) {
	c := testConfig(t)
	data, err := executionGenesis(c, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Config map[string]any `json:"config"`
		Alloc  map[string]struct {
			Nonce   string            `json:"nonce"`
			Code    string            `json:"code"`
			Storage map[string]string `json:"storage"`
		} `json:"alloc"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{
		"0x000f3df6d732807ef1319fb7b8bb8522d0beac02", // EIP-4788
		"0x0000f90827f1c53a10cb7a02335b175320002935", // EIP-2935
		"0x00000961ef480eb55e80d19ad83579a64c007002", // EIP-7002
		"0x0000bbddc7ce488642fb579f8b00f3a590007251", // EIP-7251
	} {
		a, ok := g.Alloc[addr]
		if !ok || a.Nonce != "0x1" || !strings.HasPrefix(a.Code, "0x3373fffffffffffffffffffffffffffffffffffffffe") {
			t.Fatalf("system contract %s: %+v", addr, a)
		}
	}
	if dc := g.Alloc[DepositContractAddress]; len(dc.Storage) != 31 || len(dc.Code) != 2+2*0x18d6 {
		t.Fatalf("deposit contract: %d storage slots, %d code characters", len(dc.Storage), len(dc.Code))
	}
	for _, k := range []string{"shanghaiTime", "cancunTime", "pragueTime"} {
		if g.Config[k] != float64(1700000000) {
			t.Fatalf("%s = %v", k, g.Config[k])
		}
	}
	if _, osaka := g.Config["osakaTime"]; osaka {
		t.Fatal("Osaka is scheduled; Fulu is not")
	}
}

// TestConsensusConfigServesRampart: the config Prysm reads is also the
// network config Rampart's commands read, with 8 or 32 slots per epoch.
func TestConsensusConfigServesRampart(t *testing.T) {
	c := testConfig(t)
	genesis := time.Unix(1800000000, 0)
	n, err := network.ParseConfig(consensusConfig(c, genesis), phase0.Root{1})
	if err != nil {
		t.Fatal(err)
	}
	if n.Name() != "rampart-devnet" || n.Preset().SlotsPerEpoch != c.SlotsPerEpoch || !n.GenesisTime().Equal(genesis) || n.SlotDuration() != 3*time.Second {
		t.Fatalf("network %s: %+v, genesis %s, slots %s", n.Name(), n.Preset(), n.GenesisTime(), n.SlotDuration())
	}
	if f := n.ForkAtEpoch(0); f.Name.String() != "electra" || f.Version != ForkVersion(5) {
		t.Fatalf("fork at genesis %+v, want electra", f)
	}
	c.SlotsPerEpoch = 32
	if n, err := network.ParseConfig(consensusConfig(c, genesis), phase0.Root{1}); err != nil || n.Preset().SlotsPerEpoch != 32 {
		t.Fatalf("32 slots per epoch: %v", err)
	}
}

func TestListRootOfAnEmptyList(t *testing.T) {
	// hash_tree_root of an empty list of limit 2^40: the zero subtree of
	// depth 40 mixed with length 0.
	zero := [32]byte{}
	for i := 0; i < 40; i++ {
		zero = sha256.Sum256(append(zero[:], zero[:]...))
	}
	want := sha256.Sum256(append(zero[:], make([]byte, 32)...))
	if got := listRoot(nil, 40); got != want {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestKeystoresHoldTheInteropKeys(t *testing.T) {
	c := testConfig(t)
	c.Validators = 3
	dir := filepath.Join(c.Dir, "keystores")
	if err := writeKeystores(c, dir); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, passwordFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		data, err := os.ReadFile(filepath.Join(dir, KeystoreName(i)))
		if err != nil {
			t.Fatal(err)
		}
		ks, err := keystore.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if ks.KDF.N != c.ScryptN {
			t.Fatalf("scrypt n %d, want the configured %d", ks.KDF.N, c.ScryptN)
		}
		sk, err := ks.Decrypt(pw)
		if err != nil {
			t.Fatalf("keystore %d with the written password: %v", i, err)
		}
		want, _ := InteropKey(uint64(i))
		if !sk.Equal(want) {
			t.Fatalf("keystore %d does not hold interop key %d", i, i)
		}
		sk.Zero()
		want.Zero()
	}
}

// startSleeper runs a long sleep as program p of d, recorded as Start does.
func startSleeper(t *testing.T, d *Devnet, program string) *process {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	if err := os.Symlink(sleep, filepath.Join(d.Config.BinDir, program)); err != nil {
		t.Fatal(err)
	}
	if err := d.spawn(program, "300"); err != nil {
		t.Fatal(err)
	}
	p, err := d.recorded(program)
	if err != nil || p == nil {
		t.Fatalf("no record: %v", err)
	}
	return p
}

func TestStopStopsTheRecordedProcesses(t *testing.T) {
	d := &Devnet{Config: testConfig(t)}
	for _, sub := range []string{"logs", "run"} {
		if err := os.MkdirAll(d.path(sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	geth := startSleeper(t, d, progGeth)
	beacon := startSleeper(t, d, progBeacon)
	running, err := d.Running()
	if err != nil || len(running) != 2 {
		t.Fatalf("running %v, %v", running, err)
	}
	if err := d.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if geth.Alive() || beacon.Alive() {
		t.Fatal("a recorded process survived Stop")
	}
	if p, _ := d.recorded(progGeth); p != nil {
		t.Fatal("the record of a stopped process remains")
	}
	if err := d.Stop(t.Context()); err != nil {
		t.Fatalf("stopping a stopped devnet: %v", err)
	}
}

// TestStopNeverSignalsAReusedPid: a record whose pid now belongs to
// another process (another start time) is left alone.
func TestStopNeverSignalsAReusedPid(t *testing.T) {
	d := &Devnet{Config: testConfig(t)}
	for _, sub := range []string{"logs", "run"} {
		if err := os.MkdirAll(d.path(sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	stranger := exec.Command("sleep", "300")
	if err := stranger.Start(); err != nil {
		t.Skip("cannot start sleep")
	}
	defer func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }()
	actual, err := proc.Of(stranger.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	forged := process{Program: progGeth, Record: proc.Record{PID: actual.PID, StartTicks: actual.StartTicks - 1}}
	data, _ := json.Marshal(forged)
	if err := os.WriteFile(d.pidFile(progGeth), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if running, _ := d.Running(); len(running) != 0 {
		t.Fatalf("a process with another start time counts as running: %v", running)
	}
	if err := d.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !actual.Alive() {
		t.Fatal("Stop signalled a process it did not start")
	}
}

func TestPrepareRefusesADirectoryThatIsNotADevnet(t *testing.T) {
	c := testConfig(t)
	if err := os.WriteFile(filepath.Join(c.Dir, "precious.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"geth", "beacon-chain", "validator", "prysmctl"} {
		if err := os.WriteFile(filepath.Join(c.BinDir, tool), []byte("#!/bin/sh\nexit 1\n"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Prepare(t.Context(), c); !errors.Is(err, ErrExists) {
		t.Fatalf("Prepare = %v, want ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "precious.txt")); err != nil {
		t.Fatal("Prepare deleted a file that was not the devnet's")
	}
}

func TestOpenReadsWhatPrepareRecorded(t *testing.T) {
	d := &Devnet{Config: testConfig(t), GenesisTime: time.Unix(1800000000, 0).UTC(), GenesisValidatorsRoot: phase0.Root{0x83, 0x43}}
	if err := d.writeManifest(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(d.Config.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != d.Config || !got.GenesisTime.Equal(d.GenesisTime) || got.GenesisValidatorsRoot != d.GenesisValidatorsRoot {
		t.Fatalf("Open gave %+v, want %+v", got, d)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotDevnet) {
		t.Fatalf("Open of an empty directory: %v, want ErrNotDevnet", err)
	}
	moved := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(d.Config.Dir, manifestName))
	if err := os.WriteFile(filepath.Join(moved, manifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(moved); err == nil || !strings.Contains(err.Error(), "cannot move") {
		t.Fatalf("Open of a moved devnet: %v", err)
	}
}
