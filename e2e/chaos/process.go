package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/proc"
)

// Launcher starts programs on simulated hosts, through `chaos enter`, and
// records every process in the run's state.
type Launcher struct {
	// Self is the chaos binary (it provides `enter`).
	Self  string
	Net   *Network
	Procs map[string]Group // host name to cgroup
	Hosts map[string]string
	State *RunState
}

// Proc is one program on one host.
type Proc struct {
	Name string
	Host string
	Argv []string
	Env  []string
	Dir  string
	Log  string

	mu   sync.Mutex
	rec  proc.Record
	done chan struct{}
	l    *Launcher
}

// NewProc describes a program; Start runs it.
func (l *Launcher) NewProc(name, host, log string, env []string, argv ...string) *Proc {
	return &Proc{Name: name, Host: host, Argv: argv, Env: env, Log: log, l: l}
}

// Start runs the program on its host, its output appended to its log.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.Alive() {
		return fmt.Errorf("chaos: %s already runs (pid %d)", p.Name, p.rec.PID)
	}
	ns, ok := p.l.Net.Hosts[p.Host]
	if p.Host == "wan" {
		ns, ok = p.l.Net.WAN, true
	}
	if !ok {
		return fmt.Errorf("chaos: %s: no host %s", p.Name, p.Host)
	}
	spec := EnterSpec{Netns: ns.Path(), Hosts: p.l.Hosts[p.Host], Argv: p.Argv}
	if g, ok := p.l.Procs[p.Host]; ok {
		spec.Procs = g.Procs()
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s chaos: starting %s on %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.Name, p.Host, strings.Join(p.Argv, " "))
	cmd := exec.Command(p.l.Self, append([]string{"enter"}, spec.Args()...)...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	rec, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("chaos: starting %s: %w", p.Name, err)
	}
	if err := p.l.State.SetProcess(p.Name, rec); err != nil {
		_ = rec.Signal(true)
		return err
	}
	p.rec = rec
	done := make(chan struct{})
	p.done = done
	go func() {
		_ = cmd.Wait() // reap it, so a dead process is not a zombie
		close(done)
	}()
	return nil
}

// Alive reports whether the process runs.
func (p *Proc) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec.Alive()
}

// PID is the running process's id (0 when none).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec.PID
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill(ctx context.Context) error {
	return p.stop(ctx, true, 0)
}

// Stop sends SIGTERM, SIGKILL after grace, and waits until it is gone.
func (p *Proc) Stop(ctx context.Context, grace time.Duration) error {
	return p.stop(ctx, false, grace)
}

func (p *Proc) stop(ctx context.Context, force bool, grace time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.PID == 0 {
		return nil
	}
	var err error
	if force {
		err = p.rec.Signal(true)
	} else {
		err = p.rec.Stop(ctx, grace)
	}
	if err != nil {
		return fmt.Errorf("chaos: stopping %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("chaos: %s (pid %d) did not exit", p.Name, p.rec.PID)
	}
	p.rec = proc.Record{}
	return p.l.State.SetProcess(p.Name, proc.Record{})
}

// Exited reports whether a started process has ended by itself.
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogTail returns the last n bytes of the process's log.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
