package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testDir = "/log"

type testTagger struct{}

func (testTagger) Tag(_ context.Context, data, label []byte) ([]byte, error) {
	m := hmac.New(sha256.New, []byte("test key"))
	m.Write(label)
	m.Write(data)
	return m.Sum(nil), nil
}

func (t testTagger) VerifyTag(ctx context.Context, data, label, tag []byte) error {
	want, _ := t.Tag(ctx, data, label)
	if !hmac.Equal(want, tag) {
		return errors.New("bad tag")
	}
	return nil
}

func memOpen(t testing.TB, fsys *memFS, opts Options) *Log {
	t.Helper()
	opts.fs = fsys
	l, _, err := Open(context.Background(), testDir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func root(g, i int) string { return fmt.Sprintf("0x%064x", g<<32|i) }

// roots returns every signing root in the log as the file system holds it.
func roots(t testing.TB, fsys *memFS) map[string]bool {
	t.Helper()
	if _, err := verifyDir(context.Background(), fsys, testDir, VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	out := map[string]bool{}
	files, _ := listFiles(fsys, testDir)
	for _, f := range files {
		h, _ := fsys.OpenFile(join(testDir, f.name), 0, 0)
		buf := make([]byte, f.size)
		h.ReadAt(buf, 0)
		for _, ln := range strings.Split(strings.TrimSuffix(string(buf), "\n"), "\n") {
			if e, _, _, err := parseLine([]byte(ln)); err == nil && e.SigningRoot != "" {
				out[e.SigningRoot] = true
			}
		}
	}
	return out
}

// TestPowerLossKeepsEveryAcknowledgedRecord cuts the power (every byte not
// fsync'd and every directory entry not synced is lost) while 16 appenders
// write and files rotate, at several points, and checks that every record
// whose Append had returned is in the log that comes back, which opens
// and verifies.
func TestPowerLossKeepsEveryAcknowledgedRecord(t *testing.T) {
	for _, after := range []int{1, 37, 400, 1500} {
		t.Run(fmt.Sprintf("power cut after %d acknowledged", after), func(t *testing.T) {
			fsys := newMemFS()
			l := memOpen(t, fsys, Options{RotateBytes: 4 << 10})
			var mu sync.Mutex
			var acked []string
			var count atomic.Int64
			cut := make(chan *memFS, 1)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for g := 0; g < 16; g++ {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						r := Record{Kind: KindPartial, Type: "ATTESTATION", PublicKey: "0xaa", SigningRoot: root(g, i), Client: "vc"}
						if err := l.Append(r); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked = append(acked, r.SigningRoot)
						mu.Unlock()
						count.Add(1)
					}
				})
			}
			for count.Load() < int64(after) {
				time.Sleep(time.Millisecond)
			}
			// Everything acknowledged before the copy of the list was
			// acknowledged before the power cut.
			mu.Lock()
			before := append([]string(nil), acked...)
			mu.Unlock()
			cut <- fsys.crash()
			close(stop)
			wg.Wait()
			l.Close()

			crashed := <-cut
			l2 := memOpen(t, crashed, Options{})
			l2.Close()
			got := roots(t, crashed)
			for _, r := range before {
				if !got[r] {
					t.Fatalf("record %s was acknowledged before the power cut and is lost (%d of %d kept)", r, len(got), len(before))
				}
			}
		})
	}
}

func TestRotationFailureDoesNotStopAppends(t *testing.T) {
	for _, op := range []string{"open", "sync", "rename", "syncdir"} {
		t.Run("when "+op+" fails", func(t *testing.T) {
			fsys := newMemFS()
			clk := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			var now atomic.Pointer[time.Time]
			now.Store(&clk)
			var failing atomic.Bool
			fsys.fail = func(o, name string) error {
				rotating := strings.HasSuffix(name, nextFileTemp) || (o == "rename" || o == "syncdir")
				if failing.Load() && o == op && rotating {
					return errInjected
				}
				return nil
			}
			l := memOpen(t, fsys, Options{RotateBytes: 1 << 10, Now: func() time.Time { return *now.Load() }})
			failing.Store(true)
			for i := 0; i < 20; i++ {
				if err := l.Append(Record{Kind: KindPartial, Type: "RANDAO_REVEAL", PublicKey: "0xaa", SigningRoot: root(0, i), Client: "vc"}); err != nil {
					t.Fatalf("append %d while rotation fails: %v", i, err)
				}
			}
			st := l.Stats()
			if st.RotationFailures != 1 || st.Rotations != 0 {
				t.Fatalf("stats %+v, want one failure and no retry within a minute", st)
			}
			failing.Store(false)
			later := clk.Add(rotationRetry)
			now.Store(&later)
			if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa", SigningRoot: root(1, 0)}); err != nil {
				t.Fatal(err)
			}
			if st := l.Stats(); st.Rotations != 1 {
				t.Fatalf("no rotation after the retry delay: %+v", st)
			}
			l.Close()
			if got := roots(t, fsys); len(got) != 21 {
				t.Fatalf("%d records, want 21", len(got))
			}
			if f, _ := listFiles(fsys, testDir); len(f) != 2 {
				t.Fatalf("files %v", f)
			}
		})
	}
}

// TestFullDiskWithholdsThenRecovers: a write that fails (no space) refuses
// the append - its signature is withheld - and leaves no partial line; once
// space is back the log goes on.
func TestFullDiskWithholdsThenRecovers(t *testing.T) {
	fsys := newMemFS()
	var full atomic.Bool
	fsys.fail = func(op, _ string) error {
		if full.Load() && op == "write" {
			return errNoSpace
		}
		return nil
	}
	l := memOpen(t, fsys, Options{})
	if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa", SigningRoot: root(0, 1)}); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa", SigningRoot: root(0, 2)}); err == nil {
		t.Fatal("append on a full disk succeeded")
	}
	full.Store(false)
	if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa", SigningRoot: root(0, 3)}); err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	l.Close()
	got := roots(t, fsys)
	if !got[root(0, 1)] || got[root(0, 2)] || !got[root(0, 3)] {
		t.Fatalf("roots %v", got)
	}
	if st := l.Stats(); st.WriteErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailedFsyncStopsTheLog(t *testing.T) {
	fsys := newMemFS()
	var broken atomic.Bool
	fsys.fail = func(op, _ string) error {
		if broken.Load() && op == "sync" {
			return errInjected
		}
		return nil
	}
	l := memOpen(t, fsys, Options{})
	broken.Store(true)
	if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa"}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append with a failing fsync: %v", err)
	}
	broken.Store(false)
	if err := l.Append(Record{Kind: KindPartial, PublicKey: "0xaa"}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failed fsync: %v, want ErrFailed until restart", err)
	}
}

// TestConcurrentAppendersShareFsyncs: 64 appenders blocked behind one slow
// fsync are all covered by the next one or two, not one each.
func TestConcurrentAppendersShareFsyncs(t *testing.T) {
	fsys := newMemFS()
	gate := make(chan struct{})
	var first atomic.Bool
	l := memOpen(t, fsys, Options{})
	fsys.mu.Lock()
	fsys.fail = func(op, _ string) error {
		if op == "sync" && first.CompareAndSwap(false, true) {
			<-gate
		}
		return nil
	}
	fsys.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { l.Append(Record{Kind: KindPartial, PublicKey: "0xaa"}) })
	for !first.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 64; i++ {
		wg.Go(func() { l.Append(Record{Kind: KindPartial, PublicKey: "0xbb"}) })
	}
	for l.Stats().Lines < 66 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if st := l.Stats(); st.Syncs > 2 {
		t.Fatalf("%d fsyncs for 65 appends queued behind one: not shared", st.Syncs)
	}
}
