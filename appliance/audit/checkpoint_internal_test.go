package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// rewrite is what an intruder who knows the format but not the HSM key
// does: edit records in every file and recompute the whole chain, so that
// every hash and every file's prev is consistent again. Checkpoint lines
// are kept as they were; their tags cannot be remade.
func rewrite(t testing.TB, dir string, edit func(e *entry) bool) {
	t.Helper()
	files, err := listFiles(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var prev hash
	edited := false
	hashes := map[uint64]hash{}
	for i, f := range files {
		p := filepath.Join(dir, f.name)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for j, ln := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
			e, _, _, err := parseLine([]byte(ln))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 && j == 0 {
				prev, _ = parseHash(e.Prev)
			}
			if e.Kind == KindFile {
				e.Prev = prev.String()
			}
			if edit(e) {
				edited = true
			}
			if e.Checkpoint != nil {
				// The head it vouches for is made to agree; the tag cannot be.
				e.Checkpoint.Head = hashes[e.Checkpoint.Seq].String()
			}
			out, prev, err = encodeEntry(out, e, prev)
			if err != nil {
				t.Fatal(err)
			}
			hashes[e.Seq] = prev
		}
		os.Chmod(p, 0o600)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !edited {
		t.Fatal("nothing edited")
	}
}

func changeClient(e *entry) bool {
	if e.Client == "vc-1" {
		e.Client = "intruder"
		return true
	}
	return false
}

// writeCheckpointed writes records in several files with checkpoints after
// each rotation and every 10 lines, and returns the final anchor.
func writeCheckpointed(t testing.TB, dir string, tg Tagger) *Anchor {
	t.Helper()
	anchors := &recAnchors{}
	l, _, err := Open(context.Background(), dir, Options{Tagger: tg, RotateBytes: 2 << 10, Anchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if err := l.Append(Record{Kind: KindPartial, Type: "ATTESTATION", PublicKey: "0xaa", SigningRoot: root(0, i), Client: "vc-1"}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := ParseAnchor(string(anchors.v))
	return &a
}

type recAnchors struct{ v, pending []byte }

func (r *recAnchors) SetAnchor(_ string, v []byte) error { r.pending = v; return nil }
func (r *recAnchors) Anchor(string) ([]byte, bool)       { return r.v, r.v != nil }
func (r *recAnchors) Flush(context.Context) error        { r.v = r.pending; return nil }

// TestCheckpointsCatchARewrittenLog: a rewrite with a recomputed chain
// passes a chain-only verification, and fails as soon as the HSM checks
// the checkpoints: at start-up and in a full verification.
func TestCheckpointsCatchARewrittenLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tagger func(t *testing.T) Tagger
	}{
		{"with a stand-in tagger", func(*testing.T) Tagger { return testTagger{} }},
		{"with the sealing key in SoftHSM", softHSMTagger},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := tc.tagger(t)
			dir := t.TempDir()
			writeCheckpointed(t, dir, tg)
			r, err := VerifyDir(ctx, dir, VerifyOptions{Tagger: tg})
			if err != nil || r.Tagged == 0 || r.AuthenticatedTo+2 < r.LastSeq || len(r.Files) < 3 {
				t.Fatalf("intact log: %+v %v", r, err)
			}
			rewrite(t, dir, changeClient)
			if _, err := VerifyDir(ctx, dir, VerifyOptions{}); err != nil {
				t.Fatalf("the rewrite does not even pass a chain-only check: %v", err)
			}
			if _, err := VerifyDir(ctx, dir, VerifyOptions{Tagger: tg}); !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("full verification of a rewritten log: %v, want ErrCheckpoint", err)
			}
			if _, _, err := Open(ctx, dir, Options{Tagger: tg}); !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("start-up on a rewritten log: %v, want ErrCheckpoint", err)
			}
		})
	}
}

// TestCheckpointsCatchAForgedTag: a checkpoint whose tag was made by
// another key (or edited) fails.
func TestCheckpointsCatchAForgedTag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeCheckpointed(t, dir, testTagger{})
	if _, err := VerifyDir(ctx, dir, VerifyOptions{Tagger: otherTagger{}}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("verification with another key: %v", err)
	}
	if _, _, err := Open(ctx, dir, Options{Tagger: otherTagger{}}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("start-up with another key: %v", err)
	}
}

// TestAnchorCatchesStrippedCheckpoints: removing every checkpoint before
// recomputing the chain leaves nothing for the tags to catch; the anchor
// names the last checkpoint, so it is caught all the same.
func TestAnchorCatchesStrippedCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := writeCheckpointed(t, dir, testTagger{})
	if a.Checkpoint == 0 {
		t.Fatalf("anchor %+v names no checkpoint", a)
	}
	stripped := a.Checkpoint
	rewrite(t, dir, func(e *entry) bool {
		if e.Seq == stripped {
			*e = entry{Seq: e.Seq, Record: Record{Time: e.Time, Kind: KindPartial, Client: "vc-1"}}
			return true
		}
		return false
	})
	// The intruder also rewrites the anchor's hash, but not its checkpoint.
	r, err := VerifyDir(ctx, dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forged := &Anchor{Seq: a.Seq, Head: a.Head, Checkpoint: a.Checkpoint}
	if r.LastSeq == a.Seq {
		forged.Head = r.Head
	}
	if _, err := VerifyDir(ctx, dir, VerifyOptions{Anchor: forged}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("verification: %v, want ErrCheckpoint", err)
	}
	store := &recAnchors{v: forged.encode()}
	if _, _, err := Open(ctx, dir, Options{Anchors: store}); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("start-up: %v, want ErrCheckpoint", err)
	}
}

type otherTagger struct{ testTagger }

func (otherTagger) VerifyTag(context.Context, []byte, []byte, []byte) error {
	return errors.New("tag from another key")
}

func softHSMTagger(t *testing.T) Tagger {
	env := softhsm.New(t, "signer-1")
	tok, err := hsm.Open(context.Background(), env.Tokens[0].URI, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	k, err := tok.CreateSealingKey(context.Background(), hsm.Object{Label: "rampart-seal"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}
