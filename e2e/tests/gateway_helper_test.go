package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Gateway is a rampart-gateway process serving the stack's cluster on a
// loopback address, with the cluster file's client identity.
type Gateway struct {
	cmd  *exec.Cmd
	log  string
	ops  string
	done chan struct{}
	err  error
}

// StartGateway starts rampart-gateway with its API on api and waits until
// its /healthcheck answers 200: every account discovered, every signer
// answering its probe.
func (s *Stack) StartGateway(ctx context.Context, api string) *Gateway {
	s.T.Helper()
	dir := filepath.Join(s.T.TempDir(), "gateway")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.T.Fatal(err)
	}
	ops := "127.0.0.1:" + strconv.Itoa(freePort(s.T))
	// Five signers, geth, Prysm's beacon node and validator client share
	// this host: asking three signers first (the others only if one is slow
	// or fails) spares the CPU that signers on their own machines would
	// have, as the devnet's own coordinators do.
	cfg := fmt.Sprintf("cluster:\n  file: %s\n  hedge_delay: 300ms\nlisten:\n  api: %q\n  operations: %q\nhealth:\n  interval: 2s\n",
		filepath.Join(s.ClusterDir, "cluster.yaml"), api, ops)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.T.Fatal(err)
	}
	g := &Gateway{log: filepath.Join(dir, "gateway.log"), ops: "http://" + ops, done: make(chan struct{})}
	logFile, err := os.Create(g.log)
	if err != nil {
		s.T.Fatal(err)
	}
	g.cmd = exec.Command(filepath.Join(s.Bin, "rampart-gateway"), "--config", path)
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	if err := g.cmd.Start(); err != nil {
		s.T.Fatal(err)
	}
	go func() {
		g.err = g.cmd.Wait()
		logFile.Close()
		close(g.done)
	}()
	s.T.Cleanup(func() {
		if err := g.Stop(); err != nil {
			s.T.Errorf("rampart-gateway: %v", err)
		}
		if s.T.Failed() {
			data, _ := os.ReadFile(g.log)
			s.T.Logf("--- rampart-gateway log (tail) ---\n%s", tail(string(data), 20000))
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := g.Health(ctx)
		if code == http.StatusOK {
			break
		}
		select {
		case <-g.done:
			s.T.Fatalf("rampart-gateway exited at start: %v", g.err)
		case <-ctx.Done():
			s.T.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("rampart-gateway not healthy after a minute: %d %s", code, body)
		}
	}
	s.T.Logf("rampart-gateway serving the cluster on %s", api)
	return g
}

func (g *Gateway) get(ctx context.Context, path string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.ops+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Health returns /healthcheck's status and body.
func (g *Gateway) Health(ctx context.Context) (int, string) { return g.get(ctx, "/healthcheck") }

// Metric sums the samples of a counter or gauge whose line starts with
// prefix (a name with some of its labels, e.g.
// `rampart_gateway_requests_total{code="200"`).
func (g *Gateway) Metric(ctx context.Context, name string, labels ...string) float64 {
	_, body := g.get(ctx, "/metrics")
	total := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if f := strings.Fields(line); ok && len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			total += v
		}
	}
	return total
}

// LogLines returns the lines of the gateway's log that hold s.
func (g *Gateway) LogLines(s string) []string {
	data, _ := os.ReadFile(g.log)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// Stop ends the process with SIGTERM (SIGKILL after 30 s) and reports an
// unclean exit.
func (g *Gateway) Stop() error {
	select {
	case <-g.done:
		return g.err
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		return errors.New("did not stop within 30 s of SIGTERM")
	}
	return g.err
}
