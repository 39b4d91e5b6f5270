//go:build redteam

package redteam_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/protect"
)

// Attacks on the audit log (issue 13 items 6 and 7), read and rewritten
// the way someone with the signer's files but not its HSM would: the files
// are a directory of JSON lines chained by SHA-256 (audit-<first
// seq>-<time>.log, rotated files read-only and zstd-compressed as .zst),
// the durable head is anchored in the slashing protection database, and
// checkpoint lines carry HSM tags over the head. The suite reads the
// format itself (appliance/audit documents it), so a change of format that
// the signer reads and the suite does not shows here.

// auditLine is what the suite reads of one line.
type auditLine struct {
	Seq         uint64   `json:"seq"`
	Kind        string   `json:"kind"`
	Type        string   `json:"type"`
	SigningRoot string   `json:"signing_root"`
	Client      string   `json:"client"`
	PublicKeys  []string `json:"public_keys"`
	Prev        string   `json:"prev"`
	Checkpoint  *struct {
		Seq  uint64 `json:"seq"`
		Head string `json:"head"`
	} `json:"checkpoint"`
	Hash string `json:"hash"`
}

// auditFileNames lists the log's files in chain order (their names sort
// so).
func auditFileNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range ents {
		n := de.Name()
		if strings.HasPrefix(n, "audit-") && (strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".log.zst")) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// readAuditFile returns a file's lines, decompressed.
func readAuditFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(path, ".zst") {
		return b, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return dec.DecodeAll(b, nil)
}

// readAuditLog parses every complete line of every file.
func readAuditLog(dir string) ([]auditLine, error) {
	names, err := auditFileNames(dir)
	if err != nil {
		return nil, err
	}
	var out []auditLine
	for _, n := range names {
		data, err := readAuditFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		for _, raw := range bytes.SplitAfter(data, []byte("\n")) {
			if len(raw) == 0 || raw[len(raw)-1] != '\n' {
				continue // an incomplete last line
			}
			var l auditLine
			if err := json.Unmarshal(raw, &l); err != nil {
				return nil, fmt.Errorf("%s: %w", n, err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// released is a signature a client received: a partial from a
// participant, or a full one from a coordinator.
type released struct {
	kind, key, root string
}

// TestHole6AuditRecordsSurviveKill9 runs signing streams on the 3-of-5
// cluster of processes, SIGKILLs two signers mid-stream and restarts them,
// then reads every signer's audit log: every partial signature a client
// received from a signer, and every full signature a coordinator returned,
// must have its record there, and the chain must verify against the
// running signer's anchor. The record is written before the signature is
// released, so a crash can lose none. (A kill -9 keeps the page cache; the
// fsync under power loss is the audit package's own test,
// TestPowerLossKeepsEveryAcknowledgedRecord.)
func TestHole6AuditRecordsSurviveKill9(t *testing.T) {
	h := hole(t, 6, "every released signature has its audit record after kill -9")
	c := sharedCluster(t, procs35)
	r := random()
	victims := r.Perm(c.n)[:2]
	slices.Sort(victims)
	killAt := int64(20 + r.IntN(180))
	t.Logf("SIGKILL of signers %d and %d after %d of their approvals", victims[0]+1, victims[1]+1, killAt)
	sent, _ := c.streamAndKill(t, newEvidence(c), r, victims, killAt)

	for i, p := range c.procs {
		want := map[released]bool{}
		for _, s := range sent {
			switch {
			case s.approved(i):
				want[released{"partial", s.key.String(), api.Root(s.m.root).String()}] = true
			case s.answers == nil && s.via == i && s.full.err == nil && s.full.code == http.StatusOK:
				want[released{"full", s.key.String(), api.Root(s.m.root).String()}] = true
			}
		}
		lines, err := readAuditLog(p.s.Config.Audit.Dir)
		if err != nil {
			t.Fatalf("signer %d: %v", i+1, err)
		}
		have := map[released]bool{}
		for _, l := range lines {
			for _, k := range l.PublicKeys {
				have[released{l.Kind, strings.ToLower(k), strings.ToLower(l.SigningRoot)}] = true
			}
		}
		missing := 0
		for rel := range want {
			if have[rel] {
				h.pass("released signature found in the audit log")
				continue
			}
			missing++
			h.noteAs("RECORD MISSING")
			if missing <= 5 {
				t.Errorf("signer %d (killed: %v) released a %s signature of %s by %s and has no record of it", i+1, slices.Contains(victims, i), rel.kind, rel.root, rel.key)
			}
		}
		code, out := ctl(t, nil, "audit", "verify", "--anchor-url", "http://"+p.s.Config.Listen.Operations+"/audit/anchor", p.s.Config.Audit.Dir)
		if code != 0 {
			t.Errorf("signer %d: rampartctl audit verify: exit %d:\n%s", i+1, code, out)
		}
		t.Logf("signer %d (killed: %v): %d released signatures, %d without a record; %d lines in the log; verify: exit %d", i+1, slices.Contains(victims, i), len(want), missing, len(lines), code)
	}
}

// auditSnapshot is a copy of a stopped signer's audit directory and
// slashing protection database, to put back after an attack.
type auditSnapshot struct {
	dir, db string
	files   map[string][]byte
	modes   map[string]os.FileMode
	dbBytes []byte
}

func snapshotAudit(t *testing.T, dir, db string) *auditSnapshot {
	t.Helper()
	s := &auditSnapshot{dir: dir, db: db, files: map[string][]byte{}, modes: map[string]os.FileMode{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			t.Fatalf("%s: %v (mode %v)", de.Name(), err, info.Mode())
		}
		if s.files[de.Name()], err = os.ReadFile(filepath.Join(dir, de.Name())); err != nil {
			t.Fatal(err)
		}
		s.modes[de.Name()] = info.Mode().Perm()
	}
	if s.dbBytes, err = os.ReadFile(db); err != nil {
		t.Fatal(err)
	}
	return s
}

// restore puts the directory and the database back as they were.
func (s *auditSnapshot) restore(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		if err := os.Remove(filepath.Join(s.dir, de.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for n, b := range s.files {
		p := filepath.Join(s.dir, n)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, s.modes[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.db, s.dbBytes, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeAs replaces a file's content, keeping its mode (an owner may chmod
// a read-only file).
func writeAs(t *testing.T, path string, data []byte) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// hashSuffixLen is the length of a line's `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":""}`) + 64

// rewriteChain rewrites the log as an intruder without the HSM would: edit
// changes one line's body (the line without its hash field), and every
// line's hash is recomputed from there, files' first lines continuing the
// new hashes and checkpoints vouching for them (their HSM tags cannot be
// remade and stay as they were). It returns the new hash of every old one.
func rewriteChain(t *testing.T, dir string, edit func(l auditLine, body []byte) []byte) map[string]string {
	t.Helper()
	names, err := auditFileNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	renamed := map[string]string{}
	var prev [32]byte
	first := true
	for _, n := range names {
		path := filepath.Join(dir, n)
		data, err := readAuditFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, raw := range bytes.SplitAfter(data, []byte("\n")) {
			if len(raw) == 0 {
				continue
			}
			line := bytes.TrimSuffix(raw, []byte("\n"))
			var l auditLine
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			body := append(bytes.Clone(line[:len(line)-hashSuffixLen]), '}')
			if first {
				// The first line of the chain continues from its prev.
				if _, err := hex.Decode(prev[:], []byte(l.Prev)); err != nil {
					t.Fatalf("%s: the first line's prev %q: %v", n, l.Prev, err)
				}
				first = false
			}
			if l.Prev != "" && renamed[l.Prev] != "" {
				body = bytes.Replace(body, []byte(`"prev":"`+l.Prev+`"`), []byte(`"prev":"`+renamed[l.Prev]+`"`), 1)
			}
			if cp := l.Checkpoint; cp != nil && renamed[cp.Head] != "" {
				body = bytes.Replace(body, []byte(`"head":"`+cp.Head+`"`), []byte(`"head":"`+renamed[cp.Head]+`"`), 1)
			}
			body = edit(l, body)
			d := sha256.New()
			d.Write([]byte("rampart-audit-v2\x00"))
			d.Write(prev[:])
			d.Write(body)
			d.Sum(prev[:0])
			h := hex.EncodeToString(prev[:])
			if h != l.Hash {
				renamed[l.Hash] = h
			}
			out = append(out, body[:len(body)-1]...)
			out = append(out, `,"hash":"`+h+"\"}\n"...)
		}
		if strings.HasSuffix(n, ".zst") {
			enc, err := zstd.NewWriter(nil)
			if err != nil {
				t.Fatal(err)
			}
			out = enc.EncodeAll(out, nil)
			enc.Close()
		}
		writeAs(t, path, out)
	}
	return renamed
}

// forgeAnchor replaces the head anchored in the slashing protection
// database (the signer stopped) by the rewritten chain's.
func forgeAnchor(t *testing.T, db string, renamed map[string]string) {
	t.Helper()
	ctx := context.Background()
	d, err := protect.Open(ctx, db, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, ok := d.Anchor(audit.AnchorName)
	if !ok {
		t.Fatal("no audit anchor in the slashing protection database")
	}
	a, err := audit.ParseAnchor(string(v))
	if err != nil {
		t.Fatal(err)
	}
	if renamed[a.Head] == "" {
		t.Fatalf("the anchored record %d was not rewritten", a.Seq)
	}
	a.Head = renamed[a.Head]
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAnchor(audit.AnchorName, b); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// signUntil sends selection proofs for key through coordinator 1 (one
// every tick) until done holds, and returns how many were sent.
func (c *cluster) signUntil(t *testing.T, key api.PublicKey, limit time.Duration, done func() bool) int {
	t.Helper()
	e := newEvidence(c)
	n := 0
	err := waitFor(limit, func() bool {
		m := newMessage(c.net, "selection proof", aggregationSlotBody(c.net, c.slot()))
		if r := c.coordinatorSingle(context.Background(), e, 0, key, m); r.err != nil || r.code != http.StatusOK {
			t.Fatalf("signing: %d %v %s", r.code, r.err, short(r.body))
		}
		n++
		return done()
	})
	if err != nil {
		t.Fatalf("after %d signatures: %v", n, err)
	}
	return n
}

// TestHole6TamperedAuditLogDetected makes a rotated audit log on the 1-of-1
// signer process (a new file every second, older files compressed),
// stops it cleanly, and attacks its files: the last record cut off, the
// newest file emptied, the newest file deleted, a rotated file deleted,
// and a record of the oldest file rewritten with the whole chain
// recomputed, the checkpoints made to vouch for the new hashes and the
// anchor in the slashing protection database forged to match (all an
// intruder without the HSM can do). Each must fail rampartctl audit verify
// (anchor from the slashing database, checkpoint tags with the HSM key)
// and stop the signer at start with status 2. On 108c238 a cut or emptied
// log verified as "chain intact" and the signer started on it.
func TestHole6TamperedAuditLogDetected(t *testing.T) {
	h := hole(t, 6, "a cut, emptied, deleted or rewritten audit log is detected")
	c, p := singleSigner(t)
	cfgPath := variant(t, p, "audit-rotating", func(cfg *appliance.Config) {
		cfg.Audit.RotateAge = time.Second
		cfg.Audit.CheckpointRecords = 20
	})
	if err := p.start(cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir, db := p.s.Config.Audit.Dir, p.s.Config.Slashing.Database
	sent := c.signUntil(t, c.keys[0], 2*time.Minute, func() bool {
		names, err := auditFileNames(dir)
		if err != nil {
			t.Fatal(err)
		}
		zst := 0
		for _, n := range names {
			if strings.HasSuffix(n, ".zst") {
				zst++
			}
		}
		return len(names) >= 4 && zst >= 3
	})
	p.stop()
	names, _ := auditFileNames(dir)
	t.Logf("%d signatures, audit log of %d files: %s", sent, len(names), strings.Join(names, " "))
	snap := snapshotAudit(t, dir, db)
	t.Cleanup(func() { snap.restore(t) })

	env := []string{"SOFTHSM2_CONF=" + p.s.SoftHSMConf}
	verify := func() (int, string) {
		return ctl(t, env, "audit", "verify", "--slashing-db", db, "--key", p.s.Config.HSM.SealingKey, dir)
	}
	if code, out := verify(); code != 0 || !strings.Contains(out, "matches") || !strings.Contains(out, "tagged by the HSM") {
		t.Fatalf("the intact log: rampartctl audit verify: exit %d:\n%s", code, out)
	} else {
		t.Logf("the intact log verifies:\n%s", out)
	}
	newest := func() string { return filepath.Join(dir, names[len(names)-1]) }
	for _, a := range []struct {
		name   string
		tamper func()
		// newestOnly: start-up checks the newest file back to its last
		// checkpoint and its end against the anchor, not the files
		// before it (docs/operations.md, Verify: its time must not grow
		// with the log), so only verify can see this one.
		newestOnly bool
	}{
		{"last record cut off", func() {
			data, err := os.ReadFile(newest())
			if err != nil {
				t.Fatal(err)
			}
			cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
			writeAs(t, newest(), data[:cut])
		}, false},
		{"newest file emptied", func() { writeAs(t, newest(), nil) }, false},
		{"newest file deleted", func() {
			if err := os.Remove(newest()); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a rotated file deleted", func() {
			if err := os.Remove(filepath.Join(dir, names[1])); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a record rewritten, chain recomputed, checkpoints and anchor forged", func() {
			done := false
			renamed := rewriteChain(t, dir, func(l auditLine, body []byte) []byte {
				if done || l.Kind != "partial" {
					return body
				}
				done = true
				// Hide what was signed: another signing root.
				other := strings.Repeat("5a", 32)
				return bytes.Replace(body, []byte(l.SigningRoot), []byte("0x"+other), 1)
			})
			if !done {
				t.Fatal("no partial record to rewrite")
			}
			forgeAnchor(t, db, renamed)
			if code, out := ctl(t, env, "audit", "verify", "--slashing-db", db, dir); code == 0 {
				t.Logf("without --key, the rewritten log with its forged anchor verifies (only the HSM tags can tell):\n%s", out)
			}
		}, false},
	} {
		snap.restore(t)
		a.tamper()
		code, out := verify()
		if code == 0 {
			t.Errorf("%s: rampartctl audit verify succeeds:\n%s", a.name, out)
		} else {
			h.noteAs(fmt.Sprintf("verify exit %d", code))
			t.Logf("%s: rampartctl audit verify: exit %d: %s", a.name, code, lastLine(out))
		}
		if a.newestOnly {
			if err := p.start(cfgPath); err != nil {
				t.Fatal(err)
			}
			exited, code, healthy := p.awaitExitOrHealthy(context.Background(), 2*time.Minute)
			t.Logf("%s: start-up, which checks only the newest file: exited %v (status %d), serving %v", a.name, exited, code, healthy)
			p.stop()
			continue
		}
		if runToExit(t, p, a.name, cfgPath, 2) {
			h.noteAs("start-up exit status 2")
		}
	}
	snap.restore(t)
	if code, out := verify(); code != 0 {
		t.Errorf("the log put back: rampartctl audit verify: exit %d:\n%s", code, out)
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestHole7AuditRotationKeepsSigning signs as fast as eight clients can
// through the 1-of-1 signer process with audit.rotate_mib 1 until the log
// has rotated twice and a rotated file is compressed: no request may be
// refused, rotated files are read-only, and the chain verifies across the
// files against the running signer's anchor, then, stopped, with the HSM
// checkpoints. On 108c238 the audit log was one file that grew for ever.
func TestHole7AuditRotationKeepsSigning(t *testing.T) {
	h := hole(t, 7, "the audit log rotates under a signing stream")
	c, p := singleSigner(t)
	cfgPath := variant(t, p, "audit-rotate-1mib", func(cfg *appliance.Config) { cfg.Audit.RotateMiB = 1 })
	if err := p.start(cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := p.s.Config.Audit.Dir
	before, _ := auditFileNames(dir)
	rotated := func() bool {
		names, err := auditFileNames(dir)
		if err != nil {
			return false
		}
		zst := 0
		for _, n := range names[len(before)-1:] {
			if strings.HasSuffix(n, ".zst") {
				zst++
			}
		}
		return len(names)-len(before) >= 2 && zst >= 1
	}
	var (
		stop     atomic.Bool
		mu       sync.Mutex
		answers  = counts{}
		sent     atomic.Int64
		wg       sync.WaitGroup
		ctx      = context.Background()
		start    = time.Now()
		slotBase = c.slots(1 << 20)
	)
	for w := range 8 {
		wg.Go(func() {
			e := newEvidence(c)
			key := c.keys[w%len(c.keys)]
			for j := uint64(0); !stop.Load(); j++ {
				m := newMessage(c.net, "selection proof", aggregationSlotBody(c.net, slotBase+uint64(w)<<16+j))
				r := c.coordinatorSingle(ctx, e, 0, key, m)
				sent.Add(1)
				mu.Lock()
				answers[reason(r.code, r.err)]++
				mu.Unlock()
				h.note(r.code, r.err)
			}
		})
	}
	err := waitFor(5*time.Minute, rotated)
	stop.Store(true)
	wg.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the log did not rotate twice: %v", err)
	}
	if answers["200"] != int(sent.Load()) {
		t.Errorf("signing stopped while the log rotated: answers %s", answers)
	}
	names, _ := auditFileNames(dir)
	for _, n := range names[:len(names)-1] {
		if info, err := os.Stat(filepath.Join(dir, n)); err != nil || info.Mode().Perm()&0o222 != 0 {
			t.Errorf("rotated file %s is writable (%v, %v)", n, info.Mode(), err)
		}
	}
	t.Logf("%d signatures in %v (%.0f/s), answers %s; files: %s", sent.Load(), took.Round(time.Millisecond), float64(sent.Load())/took.Seconds(), answers, strings.Join(names, " "))
	if code, out := ctl(t, nil, "audit", "verify", "--anchor-url", "http://"+p.s.Config.Listen.Operations+"/audit/anchor", dir); code != 0 {
		t.Errorf("rampartctl audit verify of the running signer's log: exit %d:\n%s", code, out)
	}
	p.stop()
	code, out := ctl(t, []string{"SOFTHSM2_CONF=" + p.s.SoftHSMConf}, "audit", "verify", "--config", cfgPath, "--key", p.s.Config.HSM.SealingKey)
	if code != 0 || !strings.Contains(out, "matches") || !strings.Contains(out, "tagged by the HSM") {
		t.Errorf("rampartctl audit verify of the stopped signer's log with its HSM key: exit %d:\n%s", code, out)
	} else {
		t.Logf("rampartctl audit verify --config --key:\n%s", out)
	}
}

// diskHealth is the part of /healthcheck the disk test reads.
type diskHealth struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

// TestHole7DiskHeadroomInHealth fills signer 1's disk (as its StatFS sees
// it) of the cluster with a test clock and disk: with 512 MiB left of 100
// GiB health turns DEGRADED and stays ready (200) while it signs; with 8
// MiB left it is not ready (503), the disk check DOWN; with space back it
// is UP again. The free space is a metric throughout. On 108c238 nothing
// measured the disk, and a full one stopped every signer at once.
func TestHole7DiskHeadroomInHealth(t *testing.T) {
	h := hole(t, 7, "disk headroom is a metric and in health, degraded well before full")
	c := sharedCluster(t, clocked23)
	d := c.disks[0]
	t.Cleanup(func() { d.set(50<<30, 100<<30) })
	key := c.keys[0]
	for _, step := range []struct {
		name         string
		avail        uint64
		code         int
		status, disk string
		signs        bool
	}{
		{"half the disk free", 50 << 30, http.StatusOK, "UP", "UP", true},
		{"512 MiB of 100 GiB free", 512 << 20, http.StatusOK, "DEGRADED", "DEGRADED", true},
		{"8 MiB free", 8 << 20, http.StatusServiceUnavailable, "DOWN", "DOWN", false},
		{"space freed again", 50 << 30, http.StatusOK, "UP", "UP", true},
	} {
		d.set(step.avail, 100<<30)
		var last diskHealth
		var lastCode int
		err := waitFor(time.Minute, func() bool {
			r, err := c.health(0)
			if err != nil {
				return false
			}
			lastCode = r.code
			last = diskHealth{}
			return json.Unmarshal(r.body, &last) == nil && r.code == step.code && last.Status == step.status && last.Checks["disk"].Status == step.disk
		})
		if err != nil {
			t.Errorf("%s: health %d %+v, want %d, %s, disk %s", step.name, lastCode, last, step.code, step.status, step.disk)
			continue
		}
		h.note(lastCode, nil)
		if v, err := c.metric(0, `rampart_signer_disk_free_bytes{volume="audit"}`); err != nil || uint64(v) != step.avail {
			t.Errorf("%s: rampart_signer_disk_free_bytes{volume=\"audit\"} %v %v, want %d", step.name, v, err, step.avail)
		}
		m := newMessage(c.net, "selection proof", aggregationSlotBody(c.net, c.slot()))
		r := c.participantSingle(context.Background(), newEvidence(c), 0, key, m)
		t.Logf("%s: health %d %s, disk %s (%s); a partial signature: %d", step.name, lastCode, last.Status, last.Checks["disk"].Status, last.Checks["disk"].Error, r.code)
		if step.signs && (r.err != nil || r.code != http.StatusOK) {
			t.Errorf("%s: the signer does not sign: %d %v %s", step.name, r.code, r.err, short(r.body))
		}
	}
}
