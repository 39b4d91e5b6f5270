//go:build redteam

package redteam_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/proc"
)

// binaries builds rampart-signer and rampartctl once, or takes them from
// the directory REDTEAM_BIN names (make build's bin/, say).
func binaries(t *testing.T) map[string]string {
	t.Helper()
	the.mu.Lock()
	defer the.mu.Unlock()
	if the.bins == nil && the.binsErr == nil {
		the.bins, the.binsErr = buildBinaries()
	}
	if the.binsErr != nil {
		t.Fatalf("building the binaries: %v", the.binsErr)
	}
	return the.bins
}

func buildBinaries() (map[string]string, error) {
	names := []string{"rampart-signer", "rampartctl"}
	dir := os.Getenv("REDTEAM_BIN")
	if dir == "" {
		dir = filepath.Join(the.dir, "bin")
		root, err := filepath.Abs("..")
		if err != nil {
			return nil, err
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		args := []string{"build", "-o", dir + "/"}
		for _, n := range names {
			args = append(args, "./cmd/"+n)
		}
		cmd := exec.Command(goBin, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		out[n] = p
	}
	return out, nil
}

// procSigner is one rampart-signer process, started and stopped through
// internal/proc: signals go to the recorded process (pid and start time)
// and no other.
type procSigner struct {
	s   *localcluster.Signer
	bin string
	log string

	mu         sync.Mutex
	rec        proc.Record
	exited     chan struct{}
	status     *os.ProcessState
	registered bool
}

// startProcesses writes every signer's configuration (with the tweaks made
// in memory) and starts the signers one after the other.
func (c *cluster) startProcesses(t *testing.T) error {
	bin := binaries(t)["rampart-signer"]
	c.lc.CloseListeners()
	for _, s := range c.lc.Signers {
		if err := writeConfig(s.Config, s.ConfigPath); err != nil {
			return err
		}
		p := &procSigner{s: s, bin: bin, log: filepath.Join(s.Dir, "signer.log")}
		c.procs = append(c.procs, p)
		if err := p.start(s.ConfigPath); err != nil {
			return err
		}
	}
	for _, p := range c.procs {
		if err := p.waitHealthy(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes cfg as a signer's YAML configuration file.
func writeConfig(cfg *appliance.Config, path string) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// start starts the signer with the configuration file at path, and env
// ("NAME=value") added to this process's environment.
func (p *procSigner) start(config string, env ...string) error {
	logf, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- redteam: starting %s --config %s\n", p.bin, config)
	cmd := exec.Command(p.bin, "--config", config)
	cmd.Env = append(append(os.Environ(), softhsm.ConfigEnv+"="+p.s.SoftHSMConf), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	rec, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting signer %d: %w", p.s.ID, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.rec, p.exited, p.status = rec, exited, nil
	first := !p.registered
	p.registered = true
	p.mu.Unlock()
	if first {
		the.onClose(p.stop)
	}
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.status = cmd.ProcessState
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (p *procSigner) kill() error {
	p.mu.Lock()
	rec, exited := p.rec, p.exited
	p.mu.Unlock()
	if err := rec.Signal(true); err != nil {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(time.Minute):
		return fmt.Errorf("signer %d still runs a minute after SIGKILL", p.s.ID)
	}
}

// stop stops the signer gracefully (SIGTERM, SIGKILL after 30 s).
func (p *procSigner) stop() {
	p.mu.Lock()
	rec, exited := p.rec, p.exited
	p.mu.Unlock()
	if exited == nil {
		return
	}
	_ = rec.Stop(context.Background(), 30*time.Second)
	<-exited
}

// awaitExitOrHealthy waits until the process exits (exited, with its exit
// status) or serves healthy, or limit passes (neither).
func (p *procSigner) awaitExitOrHealthy(ctx context.Context, limit time.Duration) (exited bool, code int, healthy bool) {
	p.mu.Lock()
	done := p.exited
	p.mu.Unlock()
	deadline := time.After(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return true, p.status.ExitCode(), false
		default:
		}
		if p.healthy(ctx) {
			return false, 0, true
		}
		select {
		case <-deadline:
			return false, 0, false
		case <-tick.C:
		case <-done:
		}
	}
}

// healthy reports whether the signer answers /healthcheck with 200.
func (p *procSigner) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.s.Config.Listen.Operations+"/healthcheck", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitHealthy waits until the signer is healthy; it fails if the process
// exits first, quoting its log.
func (p *procSigner) waitHealthy(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !p.healthy(ctx) {
		select {
		case <-exited:
			return fmt.Errorf("signer %d exited while starting; last lines of %s:\n%s", p.s.ID, p.log, tail(p.log, 15))
		case <-deadline:
			return fmt.Errorf("signer %d not healthy after 2 minutes; last lines of %s:\n%s", p.s.ID, p.log, tail(p.log, 15))
		case <-tick.C:
		}
	}
	return nil
}

// memory returns the process's resident set and its peak, in bytes.
func (p *procSigner) memory() (rss, peak uint64, err error) {
	p.mu.Lock()
	pid := p.rec.PID
	p.mu.Unlock()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS or VmHWM in /proc/PID/status")
	}
	return rss, peak, nil
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
