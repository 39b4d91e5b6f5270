package audit_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
)

// hmacTagger stands in for the HSM in unit tests; the SoftHSM tests use
// the real hsm.SealingKey.
type hmacTagger struct{ key []byte }

var errBadTag = errors.New("bad tag")

func (h hmacTagger) Tag(_ context.Context, data, label []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write(label)
	m.Write(data)
	return m.Sum(nil), nil
}

func (h hmacTagger) VerifyTag(ctx context.Context, data, label, tag []byte) error {
	want, _ := h.Tag(ctx, data, label)
	if !hmac.Equal(want, tag) {
		return errBadTag
	}
	return nil
}

// memAnchors is an anchor store in memory: SetAnchor queues, Flush writes.
type memAnchors struct {
	mu               sync.Mutex
	pending, written map[string][]byte
	flushes          int
}

func newMemAnchors() *memAnchors {
	return &memAnchors{pending: map[string][]byte{}, written: map[string][]byte{}}
}

func (m *memAnchors) SetAnchor(name string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending[name] = slices.Clone(v)
	return nil
}

func (m *memAnchors) Anchor(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.written[name]
	return v, ok
}

func (m *memAnchors) Flush(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.pending {
		m.written[k] = v
	}
	clear(m.pending)
	m.flushes++
	return nil
}

func (m *memAnchors) anchor(t testing.TB) audit.Anchor {
	t.Helper()
	v, ok := m.Anchor(audit.AnchorName)
	if !ok {
		t.Fatal("no anchor written")
	}
	a, err := audit.ParseAnchor(string(v))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// clock is a settable clock for rotation and retention by age.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func rec(i int) audit.Record {
	return audit.Record{Kind: audit.KindPartial, Type: "ATTESTATION", PublicKey: pubkey(i), SigningRoot: "0x" + strings.Repeat(fmt.Sprintf("%02x", i%256), 32), Client: "vc-1"}
}

func pubkey(i int) string {
	return "0x" + strings.Repeat(fmt.Sprintf("%04x", i%65536), 24)
}

func open(t testing.TB, dir string, opts audit.Options) *audit.Log {
	t.Helper()
	l, _, err := audit.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func appendN(t testing.TB, l *audit.Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Append(rec(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// files lists the log's files (compressed ones too), oldest first.
func files(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	z, _ := filepath.Glob(filepath.Join(dir, "audit-*.log.zst"))
	m = append(m, z...)
	slices.Sort(m)
	return m
}

func newest(t testing.TB, dir string) string {
	t.Helper()
	f := files(t, dir)
	if len(f) == 0 {
		t.Fatal("no log files")
	}
	return f[len(f)-1]
}

func lines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t testing.TB, path string, ls []string) {
	t.Helper()
	os.Chmod(path, 0o600)
	out := ""
	if len(ls) > 0 {
		out = strings.Join(ls, "\n") + "\n"
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}
