package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
)

func rec(i int) audit.Record {
	return audit.Record{Kind: audit.KindPartial, Type: "ATTESTATION", PublicKey: "0xaa", SigningRoot: strings.Repeat("0", 63) + string(rune('0'+i%10)), Client: "vc-1"}
}

func fixedClock() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }

func writeLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _, err := audit.Open(path, audit.Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChainContinuesAcrossReopen(t *testing.T) {
	path := writeLog(t, 3)
	l, recov, err := audit.Open(path, audit.Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if recov.Records != 3 || recov.TornBytes != 0 {
		t.Fatalf("recovery %+v", recov)
	}
	if err := l.Append(rec(3), rec(4)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, _ := os.Open(path)
	defer f.Close()
	res, err := audit.Verify(f)
	if err != nil || res.Records != 5 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([]string) []string
	}{
		{"refuses an edited record", func(l []string) []string {
			l[1] = strings.Replace(l[1], `"vc-1"`, `"vc-2"`, 1)
			return l
		}},
		{"refuses a deleted record", func(l []string) []string { return append(l[:1], l[2:]...) }},
		{"refuses reordered records", func(l []string) []string { l[0], l[1] = l[1], l[0]; return l }},
		{"refuses a log whose first records were cut", func(l []string) []string { return l[1:] }},
		{"refuses garbage", func(l []string) []string { l[1] = "{not json"; return l }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, 4)
			raw, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			out := strings.Join(tc.mutate(lines), "\n") + "\n"
			_, err := audit.Verify(strings.NewReader(out))
			if !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("verify of tampered log: %v", err)
			}
			if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := audit.Open(path, audit.Options{}); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("open of tampered log: %v", err)
			}
		})
	}
}

func TestCutsTornTail(t *testing.T) {
	path := writeLog(t, 2)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":3,"time":"2026-`)
	f.Close()
	l, recov, err := audit.Open(path, audit.Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if recov.Records != 2 || recov.TornBytes == 0 {
		t.Fatalf("recovery %+v", recov)
	}
	if err := l.Append(rec(9)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	raw, _ := os.ReadFile(path)
	res, err := audit.Verify(bytes.NewReader(raw))
	if err != nil || res.Records != 3 || res.TornBytes != 0 {
		t.Fatalf("verify after recovery: %+v %v", res, err)
	}
}

func TestConcurrentAppendsStayChained(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _, err := audit.Open(path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := l.Append(rec(i), rec(i+1)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	raw, _ := os.ReadFile(path)
	res, err := audit.Verify(bytes.NewReader(raw))
	if err != nil || res.Records != 800 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

func BenchmarkAppend313(b *testing.B) {
	l, _, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	recs := make([]audit.Record, 313)
	for i := range recs {
		recs[i] = rec(i)
	}
	for b.Loop() {
		if err := l.Append(recs...); err != nil {
			b.Fatal(err)
		}
	}
}
