package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The anchor is the log's durable head kept outside its files: the
// sequence number and hash of the newest record known to be on disk. The
// signer keeps it in the slashing protection database, whose commits are
// fsync'd anyway, so cutting records off the log's end, emptying a file or
// deleting the directory is seen at the next start and by rampartctl audit
// verify: the log ends before the anchored record, or that record has
// another hash.
//
// The anchor is set after every fsync of the log and reaches the database
// with its next commit (milliseconds later while requests come), within
// 1.25 Options.AnchorInterval when the signer is idle (Run flushes it), and
// at Close. What can be cut off the end undetected is therefore the
// records made durable in the last 1.25 s (AnchorInterval 1 s) before a
// crash, and nothing after a clean stop. It never runs ahead of the log: only
// records already fsync'd are anchored, so a power cut cannot make an
// intact log look truncated.

// AnchorName is the name the log's anchor has in the store.
const AnchorName = "audit"

// AnchorStore keeps the anchor durable: *protect.DB is one.
type AnchorStore interface {
	// SetAnchor sets a value to be written with the next commit.
	SetAnchor(name string, value []byte) error
	// Anchor returns the value as last written.
	Anchor(name string) ([]byte, bool)
	// Flush writes a value set but not yet written.
	Flush(ctx context.Context) error
}

// Anchor is a durable head: the record Seq has hash Head. Lost, when set,
// is an acknowledgement by the operator that records after the log's end
// up to that anchor are lost (rampartctl audit acknowledge-loss): the next
// start notes the loss in the log (a reset record) instead of refusing.
type Anchor struct {
	Seq  uint64
	Head string
	// Checkpoint is the last checkpoint line up to Seq (0: none yet), so
	// that stripping checkpoints from a rewritten log is seen too.
	Checkpoint uint64
	Lost       *Anchor
}

type anchorJSON struct {
	Seq        uint64  `json:"seq"`
	Head       string  `json:"head"`
	Checkpoint uint64  `json:"checkpoint,omitempty"`
	Lost       *Anchor `json:"lost,omitempty"`
}

// MarshalJSON writes {"seq":N,"head":"hex"} (and "lost").
func (a Anchor) MarshalJSON() ([]byte, error) {
	return json.Marshal(anchorJSON(a))
}

// UnmarshalJSON reads what MarshalJSON writes, strictly.
func (a *Anchor) UnmarshalJSON(b []byte) error {
	var v anchorJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("audit: anchor: %w", err)
	}
	if v.Seq > 0 {
		if _, err := parseHash(v.Head); err != nil {
			return fmt.Errorf("audit: anchor: %w", err)
		}
	}
	if v.Checkpoint > v.Seq {
		return fmt.Errorf("audit: anchor: checkpoint %d is after record %d", v.Checkpoint, v.Seq)
	}
	*a = Anchor(v)
	return nil
}

// ParseAnchor reads an anchor as the store holds it (JSON) or as an
// operator writes it: SEQ:HASH.
func ParseAnchor(s string) (Anchor, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var a Anchor
		err := json.Unmarshal([]byte(s), &a)
		return a, err
	}
	seq, h, ok := strings.Cut(s, ":")
	if !ok {
		return Anchor{}, fmt.Errorf("audit: anchor %q is not SEQ:HASH", s)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: sequence number %q is not a positive integer", s, seq)
	}
	if _, err := parseHash(h); err != nil {
		return Anchor{}, fmt.Errorf("audit: anchor %q: %w", s, err)
	}
	return Anchor{Seq: n, Head: h}, nil
}

// String is SEQ:HASH.
func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Head) }

func (a Anchor) encode() []byte {
	b, _ := a.MarshalJSON()
	return b
}
