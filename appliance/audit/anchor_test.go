package audit_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
)

// TestAnchorCatchesACutLog cuts records off the end of the log in every way
// a disk, a crash of the wrong kind or an intruder could, and checks that
// both start-up (Open) and a full verification refuse it, naming the
// records missing.
func TestAnchorCatchesACutLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(t *testing.T, dir string)
		want error
	}{
		{"refuses a log whose last records were cut off", func(t *testing.T, dir string) {
			p := newest(t, dir)
			ls := lines(t, p)
			writeLines(t, p, ls[:len(ls)-3])
		}, audit.ErrTruncated},
		{"refuses an emptied file", func(t *testing.T, dir string) {
			writeLines(t, newest(t, dir), nil)
		}, audit.ErrTruncated},
		{"refuses a deleted newest file", func(t *testing.T, dir string) {
			os.Remove(newest(t, dir))
		}, audit.ErrTruncated},
		{"refuses an emptied directory", func(t *testing.T, dir string) {
			for _, f := range files(t, dir) {
				os.Remove(f)
			}
		}, audit.ErrTruncated},
		{"refuses a log whose last record was replaced by another", func(t *testing.T, dir string) {
			// An intruder appends a record of their own in place of the
			// last one, with a correct chain: the anchor's hash differs.
			p := newest(t, dir)
			ls := lines(t, p)
			writeLines(t, p, ls[:len(ls)-1])
			l := open(t, dir, audit.Options{})
			l.Append(rec(999))
			l.Close()
		}, audit.ErrAnchor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			anchors := newMemAnchors()
			l := open(t, dir, audit.Options{Anchors: anchors, RotateBytes: 2 << 10})
			appendN(t, l, 0, 12)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			a := anchors.anchor(t)
			if seq, _ := l.Head(); a.Seq != seq {
				t.Fatalf("after Close the anchor is %d, the head %d", a.Seq, seq)
			}
			if r, err := verify(t, dir, audit.VerifyOptions{Anchor: &a}); err != nil || !r.AnchorChecked {
				t.Fatalf("intact log: %+v %v", r, err)
			}
			before := files(t, dir)
			tc.cut(t, dir)
			if _, err := verify(t, dir, audit.VerifyOptions{Anchor: &a}); !errors.Is(err, tc.want) {
				t.Fatalf("verify: %v, want %v", err, tc.want)
			}
			after := files(t, dir)
			_, _, err := audit.Open(context.Background(), dir, audit.Options{Anchors: anchors})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if tc.want == audit.ErrTruncated && !strings.Contains(err.Error(), "anchors record") {
				t.Fatalf("Open's error does not name the anchored record: %v", err)
			}
			if got := files(t, dir); strings.Join(got, ",") != strings.Join(after, ",") {
				t.Fatalf("a refused Open changed the directory: %v, was %v (before the cut %v)", got, after, before)
			}
		})
	}
}

// TestAnchorLagsByAtMostAnInterval: the anchor follows every fsync into the
// store's next commit; an idle store gets it within AnchorInterval (Run),
// and it never runs ahead of what is on disk.
func TestAnchorFollowsTheDurableHead(t *testing.T) {
	anchors := newMemAnchors()
	l := open(t, t.TempDir(), audit.Options{Anchors: anchors})
	defer l.Close()
	appendN(t, l, 0, 5)
	st := l.Stats()
	if st.Anchored != st.Durable || st.Durable != st.Head {
		t.Fatalf("anchored %d, durable %d, head %d", st.Anchored, st.Durable, st.Head)
	}
	// Not written until the store commits (a slashing commit or a flush).
	if _, ok := anchors.Anchor(audit.AnchorName); ok {
		v, _ := anchors.Anchor(audit.AnchorName)
		if a, _ := audit.ParseAnchor(string(v)); a.Seq == st.Head {
			t.Fatal("the anchor was written before any commit")
		}
	}
	anchors.Flush(context.Background())
	if a := anchors.anchor(t); a.Seq != st.Head {
		t.Fatalf("anchor %d after a commit, head %d", a.Seq, st.Head)
	}
}

func TestAcknowledgedLossIsRecorded(t *testing.T) {
	dir := t.TempDir()
	anchors := newMemAnchors()
	l := open(t, dir, audit.Options{Anchors: anchors})
	appendN(t, l, 0, 5)
	l.Close()
	lost := anchors.anchor(t)
	p := newest(t, dir)
	ls := lines(t, p)
	writeLines(t, p, ls[:3])
	if _, _, err := audit.Open(context.Background(), dir, audit.Options{Anchors: anchors}); !errors.Is(err, audit.ErrTruncated) {
		t.Fatalf("Open of a cut log: %v", err)
	}
	// rampartctl audit acknowledge-loss writes this.
	anchors.SetAnchor(audit.AnchorName, mustJSON(t, audit.Anchor{Lost: &lost}))
	anchors.Flush(context.Background())
	l, recov, err := audit.Open(context.Background(), dir, audit.Options{Anchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	if recov.Reset == nil || recov.Reset.Seq != lost.Seq {
		t.Fatalf("recovery %+v", recov)
	}
	l.Close()
	r, err := verify(t, dir, audit.VerifyOptions{Anchor: ptr(anchors.anchor(t))})
	if err != nil || len(r.Resets) != 1 || !strings.Contains(r.Resets[0], "lost") {
		t.Fatalf("verify after an acknowledged loss: %+v %v", r, err)
	}
}

func mustJSON(t testing.TB, a audit.Anchor) []byte {
	t.Helper()
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"12:" + h, true},
		{`{"seq":12,"head":"` + h + `"}`, true},
		{"0:" + h, false},
		{"12:" + strings.ToUpper(h), false},
		{"12:" + h[:10], false},
		{"12", false},
		{`{"seq":12,"head":"` + h + `","extra":1}`, false},
	} {
		a, err := audit.ParseAnchor(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseAnchor(%q) = %v, %v", tc.in, a, err)
		}
		if err == nil && a.Seq != 12 {
			t.Errorf("ParseAnchor(%q) = %v", tc.in, a)
		}
	}
}
