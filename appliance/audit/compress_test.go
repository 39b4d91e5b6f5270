package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
)

func TestCompressedFilesVerifyAndRetain(t *testing.T) {
	dir := t.TempDir()
	tg := hmacTagger{[]byte("k")}
	anchors := newMemAnchors()
	l := open(t, dir, audit.Options{RotateBytes: 4 << 10, Tagger: tg, Anchors: anchors, Compress: true})
	for i := 0; i < 18; i++ {
		appendN(t, l, i*4, 4)
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	fs := files(t, dir)
	zst, _ := filepath.Glob(filepath.Join(dir, "audit-*.log.zst"))
	if len(zst) != len(fs)-1 || strings.HasSuffix(fs[len(fs)-1], ".zst") {
		t.Fatalf("compressed %v of %v: want every file but the newest", zst, fs)
	}
	st := l.Stats()
	if st.Compressed != uint64(len(zst)) || st.CompressedBytesSaved == 0 {
		t.Fatalf("stats %+v", st)
	}
	a := func() *audit.Anchor { l.Sync(); anchors.Flush(context.Background()); x := anchors.anchor(t); return &x }()
	if r, err := verify(t, dir, audit.VerifyOptions{Tagger: tg, Anchor: a}); err != nil || len(r.Files) != len(fs) || r.Tagged == 0 {
		t.Fatalf("verify with compressed files: %+v %v", r, err)
	}
	// Retention counts the compressed sizes and still verifies.
	l.Close()
	l = open(t, dir, audit.Options{RotateBytes: 4 << 10, RetainBytes: 3 << 10, Tagger: tg, Anchors: anchors, Compress: true})
	deleted, err := l.Retain(context.Background())
	if err != nil || len(deleted) == 0 || !strings.HasSuffix(deleted[0].Name, ".zst") {
		t.Fatalf("retention: %v %v", deleted, err)
	}
	l.Close()
	if _, err := verify(t, dir, audit.VerifyOptions{Tagger: tg, Anchor: ptr(anchors.anchor(t))}); err != nil {
		t.Fatal(err)
	}
}

// TestCompressionCrashLeftovers: a crash after the compressed copy was
// renamed into place but before the original was removed leaves both; a
// crash before the rename leaves a temporary file. Open keeps the original
// and removes the rest, and the log verifies.
func TestCompressionCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{RotateBytes: 2 << 10})
	appendN(t, l, 0, 20)
	l.Close()
	fs := files(t, dir)
	orig := fs[0]
	raw, _ := os.ReadFile(orig)
	l = open(t, dir, audit.Options{RotateBytes: 2 << 10, Compress: true})
	if err := l.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.WriteFile(orig, raw, 0o400); err != nil { // the original is back
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ".audit-compress.tmp"), []byte("half"), 0o600)
	if _, err := verify(t, dir, audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify with both copies: %v", err)
	}
	l = open(t, dir, audit.Options{})
	l.Close()
	if _, err := os.Stat(orig + ".zst"); !os.IsNotExist(err) {
		t.Fatalf("the superseded compressed copy is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".audit-compress.tmp")); !os.IsNotExist(err) {
		t.Fatal("the temporary file is still there")
	}
	if _, err := verify(t, dir, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestNewestFileCompressed: a log whose newest file was compressed by hand
// continues in a new file.
func TestNewestFileCompressed(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{RotateBytes: 2 << 10, Compress: true})
	appendN(t, l, 0, 20)
	if err := l.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	fs := files(t, dir)
	for _, f := range fs[1:] {
		os.Remove(f) // as if the newest were the compressed one
	}
	l = open(t, dir, audit.Options{})
	appendN(t, l, 100, 1)
	l.Close()
	if r, err := verify(t, dir, audit.VerifyOptions{}); err != nil || len(r.Files) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestVerifyFollowsAFileCompressedSinceListed: rampartctl audit verify on
// a running signer lists the files, and the signer may compress a rotated
// one (X.log replaced by X.log.zst) before verify opens it. Verify reads
// the compressed copy instead of failing with "no such file" (seen by the
// adversarial suite, TestHole7AuditRotationKeepsSigning).
func TestVerifyFollowsAFileCompressedSinceListed(t *testing.T) {
	dir := t.TempDir()
	tg := hmacTagger{[]byte("k")}
	anchors := newMemAnchors()
	l := open(t, dir, audit.Options{RotateBytes: 4 << 10, Tagger: tg, Anchors: anchors, Compress: true})
	appendN(t, l, 0, 60)
	listed := files(t, dir)
	if len(listed) < 3 {
		t.Fatalf("%d files, want rotated ones", len(listed))
	}
	if err := l.Compress(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(listed[0]); !os.IsNotExist(err) {
		t.Fatalf("%s still there after compression: %v", listed[0], err)
	}
	l.Sync()
	anchors.Flush(context.Background())
	r, err := audit.VerifyFiles(context.Background(), listed, audit.VerifyOptions{Tagger: tg, Anchor: ptr(anchors.anchor(t))})
	if err != nil || len(r.Files) != len(listed) || !strings.HasSuffix(r.Files[0].Name, ".zst") {
		t.Fatalf("verify of files listed before their compression: %+v %v", r, err)
	}
	l.Close()
}
