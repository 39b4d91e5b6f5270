package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks measure; nothing here asserts a timing.
//
//	go test -run '^$' -bench 'Append|RecordBytes|Open' -benchtime 2000x ./appliance/audit/
//
// BenchmarkAppend compares, in one run, three ways of making an attestation
// record durable with 1, 16 and 256 concurrent appenders:
//   - "no-fsync(108c238)": what the log did before: write(2) only; a power
//     cut loses records of partials already released;
//   - "fsync-each": one fsync per Append under the lock (the naive fix);
//   - "group-commit": this package: appenders share fsyncs;
//   - "group-commit+Run": the same with Run's syncer, as in the signer.

// noSyncFS is the operating system without fsync, for the comparison.
type noSyncFS struct{ osFS }

type noSyncFile struct{ file }

func (noSyncFile) Sync() error { return nil }

func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	f, err := n.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

func attestationRecord(i int) Record {
	return Record{
		Time:        time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC),
		Kind:        KindPartial,
		Type:        "ATTESTATION",
		PublicKey:   fmt.Sprintf("0x%096x", i),
		SigningRoot: fmt.Sprintf("0x%064x", i*7919),
		Client:      "vc-1",
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, mode := range []string{"no-fsync(108c238)", "fsync-each", "group-commit", "group-commit+Run"} {
		for _, conc := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/appenders=%d", mode, conc), func(b *testing.B) {
				opts := Options{}
				if mode == "no-fsync(108c238)" {
					opts.fs = noSyncFS{}
				}
				l, _, err := Open(context.Background(), b.TempDir(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				if mode == "group-commit+Run" {
					// The signer runs Run, whose syncer starts each fsync
					// as soon as lines are written.
					ctx, stop := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { l.Run(ctx); close(done) }()
					defer func() { stop(); <-done }()
				}
				var serial sync.Mutex
				lat := make([][]time.Duration, conc)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for g := 0; g < conc; g++ {
					n := b.N / conc
					if g < b.N%conc {
						n++
					}
					wg.Go(func() {
						d := make([]time.Duration, 0, n)
						for i := 0; i < n; i++ {
							r := attestationRecord(g<<20 | i)
							t0 := time.Now()
							if mode == "fsync-each" {
								serial.Lock()
							}
							err := l.Append(r)
							if mode == "fsync-each" {
								serial.Unlock()
							}
							d = append(d, time.Since(t0))
							if err != nil {
								b.Error(err)
								return
							}
						}
						lat[g] = d
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(len(all))/elapsed.Seconds(), "records/s")
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
					st := l.Stats()
					b.ReportMetric(float64(st.Lines)/float64(max(1, st.Syncs)), "lines/fsync")
				}
			})
		}
	}
}

// legacyLine is a record as 108c238 wrote it (version 1).
func legacyLine(r Record, seq uint64) int {
	prev := strings.Repeat("0", 64)
	lr := legacyRecord{Seq: seq, Time: r.Time, Kind: r.Kind, Type: r.Type, PublicKey: r.PublicKey, SigningRoot: r.SigningRoot, Client: r.Client, Prev: prev, Hash: prev}
	b, _ := json.Marshal(lr)
	return len(b) + 1
}

// BenchmarkRecordBytes reports the bytes a released attestation costs in
// the log, before (one line per record, version 1) and now (a batch of the
// validators attesting in one slot shares one line): 31 at 1,000
// validators, 313 at 10,000, one for a request that is not batched.
func BenchmarkRecordBytes(b *testing.B) {
	const seq = 1_234_567
	for _, batch := range []int{1, 31, 313} {
		recs := make([]Record, batch)
		for i := range recs {
			recs[i] = attestationRecord(7)
			recs[i].PublicKey = fmt.Sprintf("0x%096x", i)
		}
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var v1, v2 int
			for b.Loop() {
				v1 = 0
				for _, r := range recs {
					v1 += legacyLine(r, seq)
				}
				es := group(recs)
				es[0].Seq = seq
				line, _, _ := encodeEntry(nil, &es[0], hash{})
				v2 = len(line)
			}
			b.ReportMetric(float64(v1)/float64(batch), "bytes/record-108c238")
			b.ReportMetric(float64(v2)/float64(batch), "bytes/record")
		})
	}
}

// buildLog writes n single-record lines with a checkpoint every
// cpEvery lines (0: none) into dir, fast (no fsync until the end).
func buildLog(b *testing.B, dir string, n, cpEvery int, rotate int64) {
	b.Helper()
	var tg Tagger
	if cpEvery > 0 {
		tg = testTagger{}
	}
	l, _, err := Open(context.Background(), dir, Options{fs: noSyncFS{}, Tagger: tg, RotateBytes: rotate})
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if p := l.Write(attestationRecord(i)); p.err != nil {
			b.Fatal(p.err)
		}
		if cpEvery > 0 && i%cpEvery == 0 && i+cpEvery <= n {
			if err := l.Checkpoint(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Stop as a crash would, without Close's final checkpoint: start-up
	// then has the most to check (cpEvery-1 lines after the last one).
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cur.Close()
	// Flush what was written without fsync, outside the measurement.
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	for _, n := range names {
		if f, err := osFS.OpenFile(osFS{}, n, 0, 0); err == nil {
			f.Sync()
			f.Close()
		}
	}
}

// BenchmarkOpenAfterMillionRecords is start-up's check of a log of 10^6
// records in one file (rotation off, the worst case) after a crash: back
// to the last checkpoint (every 10,000 lines, the default; 9,999 lines
// after it) and, for comparison, without any checkpoint (the whole file)
// and a full verification.
func BenchmarkOpenAfterMillionRecords(b *testing.B) {
	const n = 1_000_000
	for _, tc := range []struct {
		name    string
		cpEvery int
	}{{"checkpoint-every-10000", 10_000}, {"no-checkpoint", 0}} {
		dir := filepath.Join(b.TempDir(), "audit")
		buildLog(b, dir, n, tc.cpEvery, 0)
		b.Run("open/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				l, rec, err := Open(context.Background(), dir, Options{Tagger: testTagger{}})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(rec.Records-rec.VerifiedFrom+1), "lines-checked")
				l.mu.Lock()
				l.closed = true // leave the file as it is for the next round
				l.mu.Unlock()
				l.cur.Close()
			}
		})
		if tc.cpEvery > 0 {
			b.Run("verify-all/"+tc.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := VerifyDir(context.Background(), dir, VerifyOptions{Tagger: testTagger{}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRotatedFileBytes fills one rotated file (16 MiB, the default)
// the way a cluster's validators do - per slot one batch of attestations
// and one of aggregation selection proofs for the validators attesting in
// it, and single requests for the few aggregates and sync committee
// messages - then compresses it as Run does, and reports the bytes per
// record before and after compression, at 1,000 and 10,000 validators.
func BenchmarkRotatedFileBytes(b *testing.B) {
	for _, validators := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("validators=%d", validators), func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
				l, _, err := Open(context.Background(), dir, Options{fs: noSyncFS{}, Now: func() time.Time { return now }, RotateBytes: 16 << 20})
				if err != nil {
					b.Fatal(err)
				}
				keys := make([]string, validators)
				for i := range keys {
					keys[i] = "0x" + randomHex(48)
				}
				records, singles := 0, 0
				for slot := 0; ; slot++ {
					now = now.Add(12*time.Second + time.Duration(slot%997)*time.Microsecond)
					for _, typ := range []string{"ATTESTATION", "AGGREGATION_SLOT"} {
						var recs []Record
						root := "0x" + randomHex(32)
						for i := slot % 32; i < validators; i += 32 {
							recs = append(recs, Record{Kind: KindPartial, Type: typ, PublicKey: keys[i], SigningRoot: root, Client: "signer-2.example.internal", Time: now})
						}
						l.Write(recs...)
						records += len(recs)
					}
					// About 15 single records a validator a day: aggregates
					// and sync committee work (7,200 slots a day).
					for singles += validators * 15; singles >= 7200; singles -= 7200 {
						l.Write(Record{Kind: KindPartial, Type: "AGGREGATE_AND_PROOF", PublicKey: keys[(slot*7+records)%validators], SigningRoot: "0x" + randomHex(32), Client: "signer-2.example.internal", Time: now})
						records++
					}
					if l.Stats().Rotations > 0 {
						break
					}
				}
				l.mu.Lock()
				f := l.rotated[0]
				l.mu.Unlock()
				lines := l.Stats().Lines
				c, err := l.compressFile(f)
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
				b.ReportMetric(float64(f.size)/float64(records), "bytes/record")
				b.ReportMetric(float64(c.size)/float64(records), "zstd-bytes/record")
				b.ReportMetric(float64(f.size)/float64(c.size), "ratio")
				b.ReportMetric(float64(lines), "lines")
			}
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
