// Package slowclient is the slow-client attack of issue 13, for the
// adversarial suite: many connections each announce a large request body,
// send one byte of it and wait, while the signer process's resident memory
// and open file descriptors are sampled from /proc. A signer that reads
// bodies before deciding who asks, or reads them without a deadline, keeps
// every connection, its memory and its descriptor; a sound one answers an
// unauthorised client at once and closes, and cuts a slow body at its read
// deadline.
//
// Attack runs one scenario against a running process; Signer (signer.go)
// provisions a one-signer cluster on loopback and runs a rampart-signer
// binary to attack. The command in ./cmd/slowclient prints the figures.
// Only loopback addresses are ever dialled.
package slowclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one listener and the identity that attacks it.
type Target struct {
	// Name labels the scenario in reports.
	Name string
	// Addr is the listener's loopback host:port.
	Addr string
	// TLS is the client configuration (certificate, CA, server name); nil
	// for a plain HTTP listener.
	TLS *tls.Config
	// Path is the request path (a signing endpoint).
	Path string
	// Expect is what a sound signer answers before the body is complete:
	// 403 to a client without a role, 408 to a body slower than the read
	// deadline.
	Expect int
}

// Config shapes the attack.
type Config struct {
	// Connections to open (issue 13: 2,000).
	Connections int
	// BodySize is the Content-Length announced (issue 13: 8 MiB); one
	// byte of it is sent.
	BodySize int
	// Settle is how long after the last connection was opened the second
	// sample is taken (issue 13: 5 s).
	Settle time.Duration
	// Parallel bounds the connections being opened at once.
	Parallel int
	// PID is the signer process whose /proc entries are sampled.
	PID int
	// WaitForClose, when positive, waits after the samples up to this long
	// for the signer to close every connection (tests wait on that state
	// rather than on time).
	WaitForClose time.Duration
}

// Sample is one reading of the signer process.
type Sample struct {
	RSSKiB int64
	FDs    int
}

// Result is what one scenario measured.
type Result struct {
	Target string
	// Before is the process before the attack.
	Before Sample
	// Peak is the largest RSS and descriptor count seen up to After.
	Peak Sample
	// After is the process Settle after the last connection was opened,
	// Later twice Settle after.
	After, Later Sample
	// Opened counts connections established (TLS handshake done, request
	// headers and one body byte sent); Refused those the signer refused
	// or closed before that.
	Opened, Refused int
	// PeakOpen is the most connections open at once; OpenAfter and
	// OpenLater those still open at After and Later.
	PeakOpen, OpenAfter, OpenLater int
	// Answers counts the HTTP status codes received before the body was
	// complete (0: closed without an answer).
	Answers map[int]int
	// ClosedBySigner counts connections the signer closed (the attacker
	// closes the others at the end).
	ClosedBySigner int
}

// Validate checks a configuration.
func (c Config) Validate() error {
	switch {
	case c.Connections < 1:
		return errors.New("slowclient: Connections must be positive")
	case c.BodySize < 2:
		return errors.New("slowclient: BodySize must be at least 2")
	case c.Settle <= 0:
		return errors.New("slowclient: Settle must be positive")
	case c.Parallel < 1:
		return errors.New("slowclient: Parallel must be positive")
	case c.PID <= 0:
		return errors.New("slowclient: PID required")
	}
	return nil
}

// Attack runs the scenario against t and returns the figures. It dials
// loopback addresses only, and every connection it opens is closed before
// it returns.
func Attack(ctx context.Context, cfg Config, t Target) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := loopbackOnly(t.Addr); err != nil {
		return nil, err
	}
	before, err := Read(cfg.PID)
	if err != nil {
		return nil, err
	}
	res := &Result{Target: t.Name, Before: before, Peak: before, Answers: map[int]int{}}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var peakMu sync.Mutex
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s, err := Read(cfg.PID)
			if err != nil {
				continue
			}
			peakMu.Lock()
			res.Peak.RSSKiB = max(res.Peak.RSSKiB, s.RSSKiB)
			res.Peak.FDs = max(res.Peak.FDs, s.FDs)
			peakMu.Unlock()
		}
	}()

	var (
		open, peakOpen atomic.Int64
		mu             sync.Mutex
		conns          []net.Conn
		closing        bool
		wg             sync.WaitGroup
	)
	sem := make(chan struct{}, cfg.Parallel)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", t.Path, t.Addr, cfg.BodySize)
	var dialing sync.WaitGroup
	for range cfg.Connections {
		dialing.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			c, err := dial(ctx, t)
			if err == nil {
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_, err = io.WriteString(c, head)
			}
			<-sem
			mu.Lock()
			if err != nil {
				res.Refused++
				if c != nil {
					c.Close()
				}
				mu.Unlock()
				dialing.Done()
				return
			}
			res.Opened++
			conns = append(conns, c)
			mu.Unlock()
			n := open.Add(1)
			for p := peakOpen.Load(); n > p && !peakOpen.CompareAndSwap(p, n); p = peakOpen.Load() {
			}
			dialing.Done()
			defer open.Add(-1)
			code := 0
			br := bufio.NewReader(c)
			if resp, err := http.ReadResponse(br, nil); err == nil {
				code = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// Wait for the server to close; the attacker never does
			// before the end.
			_, _ = io.Copy(io.Discard, br)
			mu.Lock()
			res.Answers[code]++
			if !closing {
				res.ClosedBySigner++
			}
			mu.Unlock()
		}()
	}
	dialing.Wait()

	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	after, err := Read(cfg.PID)
	if err != nil {
		return nil, err
	}
	res.After = after
	res.OpenAfter = int(open.Load())
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	if res.Later, err = Read(cfg.PID); err != nil {
		return nil, err
	}
	res.OpenLater = int(open.Load())
	for end := time.Now().Add(cfg.WaitForClose); open.Load() > 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	res.PeakOpen = int(peakOpen.Load())
	cancel()
	<-samplerDone
	peakMu.Lock()
	res.Peak.RSSKiB = max(res.Peak.RSSKiB, after.RSSKiB)
	res.Peak.FDs = max(res.Peak.FDs, after.FDs)
	peakMu.Unlock()

	mu.Lock()
	closing = true
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return res, nil
}

func dial(ctx context.Context, t Target) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if t.TLS == nil {
		return d.DialContext(ctx, "tcp", t.Addr)
	}
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	return td.DialContext(ctx, "tcp", t.Addr)
}

// loopbackOnly refuses any address but a loopback one.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("slowclient: %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("slowclient: %s is not a loopback address; this attack only targets this host", addr)
}

// Read samples a process: VmRSS from /proc/PID/status and the entries of
// /proc/PID/fd.
func Read(pid int) (Sample, error) {
	var s Sample
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				s.RSSKiB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// Table renders results as a Markdown table.
func Table(rs []*Result) string {
	var b strings.Builder
	b.WriteString("| scenario | opened | answers | open: peak / +settle / +2 settle | RSS: before / peak / +settle / +2 settle | fds: before / peak / +settle / +2 settle |\n")
	b.WriteString("| --- | --: | --- | --: | --: | --: |\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d (refused %d) | %s | %d / %d / %d | %s / %s / %s / %s | %d / %d / %d / %d |\n",
			r.Target, r.Opened, r.Refused, answers(r.Answers), r.PeakOpen, r.OpenAfter, r.OpenLater,
			mib(r.Before.RSSKiB), mib(r.Peak.RSSKiB), mib(r.After.RSSKiB), mib(r.Later.RSSKiB),
			r.Before.FDs, r.Peak.FDs, r.After.FDs, r.Later.FDs)
	}
	return b.String()
}

func answers(m map[int]int) string {
	var parts []string
	for code := 0; code < 600; code++ {
		if n := m[code]; n > 0 {
			name := strconv.Itoa(code)
			if code == 0 {
				name = "none"
			}
			parts = append(parts, fmt.Sprintf("%s x%d", name, n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func mib(kib int64) string { return fmt.Sprintf("%.0f", float64(kib)/1024) + " MiB" }
