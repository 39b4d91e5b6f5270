// Package devnet runs a local development cluster as real processes: it
// provisions one with localcluster, starts each rampart-signer in the
// background with its own log, records the process ids, creates the
// validators (distributed key generation, or import of existing
// keystores) and writes cluster.yaml for rampartctl and validator clients.
// One signer can be stopped and started again, and a stopped devnet
// started again; every start is recorded, so Down stops exactly the
// processes the devnet started, by their recorded ids (internal/proc). A
// signer someone started by hand answers on its ports without a record:
// Status shows it and Start refuses to start a second one beside it.
// Changes to the record (devnet.json) are made under an exclusive lock on
// devnet.lock, re-reading the record first, so two rampartctl commands at
// once never lose each other's processes.
package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/proc"
)

// StateFile is the devnet's record in its directory.
const StateFile = "devnet.json"

// lockFile serialises changes to StateFile.
const lockFile = "devnet.lock"

// Errors of Start and Stop.
var (
	// ErrRunning: the signer's recorded process runs already.
	ErrRunning = errors.New("devnet: signer already runs")
	// ErrNotRunning: the signer has no running recorded process.
	ErrNotRunning = errors.New("devnet: signer is not running")
	// ErrUnrecorded: something answers on the signer's operations port
	// though no recorded process of the devnet runs: a signer started by
	// hand, which the devnet neither knows nor stops.
	ErrUnrecorded = errors.New("devnet: an unrecorded process answers on the signer's operations port")
)

// Options describe a devnet to bring up.
type Options struct {
	// Dir receives everything; it must not exist or be empty.
	Dir string
	// SignerBin is the rampart-signer executable.
	SignerBin string
	// Signers and Threshold shape the cluster.
	Signers, Threshold int
	// Network of the cluster.
	Network appliance.NetworkConfig
	// CoordinatorHTTP opens signer 1's coordinator API without TLS on this
	// loopback address.
	CoordinatorHTTP string
	// Clients are validator-client identities to issue ("vc-1" when empty).
	Clients []string
	// HedgeDelay is the signers' cluster.hedge_delay: all signers of a
	// devnet share this host's CPUs, so asking only the first threshold
	// participants saves the work of the others.
	HedgeDelay time.Duration
	// FutureEpochs, when positive, is the signers' slashing.future_epochs
	// (rampartctl bench needs many target epochs ahead of the clock).
	FutureEpochs uint64
	// Log receives progress lines.
	Log io.Writer
}

// State is a running devnet.
type State struct {
	Dir       string         `json:"dir"`
	Created   time.Time      `json:"created"`
	Signers   []*SignerState `json:"signers"`
	SignerBin string         `json:"signer_bin"`

	// up is set on the State Up returns, which Discard may remove;
	// madeDir says Up created Dir itself (it did not exist), so Discard
	// removes Dir rather than only what Up put in it. Neither is saved.
	up, madeDir bool
}

// replace makes st the record read from disk, keeping what only this
// process knows (up, madeDir).
func (st *State) replace(disk *State) {
	up, made := st.up, st.madeDir
	*st = *disk
	st.up, st.madeDir = up, made
}

// SignerState is one signer process.
type SignerState struct {
	ID uint64 `json:"id"`
	// Record is the running signer's process (pid and start time): zero
	// when stopped. Only the process it names is ever signalled.
	proc.Record
	ConfigPath string `json:"config"`
	LogPath    string `json:"log"`
	Operations string `json:"operations"`
	// SoftHSMConf is the signer's SOFTHSM2_CONF (its own token directory).
	SoftHSMConf string `json:"softhsm_conf"`
}

// ErrExists: Up was given the directory of an existing devnet.
var ErrExists = errors.New("devnet: a devnet exists in the directory already")

// Up provisions and starts a devnet, and waits until every signer is
// healthy. It creates no validators: see the callers (rampartctl devnet
// up) for key generation and import. An Up that fails leaves nothing
// behind: the signers it started are stopped and what it wrote is
// removed (Discard), so the same command can be run again. The
// configurations name their files by absolute path, so the devnet is
// built in place rather than in a temporary directory renamed at the end.
func Up(ctx context.Context, o Options) (st *State, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		if _, serr := os.Stat(filepath.Join(dir, StateFile)); serr == nil {
			return nil, fmt.Errorf("%w: %s; start it again with rampartctl devnet start --dir %s, or remove the directory for a new one", ErrExists, dir, dir)
		}
		return nil, fmt.Errorf("devnet: %s is not empty; give a new or empty directory", dir)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("devnet: %w", err)
	}
	st = &State{Dir: dir, SignerBin: o.SignerBin, up: true, madeDir: err != nil}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if derr := st.Discard(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, derr)
			} else {
				fmt.Fprintf(o.Log, "devnet up failed; its signers were stopped and what it wrote in %s removed\n", dir)
			}
			st = nil
		}
	}()
	if len(o.Clients) == 0 {
		o.Clients = []string{"vc-1"}
	}
	fmt.Fprintf(o.Log, "provisioning %d signers (SoftHSM tokens, sealing keys, TLS identities, configurations) in %s\n", o.Signers, dir)
	lc, err := localcluster.Provision(ctx, localcluster.Spec{
		Dir: dir, Signers: o.Signers, Threshold: o.Threshold, Network: o.Network,
		CoordinatorHTTP: o.CoordinatorHTTP, Clients: o.Clients, Hardening: "best-effort", SeparateHSMs: true, HedgeDelay: o.HedgeDelay, FutureEpochs: o.FutureEpochs,
	})
	if err != nil {
		return nil, err
	}
	lc.CloseListeners()
	st.Created = time.Now().UTC()
	for _, s := range lc.Signers {
		st.Signers = append(st.Signers, &SignerState{ID: s.ID, ConfigPath: s.ConfigPath, LogPath: filepath.Join(s.Dir, "signer.log"), Operations: s.Config.Listen.Operations, SoftHSMConf: s.SoftHSMConf})
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	for _, s := range st.Signers {
		if err := st.Start(s.ID); err != nil {
			return nil, err
		}
	}
	if err := st.WaitHealthy(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "%d signers running and healthy\n", len(st.Signers))
	return st, nil
}

// Load reads a devnet's state.
func Load(dir string) (*State, error) {
	raw, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("devnet: %w (is there a devnet in %s?)", err, dir)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", StateFile, err)
	}
	return &st, nil
}

func (st *State) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(st.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(st.Dir, StateFile))
}

func (st *State) signer(id uint64) (*SignerState, error) {
	for _, s := range st.Signers {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("devnet: no signer %d", id)
}

// ClusterFile returns the devnet's cluster description.
func (st *State) ClusterFile() (*adminapi.ClusterFile, error) {
	return adminapi.LoadClusterFile(filepath.Join(st.Dir, "cluster.yaml"))
}

// update re-reads the record under the devnet's lock, applies fn to it,
// saves it and makes st the saved record, so that concurrent commands on
// one devnet see each other's changes.
func (st *State) update(fn func(*State) error) error {
	lf, err := os.OpenFile(filepath.Join(st.Dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("devnet: locking %s: %w", lockFile, err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN)
	cur := st
	if disk, err := Load(st.Dir); err == nil {
		cur = disk
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ferr := fn(cur)
	if err := cur.save(); err != nil {
		return errors.Join(ferr, err)
	}
	if cur != st {
		st.replace(cur)
	}
	return ferr
}

// Start starts signer id in the background and records its process. It
// refuses a signer whose recorded process runs (ErrRunning) and one whose
// operations port answers without a recorded process (ErrUnrecorded). It
// does not wait for the signer: see WaitSignerHealthy.
func (st *State) Start(id uint64) error {
	return st.update(func(cur *State) error {
		s, err := cur.signer(id)
		if err != nil {
			return err
		}
		if s.Alive() {
			return fmt.Errorf("%w: signer %d (pid %d)", ErrRunning, id, s.PID)
		}
		if h := health(context.Background(), s.Operations); h != "unreachable" {
			return fmt.Errorf("%w: signer %d, %s (%s); stop that process first", ErrUnrecorded, id, s.Operations, h)
		}
		if _, err := os.Stat(cur.SignerBin); err != nil {
			return fmt.Errorf("devnet: the signer program the devnet was made with: %w", err)
		}
		logf, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd := exec.Command(cur.SignerBin, "--config", s.ConfigPath)
		cmd.Env = append(os.Environ(), softhsm.ConfigEnv+"="+s.SoftHSMConf)
		cmd.Stdout, cmd.Stderr = logf, logf
		if s.Record, err = proc.Start(cmd); err != nil {
			s.Record = proc.Record{}
			return fmt.Errorf("devnet: starting signer %d: %w", id, err)
		}
		// Reap the child when it exits, so a stopped signer leaves no
		// zombie behind while this process lives.
		go cmd.Wait()
		return nil
	})
}

// Stop stops signer id (SIGTERM, then SIGKILL after 30 s) and clears its
// record. A signer with no running recorded process is ErrNotRunning (its
// record, if it died, is cleared all the same).
func (st *State) Stop(ctx context.Context, id uint64) error {
	return st.update(func(cur *State) error {
		s, err := cur.signer(id)
		if err != nil {
			return err
		}
		if !s.Alive() {
			s.Record = proc.Record{}
			return fmt.Errorf("%w: signer %d", ErrNotRunning, id)
		}
		if err := s.Record.Stop(ctx, 30*time.Second); err != nil {
			return fmt.Errorf("devnet: stopping signer %d (pid %d): %w", id, s.PID, err)
		}
		s.Record = proc.Record{}
		return nil
	})
}

// Replace makes signer id a new server, as after the loss of its machine
// with its HSM: stopped if it runs, given a new token (a new sealing key,
// a new TLS key with a certificate of the devnet's CA for the same name)
// and an empty data directory (localcluster.NewServer), with the same
// configuration. It is not started: it holds no shares until `rampartctl
// reshare repair --participant id` gives them back, and the caller starts
// it first (Start).
func (st *State) Replace(ctx context.Context, id uint64) error {
	if _, err := st.signer(id); err != nil {
		return err
	}
	if err := st.Stop(ctx, id); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	// Under the devnet's lock, so that no start slips in, and never under
	// a process that answers for the signer without a record.
	return st.update(func(cur *State) error {
		s, err := cur.signer(id)
		if err != nil {
			return err
		}
		if s.Alive() {
			return fmt.Errorf("%w: signer %d (pid %d) started again meanwhile; nothing was replaced", ErrRunning, id, s.PID)
		}
		if h := health(ctx, s.Operations); h != "unreachable" {
			return fmt.Errorf("%w: signer %d, %s (%s); stop that process first; nothing was replaced", ErrUnrecorded, id, s.Operations, h)
		}
		return localcluster.NewServer(ctx, cur.Dir, id)
	})
}

// Down stops every signer the devnet started, restarted ones included.
// It reports, without touching them, signers that answer on their ports
// without a recorded process.
func (st *State) Down(ctx context.Context) error {
	var errs []error
	for _, s := range st.Signers {
		err := st.Stop(ctx, s.ID)
		switch {
		case errors.Is(err, ErrNotRunning):
			if h := health(ctx, s.Operations); h != "unreachable" {
				errs = append(errs, fmt.Errorf("%w: signer %d, %s (%s); the devnet did not start it and leaves it running", ErrUnrecorded, s.ID, s.Operations, h))
			}
		case err != nil:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Discard undoes an Up that did not complete: it stops the signers the
// devnet started and removes its files, Dir itself when Up created it,
// else what Up put in the empty directory it was given. When a signer
// cannot be stopped the files are kept (a running signer's database and
// token are not removed under it) and the error says so. Only a State
// returned by Up can be discarded; one read back with Load cannot.
func (st *State) Discard(ctx context.Context) error {
	if !st.up || st.Dir == "" {
		return errors.New("devnet: only a devnet being brought up is discarded; stop one with Down")
	}
	if err := st.Down(ctx); err != nil {
		return fmt.Errorf("devnet: %s kept, since a signer could not be stopped: %w", st.Dir, err)
	}
	if st.madeDir {
		if err := os.RemoveAll(st.Dir); err != nil {
			return fmt.Errorf("devnet: removing the incomplete devnet: %w", err)
		}
		return nil
	}
	entries, err := os.ReadDir(st.Dir)
	if err != nil {
		return fmt.Errorf("devnet: removing the incomplete devnet: %w", err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(st.Dir, e.Name())))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devnet: removing the incomplete devnet: %w", err)
	}
	return nil
}

// Signer states in a SignerStatus.
const (
	// StateRunning: the recorded process runs.
	StateRunning = "running"
	// StateStopped: no process recorded (stopped by the devnet, or never
	// started).
	StateStopped = "stopped"
	// StateExited: the recorded process is gone without being stopped by
	// the devnet (it crashed or was killed).
	StateExited = "exited"
	// StateUnrecorded: no recorded process runs, yet the signer's
	// operations port answers: a signer started outside the devnet.
	StateUnrecorded = "unrecorded"
)

// SignerStatus is one signer's state for devnet status.
type SignerStatus struct {
	ID uint64
	// PID is the recorded process, 0 when none.
	PID int
	// State is StateRunning, StateStopped, StateExited or StateUnrecorded.
	State string
	// Running is State == StateRunning.
	Running bool
	// Health is the answer of the operations port's /healthcheck
	// ("healthy", "status N", "unreachable"), "-" when neither a recorded
	// process nor anything else is expected there.
	Health string
}

// Status reports every signer. The record is re-read first, so a signer
// another command stopped or started shows as it is.
func (st *State) Status(ctx context.Context) []SignerStatus {
	if disk, err := Load(st.Dir); err == nil {
		st.replace(disk)
	}
	var out []SignerStatus
	for _, s := range st.Signers {
		ss := SignerStatus{ID: s.ID, PID: s.PID, Health: health(ctx, s.Operations)}
		switch {
		case s.Alive():
			ss.State, ss.Running = StateRunning, true
		case ss.Health != "unreachable":
			ss.State = StateUnrecorded
		case s.PID != 0:
			ss.State, ss.Health = StateExited, "-"
		default:
			ss.State, ss.Health = StateStopped, "-"
		}
		out = append(out, ss)
	}
	return out
}

func health(ctx context.Context, ops string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ops+"/healthcheck", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unreachable"
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "healthy"
	}
	return "status " + strconv.Itoa(resp.StatusCode)
}

// WaitHealthy waits until every signer with a recorded process answers
// /healthcheck with 200, or fails naming the first that does not, with its
// log's tail. Signers stopped on purpose are not waited for.
func (st *State) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, s := range st.Signers {
		if s.PID == 0 {
			continue
		}
		if err := st.waitSigner(ctx, s, deadline); err != nil {
			return err
		}
	}
	return nil
}

// WaitSignerHealthy waits until signer id answers /healthcheck with 200,
// or fails with its log's tail when its process ends or timeout passes.
func (st *State) WaitSignerHealthy(ctx context.Context, id uint64, timeout time.Duration) error {
	s, err := st.signer(id)
	if err != nil {
		return err
	}
	return st.waitSigner(ctx, s, time.Now().Add(timeout))
}

func (st *State) waitSigner(ctx context.Context, s *SignerState, deadline time.Time) error {
	for {
		if health(ctx, s.Operations) == "healthy" {
			return nil
		}
		if !s.Alive() || time.Now().After(deadline) {
			return fmt.Errorf("devnet: signer %d did not become healthy; last lines of %s:\n%s", s.ID, s.LogPath, tail(s.LogPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
