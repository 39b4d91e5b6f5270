package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
)

func TestRotationKeepsTheChainAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	anchors := newMemAnchors()
	opts := audit.Options{Now: clk.Now, RotateBytes: 4 << 10, RotateAge: time.Hour, Tagger: hmacTagger{[]byte("k")}, Anchors: anchors}
	l := open(t, dir, opts)
	appendN(t, l, 0, 30) // several rotations by size
	bySize := l.Stats().Rotations
	clk.Add(time.Hour)
	appendN(t, l, 30, 1) // one by age
	if got := l.Stats().Rotations; bySize < 2 || got != bySize+1 {
		t.Fatalf("rotations: %d by size, %d after an hour", bySize, got)
	}
	l.Close()
	fs := files(t, dir)
	if len(fs) != int(bySize)+2 {
		t.Fatalf("%d files after %d rotations", len(fs), bySize+1)
	}
	for i, f := range fs {
		fi, _ := os.Stat(f)
		want := os.FileMode(0o400)
		if i == len(fs)-1 {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (rotated files are read-only)", filepath.Base(f), fi.Mode().Perm(), want)
		}
		first := lines(t, f)[0]
		if !strings.Contains(first, `"kind":"file"`) || !strings.Contains(first, `"prev":`) {
			t.Errorf("%s does not start with a file record: %s", filepath.Base(f), first)
		}
	}
	a := anchors.anchor(t)
	r, err := verify(t, dir, audit.VerifyOptions{Tagger: hmacTagger{[]byte("k")}, Anchor: &a})
	if err != nil || len(r.Files) != len(fs) || r.Records != uint64(31+len(fs)+r.Checkpoints) || !r.AnchorChecked {
		t.Fatalf("verify across files: %+v %v", r, err)
	}
	// A file out of its place breaks the chain across files.
	os.Chmod(fs[1], 0o600)
	os.Rename(fs[1], filepath.Join(dir, "elsewhere"))
	if _, err := verify(t, dir, audit.VerifyOptions{}); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("verify with a middle file missing: %v", err)
	}
}

// TestRetentionDeletesTheOldestAndTheRestVerifies keeps the log under a
// size budget; what remains verifies from a checkpoint (the first file
// kept continues records no longer there), and the log says what retention
// deleted.
func TestRetentionDeletesTheOldestAndTheRestVerifies(t *testing.T) {
	dir := t.TempDir()
	tg := hmacTagger{[]byte("k")}
	anchors := newMemAnchors()
	l := open(t, dir, audit.Options{RotateBytes: 4 << 10, RetainBytes: 12 << 10, Tagger: tg, Anchors: anchors})
	for i := 0; i < 10; i++ {
		appendN(t, l, i*10, 10)
		// Run checkpoints after each rotation; here by hand.
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	before := files(t, dir)
	deleted, err := l.Retain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := files(t, dir)
	if len(deleted) == 0 || len(after) != len(before)-len(deleted) || deleted[0].Name != filepath.Base(before[0]) {
		t.Fatalf("deleted %v of %v", deleted, before)
	}
	var total int64
	for _, f := range after {
		fi, _ := os.Stat(f)
		total += fi.Size()
	}
	if st := l.Stats(); st.DeletedFiles != uint64(len(deleted)) || st.RetainedBytes != total {
		t.Fatalf("stats %+v, files hold %d", st, total)
	}
	if total > 12<<10+4<<10 {
		t.Fatalf("%d bytes kept, budget 12 KiB", total)
	}
	l.Close()
	a := anchors.anchor(t)
	r, err := verify(t, dir, audit.VerifyOptions{Tagger: tg, Anchor: &a})
	if err != nil {
		t.Fatalf("what remains does not verify: %v", err)
	}
	if !r.Continues || r.FirstSeq == 1 || r.Tagged == 0 || len(r.Deleted) != len(deleted) {
		t.Fatalf("report %+v", r)
	}
}

// TestRetentionKeepsWhatCannotBeVerifiedWithout stops before deleting a
// file whose successor holds no checkpoint: the rest could not be verified
// from anything.
func TestRetentionKeepsWhatCannotBeVerifiedWithout(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{RotateBytes: 2 << 10, RetainBytes: 1, Tagger: hmacTagger{[]byte("k")}})
	defer l.Close()
	appendN(t, l, 0, 40) // several files, no checkpoint
	before := files(t, dir)
	deleted, err := l.Retain(context.Background())
	if err != nil || len(deleted) != 0 || len(files(t, dir)) != len(before) {
		t.Fatalf("retention deleted %v without checkpoints: %v", deleted, err)
	}
}

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := open(t, dir, audit.Options{Now: clk.Now, RotateAge: time.Hour, RetainAge: 24 * time.Hour})
	defer l.Close()
	for h := 0; h < 30; h++ {
		appendN(t, l, h, 1)
		clk.Add(time.Hour)
	}
	deleted, err := l.Retain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Files whose last record is more than a day old: the first 6 or so.
	if len(deleted) < 4 || len(deleted) > 7 {
		t.Fatalf("deleted %d files by age: %v", len(deleted), deleted)
	}
	if _, err := verify(t, dir, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestRunCheckpointsWhenDue: Run writes a checkpoint once CheckpointRecords
// lines followed the last one, and flushes the anchor of an idle store.
func TestRunCheckpointsWhenDue(t *testing.T) {
	anchors := newMemAnchors()
	l := open(t, t.TempDir(), audit.Options{Tagger: hmacTagger{[]byte("k")}, CheckpointRecords: 5, Anchors: anchors, AnchorInterval: time.Millisecond})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	appendN(t, l, 0, 6)
	for l.Stats().Checkpoints == 0 {
		time.Sleep(time.Millisecond)
	}
	for {
		if v, ok := anchors.Anchor(audit.AnchorName); ok {
			if a, _ := audit.ParseAnchor(string(v)); a.Checkpoint > 0 {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
