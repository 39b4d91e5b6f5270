package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/internal/proc"
)

// The programs Start runs, in start order; Stop stops them in reverse.
const (
	progGeth      = "geth"
	progBeacon    = "beacon-chain"
	progValidator = "validator"
)

var programs = []string{progGeth, progBeacon, progValidator}

// process is the record of a started program, kept in run/<program>.json.
// Its proc.Record (pid and start time) tells the recorded process from a
// later one that happens to reuse its pid, so Stop never signals a
// stranger.
type process struct {
	Program string `json:"program"`
	proc.Record
	Args []string `json:"args"`
}

// feeRecipient receives the devnet's execution fees ("RAMPART" in ASCII);
// nobody holds its key, which does not matter on a devnet.
const feeRecipient = "0x52414d5041525400000000000000000000000000"

// Start runs geth and beacon-chain (and Prysm's validator client when
// Config.PrysmValidator is set) in the background, each in its own session
// so that it outlives the caller, with its output in LogFile(program). It
// records every process id and returns once each program answers on its
// API. On failure it stops what it started. A devnet that is already
// running is [ErrExists].
func (d *Devnet) Start(ctx context.Context) (err error) {
	if running, err := d.Running(); err != nil {
		return err
	} else if len(running) > 0 {
		return fmt.Errorf("%w: %s already runs %v", ErrExists, d.Config.Dir, running)
	}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			err = errors.Join(err, d.Stop(stopCtx))
		}
	}()
	c := d.Config
	if err := d.spawn(progGeth,
		"--config", d.gethConfigFile(),
		"--datadir", d.gethDataDir(),
		"--state.scheme", "path",
		"--networkid", strconv.FormatUint(c.ChainID, 10),
		"--syncmode", "full",
		"--nodiscover",
		"--nat", "none",
		"--ipcdisable",
		"--http", "--http.addr", c.Host, "--http.port", strconv.Itoa(c.Ports.ExecutionHTTP),
		"--http.api", "eth,net,web3", "--http.vhosts", "localhost,"+c.Host,
		"--authrpc.addr", c.Host, "--authrpc.port", strconv.Itoa(c.Ports.ExecutionAuth),
		"--authrpc.vhosts", "localhost,"+c.Host, "--authrpc.jwtsecret", d.jwtFile(),
		"--verbosity", "3",
	); err != nil {
		return err
	}
	if err := d.await(ctx, progGeth, time.Minute, d.gethReady); err != nil {
		return err
	}

	bootnodes := d.path("consensus", "bootnodes.yaml")
	// An empty bootnode list: Prysm's built-in mainnet bootnodes stay unused.
	if err := os.WriteFile(bootnodes, []byte("[]\n"), 0o600); err != nil {
		return err
	}
	beaconArgs := []string{
		"--datadir", d.beaconDataDir(),
		"--accept-terms-of-use",
		"--chain-config-file", d.NetworkConfigFile(),
		"--genesis-state", d.genesisStateFile(),
		"--execution-endpoint", "http://" + c.addr(c.Ports.ExecutionAuth),
		"--jwt-secret", d.jwtFile(),
		"--bootstrap-node", bootnodes,
		"--no-discovery",
		"--min-sync-peers", "0",
		"--p2p-max-peers", "0",
		"--minimum-peers-per-subnet", "0",
		"--p2p-local-ip", c.Host, "--p2p-host-ip", c.Host,
		"--p2p-tcp-port", strconv.Itoa(c.Ports.BeaconP2P),
		"--p2p-udp-port", strconv.Itoa(c.Ports.BeaconP2P),
		"--p2p-quic-port", strconv.Itoa(c.Ports.BeaconQUIC),
		"--http-host", c.Host, "--http-port", strconv.Itoa(c.Ports.BeaconHTTP),
		"--rpc-host", c.Host, "--rpc-port", strconv.Itoa(c.Ports.BeaconRPC),
		"--monitoring-host", c.Host, "--monitoring-port", strconv.Itoa(c.Ports.BeaconMetrics),
		"--deposit-contract", DepositContractAddress,
		"--contract-deployment-block", "0",
		"--suggested-fee-recipient", feeRecipient,
		"--verbosity", "info",
	}
	if c.Slasher {
		beaconArgs = append(beaconArgs, "--slasher", "--slasher-datadir", d.path("consensus", "slasher"))
	}
	if err := d.spawn(progBeacon, beaconArgs...); err != nil {
		return err
	}
	if err := d.await(ctx, progBeacon, 2*time.Minute, d.beaconReady); err != nil {
		return err
	}

	if !c.PrysmValidator {
		return nil
	}
	args := []string{
		"--datadir", d.validatorDataDir(),
		"--accept-terms-of-use",
		"--chain-config-file", d.NetworkConfigFile(),
		"--beacon-rpc-provider", c.addr(c.Ports.BeaconRPC),
		"--monitoring-host", c.Host, "--monitoring-port", strconv.Itoa(c.Ports.ValidatorMetrics),
		"--rpc-port", strconv.Itoa(c.Ports.ValidatorRPC),
		"--http-port", strconv.Itoa(c.Ports.ValidatorHTTP),
		"--suggested-fee-recipient", feeRecipient,
		"--verbosity", "info",
	}
	if c.ExternalSigner != "" {
		args = append(args,
			"--validators-external-signer-url", c.ExternalSigner,
			"--validators-external-signer-public-keys", c.ExternalSigner+"/api/v1/eth2/publicKeys")
	} else {
		args = append(args, "--interop-num-validators", strconv.Itoa(c.Validators), "--interop-start-index", "0")
	}
	if err := d.spawn(progValidator, args...); err != nil {
		return err
	}
	return d.await(ctx, progValidator, time.Minute, d.validatorReady)
}

// spawn starts one program detached, logging to its log file, and records
// it.
func (d *Devnet) spawn(program string, args ...string) error {
	log, err := os.OpenFile(d.LogFile(program), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(d.Config.BinDir, program), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = d.Config.Dir
	rec, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("devnet: starting %s: %w", program, err)
	}
	p := process{Program: program, Record: rec, Args: args}
	data, err := json.MarshalIndent(p, "", "  ")
	if err == nil {
		err = os.WriteFile(d.pidFile(program), data, 0o600)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("devnet: recording %s: %w", program, err)
	}
	// The process is tracked by its record from now on; release ours so it
	// is not tied to this one.
	return cmd.Process.Release()
}

// recorded returns the record of program, if any.
func (d *Devnet) recorded(program string) (*process, error) {
	data, err := os.ReadFile(d.pidFile(program))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p process
	if err := json.Unmarshal(data, &p); err != nil || p.PID <= 0 || p.Program != program {
		return nil, fmt.Errorf("devnet: %s is not a process record", d.pidFile(program))
	}
	return &p, nil
}

// Running returns the devnet programs whose recorded processes are alive.
func (d *Devnet) Running() ([]string, error) {
	var out []string
	for _, program := range programs {
		p, err := d.recorded(program)
		if err != nil {
			return nil, err
		}
		if p != nil && p.Alive() {
			out = append(out, program)
		}
	}
	return out, nil
}

// Stop stops the devnet's recorded processes, last started first: SIGTERM,
// then SIGKILL if one has not exited after half a minute. It signals only
// the processes Start recorded (checked by pid and start time), never any
// other, and removes their records. Stopping a stopped devnet does nothing.
func (d *Devnet) Stop(ctx context.Context) error {
	var errs []error
	for i := len(programs) - 1; i >= 0; i-- {
		p, err := d.recorded(programs[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p == nil {
			continue
		}
		if err := p.Stop(ctx, 30*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("devnet: stopping %s (pid %d): %w", p.Program, p.PID, err))
			continue
		}
		if err := os.Remove(d.pidFile(p.Program)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// await polls ready until it succeeds, the program dies, or limit passes.
func (d *Devnet) await(ctx context.Context, program string, limit time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	p, err := d.recorded(program)
	if err != nil || p == nil {
		return fmt.Errorf("devnet: %s has no process record: %v", program, err)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if !p.Alive() {
			return fmt.Errorf("devnet: %s exited during start-up\n%s", program, logTail(d.LogFile(program)))
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: %s not ready after %s: %v\n%s", program, limit, last, logTail(d.LogFile(program)))
		case <-tick.C:
		}
	}
}

// gethReady asks geth for its chain id over JSON-RPC.
func (d *Devnet) gethReady(ctx context.Context) error {
	body := `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`
	data, err := httpCall(ctx, http.MethodPost, d.ExecutionRPC(), body)
	if err != nil {
		return err
	}
	var resp struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return err
	}
	if want := fmt.Sprintf("%#x", d.Config.ChainID); resp.Result != want {
		return fmt.Errorf("chain id %s, want %s (another geth on the port?)", resp.Result, want)
	}
	return nil
}

// beaconReady asks the beacon node for its genesis and compares the
// genesis validators root with the devnet's.
func (d *Devnet) beaconReady(ctx context.Context) error {
	data, err := httpCall(ctx, http.MethodGet, d.BeaconAPI()+"/eth/v1/beacon/genesis", "")
	if err != nil {
		return err
	}
	var resp struct {
		Data struct {
			Root string `json:"genesis_validators_root"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return err
	}
	if want := fmt.Sprintf("%#x", d.GenesisValidatorsRoot[:]); resp.Data.Root != want {
		return fmt.Errorf("genesis validators root %s, want %s (another beacon node on the port?)", resp.Data.Root, want)
	}
	return nil
}

// validatorReady waits for the validator client's metrics listener.
func (d *Devnet) validatorReady(ctx context.Context) error {
	_, err := httpCall(ctx, http.MethodGet, "http://"+d.Config.addr(d.Config.Ports.ValidatorMetrics)+"/metrics", "")
	return err
}

func httpCall(ctx context.Context, method, url, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
	}
	return data, nil
}

// logTail returns the last lines of a log, to explain a failure.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", path, bytes.Join(lines, []byte("\n")))
}
