package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
)

func verify(t testing.TB, dir string, opts audit.VerifyOptions) (*audit.Report, error) {
	t.Helper()
	return audit.VerifyDir(context.Background(), dir, opts)
}

func TestChainContinuesAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := open(t, dir, audit.Options{})
	appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, recov, err := audit.Open(context.Background(), dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if recov.Records != 4 || recov.TornBytes != 0 {
		t.Fatalf("recovery %+v, want 4 lines (file record and 3 records)", recov)
	}
	if err := l.Append(rec(3), rec(4)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	r, err := verify(t, dir, audit.VerifyOptions{})
	if err != nil || r.LastSeq != 6 || r.Records != 6 {
		t.Fatalf("verify: %+v %v", r, err)
	}
	for _, p := range []string{dir, newest(t, dir)} {
		fi, _ := os.Stat(p)
		if want := map[bool]os.FileMode{true: 0o700, false: 0o600}[fi.IsDir()]; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestBatchIsOneLine(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{})
	batch := make([]audit.Record, 31)
	for i := range batch {
		batch[i] = rec(7)
		batch[i].PublicKey = pubkey(i)
	}
	if err := l.Append(batch...); err != nil {
		t.Fatal(err)
	}
	// A record without a key never merges, nor do different roots.
	other := rec(8)
	if err := l.Append(audit.Record{Kind: "admin", Type: "remove", Client: "ops"}, audit.Record{Kind: "admin", Type: "remove", Client: "ops"}, other); err != nil {
		t.Fatal(err)
	}
	l.Close()
	ls := lines(t, newest(t, dir))
	if len(ls) != 5 {
		t.Fatalf("%d lines, want 5 (file, batch, 2 admin, 1):\n%s", len(ls), strings.Join(ls, "\n"))
	}
	for i := range batch {
		if !strings.Contains(ls[1], pubkey(i)) {
			t.Fatalf("batch line lacks key %d", i)
		}
	}
	r, err := verify(t, dir, audit.VerifyOptions{})
	if err != nil || r.Records != 1+31+2+1 {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

func TestDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([]string) []string
	}{
		{"refuses an edited record", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"vc-1"`, `"vc-2"`, 1)
			return l
		}},
		{"refuses a record rewritten in another JSON form", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"seq":`, `"seq" :`, 1)
			return l
		}},
		{"refuses a deleted record", func(l []string) []string { return append(l[:2], l[3:]...) }},
		{"refuses reordered records", func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }},
		{"refuses a log whose first records were cut", func(l []string) []string { return l[2:] }},
		{"refuses garbage", func(l []string) []string { l[2] = "{not json"; return l }},
		{"refuses a duplicated field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"client":"vc-1"`, `"client":"vc-1","client":"vc-1"`, 1)
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, audit.Options{})
			appendN(t, l, 0, 4)
			l.Close()
			path := newest(t, dir)
			writeLines(t, path, tc.mutate(lines(t, path)))
			if _, err := verify(t, dir, audit.VerifyOptions{}); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("verify of tampered log: %v", err)
			}
			if _, _, err := audit.Open(context.Background(), dir, audit.Options{}); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("open of tampered log: %v", err)
			}
		})
	}
}

func TestCutsTornTailAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{})
	appendN(t, l, 0, 2)
	l.Close()
	f, _ := os.OpenFile(newest(t, dir), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"2026-`)
	f.Close()
	if r, err := verify(t, dir, audit.VerifyOptions{}); err != nil || r.TornBytes == 0 {
		t.Fatalf("verify with a torn tail: %+v %v", r, err)
	}
	l, recov, err := audit.Open(context.Background(), dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if recov.Records != 3 || recov.TornBytes == 0 {
		t.Fatalf("recovery %+v", recov)
	}
	appendN(t, l, 9, 1)
	l.Close()
	r, err := verify(t, dir, audit.VerifyOptions{})
	if err != nil || r.LastSeq != 5 || r.TornBytes != 0 || len(r.Recoveries) != 1 {
		t.Fatalf("verify after recovery: %+v %v", r, err)
	}
}

func TestConcurrentAppendsStayChained(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{RotateBytes: 8 << 10})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				if err := l.Append(rec(i), rec(i+1)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	l.Close()
	r, err := verify(t, dir, audit.VerifyOptions{})
	if err != nil || r.Records-uint64(len(r.Files)) != 800 {
		t.Fatalf("verify: %+v %v", r, err)
	}
	if st.Rotations == 0 || len(files(t, dir)) < 2 {
		t.Fatalf("no rotation at 8 KiB: %+v", st)
	}
	// Concurrent appenders share fsyncs.
	if st.Syncs >= st.Lines {
		t.Logf("%d fsyncs for %d lines (no sharing happened on this run)", st.Syncs, st.Lines)
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	l := open(t, t.TempDir(), audit.Options{})
	l.Close()
	if err := l.Append(rec(1)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
