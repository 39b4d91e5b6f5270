package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// lockedBuffer is a bytes.Buffer written by a process and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSIGHUPReloadsAndDoesNotStopTheSigner is issue 17's "SIGHUP kills the
// signer (exit 129) and nothing reloads": the signer process takes SIGHUP,
// reloads (and says so), keeps serving, and stops cleanly on SIGTERM.
func TestSIGHUPReloadsAndDoesNotStopTheSigner(t *testing.T) {
	st := provision(t)
	data, err := yaml.Marshal(st.cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := st.lc.Signers[0].ConfigPath
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--config", path)
	cmd.Env = append(append(os.Environ(), "RAMPART_SIGNER_MAIN=1"), st.env...)
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait on the state: ready, then reloaded.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("the signer stopped (%v) waiting for %s:\n%s", err, what, logs.String())
			case <-ctx.Done():
				t.Fatalf("never %s:\n%s", what, logs.String())
			case <-tick.C:
			}
		}
	}
	ready := func() bool {
		resp, err := http.Get("http://" + st.cfg.Listen.Operations + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor("ready", ready)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("reloaded", func() bool { return strings.Contains(logs.String(), "reloaded: authorization rules") })
	if !ready() {
		t.Fatalf("not ready after the reload:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after SIGHUP then SIGTERM: %v\n%s", err, logs.String())
	}
}
