package devnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Prepare writes a fresh devnet into cfg.Dir: the JWT secret, the consensus
// config, geth's genesis with Prague's system contracts and the deposit
// contract, the Electra genesis state (prysmctl), geth's initialised data
// directory, and the interop validators' keystores. It starts nothing
// ([Devnet.Start] does). The genesis is cfg.GenesisDelay from now.
//
// cfg.Dir must be absent, empty, or hold an earlier devnet whose processes
// have all stopped (it is then wiped); anything else is [ErrExists].
func Prepare(ctx context.Context, cfg Config) (*Devnet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, tool := range []string{"geth", "beacon-chain", "validator", "prysmctl"} {
		if _, err := exec.LookPath(filepath.Join(cfg.BinDir, tool)); err != nil {
			return nil, fmt.Errorf("devnet: BinDir: %s is missing (make e2e-tools builds it): %w", tool, err)
		}
	}
	if err := clearDir(cfg.Dir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"consensus", "execution", "logs", "run"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	d := &Devnet{Config: cfg}

	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.jwtFile(), []byte(hex.EncodeToString(secret[:])+"\n"), 0o600); err != nil {
		return nil, err
	}

	// Whole seconds: the genesis time is a Unix timestamp everywhere.
	genesis := time.Now().Add(cfg.GenesisDelay).Truncate(time.Second)
	elIn := d.path("execution", "genesis.in.json")
	el, err := executionGenesis(cfg, genesis)
	if err != nil {
		return nil, err
	}
	files := []struct {
		path string
		data []byte
	}{
		{d.NetworkConfigFile(), consensusConfig(cfg, genesis)},
		{elIn, el},
		{d.gethConfigFile(), gethConfig(cfg)},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, err
		}
	}

	stateFile := d.genesisStateFile()
	if err := d.run(ctx, "prysmctl", "testnet", "generate-genesis",
		"--fork", "electra",
		"--num-validators", strconv.Itoa(cfg.Validators),
		"--genesis-time", strconv.FormatInt(genesis.Unix(), 10),
		"--chain-config-file", d.NetworkConfigFile(),
		"--geth-genesis-json-in", elIn,
		"--geth-genesis-json-out", d.executionGenesisFile(),
		"--output-ssz", stateFile,
	); err != nil {
		return nil, err
	}
	if err := d.run(ctx, "geth", "init", "--datadir", d.gethDataDir(), "--state.scheme", "path", d.executionGenesisFile()); err != nil {
		return nil, err
	}
	ssz, err := os.ReadFile(stateFile)
	if err != nil {
		return nil, err
	}
	facts, err := checkGenesisState(cfg, ssz, genesis)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", stateFile, err)
	}
	d.GenesisTime, d.GenesisValidatorsRoot = facts.time, facts.genesisValidatorsRoot

	if err := writeKeystores(cfg, d.KeystoreDir()); err != nil {
		return nil, fmt.Errorf("devnet: keystores: %w", err)
	}
	// The config must serve Rampart as it is.
	if _, err := d.Network(); err != nil {
		return nil, fmt.Errorf("devnet: the network config does not parse for Rampart: %w", err)
	}
	if err := d.writeManifest(); err != nil {
		return nil, err
	}
	return d, nil
}

// clearDir makes dir an empty directory, refusing to touch anything that is
// not a stopped devnet.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(entries) == 0:
		return nil
	}
	old, err := Open(dir)
	if err != nil {
		return fmt.Errorf("%w: %s is not empty and holds no devnet (%v); refusing to delete it", ErrExists, dir, err)
	}
	running, err := old.Running()
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: %s still runs %v; stop it first (make devnet-down)", ErrExists, dir, running)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

// run runs one of the devnet's tools to completion, its output appended to
// the tool's log; a failure quotes the end of that log.
func (d *Devnet) run(ctx context.Context, tool string, args ...string) error {
	logPath := d.LogFile(tool)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(d.Config.BinDir, tool), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = d.Config.Dir
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("devnet: %s %s: %w\n%s", tool, args[0], err, logTail(logPath))
	}
	return nil
}

func (d *Devnet) jwtFile() string               { return d.path("execution", "jwt.hex") }
func (d *Devnet) gethConfigFile() string        { return d.path("execution", "geth.toml") }
func (d *Devnet) gethDataDir() string           { return d.path("execution", "data") }
func (d *Devnet) executionGenesisFile() string  { return d.path("execution", "genesis.json") }
func (d *Devnet) genesisStateFile() string      { return d.path("consensus", "genesis.ssz") }
func (d *Devnet) beaconDataDir() string         { return d.path("consensus", "beacon") }
func (d *Devnet) validatorDataDir() string      { return d.path("consensus", "validator") }
func (d *Devnet) pidFile(program string) string { return d.path("run", program+".json") }
