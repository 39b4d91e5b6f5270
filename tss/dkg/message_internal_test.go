package dkg

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// fuzzConfig is a small fixed ceremony, so that fuzzed messages and
// snapshots carry a ceremony id the parsers accept.
func fuzzConfig() Config {
	return Config{Nonce: [32]byte{7}, Participants: []tss.ID{1, 2, 3}, Threshold: 2, Validators: 2, Context: []byte("fuzz")}
}

// smallCeremony runs fuzzConfig's ceremony in one goroutine and returns the
// participants and every message sent, by sender.
func smallCeremony(tb testing.TB, tamper func(from tss.ID, m Message) []byte) (map[tss.ID]*Participant, [][]byte, []Snapshot) {
	tb.Helper()
	cfg := fuzzConfig()
	parts := map[tss.ID]*Participant{}
	type env struct {
		from, to tss.ID
		b        []byte
	}
	var queue []env
	var all [][]byte
	var snaps []Snapshot
	send := func(from tss.ID, msgs []Message) {
		for _, m := range msgs {
			b := m.Bytes
			if tamper != nil {
				b = tamper(from, m)
			}
			all = append(all, b)
			for _, to := range cfg.Participants {
				if to != from && (m.To == 0 || m.To == to) {
					queue = append(queue, env{from, to, b})
				}
			}
		}
	}
	for _, id := range cfg.Participants {
		p, err := New(cfg, id, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		parts[id] = p
		snaps = append(snaps, p.Snapshot())
	}
	for _, id := range cfg.Participants {
		send(id, parts[id].Outbox())
	}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		out, err := parts[e.to].Deliver(e.from, e.b)
		if err != nil && !errors.Is(err, ErrAborted) {
			tb.Fatal(err)
		}
		if len(out) > 0 {
			snaps = append(snaps, parts[e.to].Snapshot())
		}
		send(e.to, out)
	}
	for _, p := range parts {
		snaps = append(snaps, p.Snapshot())
	}
	return parts, all, snaps
}

// seedMessages returns messages of every kind, with complaints and answers.
func seedMessages(tb testing.TB) ([][]byte, []Snapshot) {
	parts, msgs, snaps := smallCeremony(tb, func(from tss.ID, m Message) []byte {
		if from == 3 && m.Kind == KindShares && m.To == 1 {
			b := bytes.Clone(m.Bytes)
			b[headerLen+31] ^= 1 // a share that does not match: a complaint follows
			return b
		}
		return m.Bytes
	})
	if parts[1].Phase() != PhaseDone {
		tb.Fatalf("seed ceremony did not finish: %v", parts[1].abort)
	}
	aborted, err := New(fuzzConfig(), 2, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	aborted.Abort("seed")
	return msgs, append(snaps, aborted.Snapshot())
}

// FuzzMessage feeds arbitrary bytes to every message parser. Whatever
// parses must re-encode to exactly the same bytes: one encoding per
// message, so hashes of messages (the echo, the transcript) cannot be
// malleated.
func FuzzMessage(f *testing.F) {
	msgs, _ := seedMessages(f)
	for _, m := range msgs {
		f.Add(m)
	}
	cfg := fuzzConfig()
	l := newLayout(&cfg)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, r, err := parseHeader(b)
		if err != nil {
			return
		}
		out := appendHeader(nil, h)
		switch h.kind {
		case KindCommitments:
			c, err := l.parseCommitments(r)
			if err != nil {
				return
			}
			out = appendCommitments(out, c)
		case KindShares:
			s, err := l.parseShares(r)
			if err != nil {
				return
			}
			out = appendShares(out, s.values)
		case KindEcho:
			e, err := l.parseEcho(r, h.from)
			if err != nil {
				return
			}
			out = appendEcho(out, e)
		case KindJustification:
			j, err := l.parseJustification(r, h.from)
			if err != nil {
				return
			}
			out = appendJustification(out, j)
		case KindConfirmation:
			c, err := parseConfirmation(r)
			if err != nil {
				return
			}
			out = appendConfirmation(out, c)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("%s message does not re-encode to its input", h.kind)
		}
	})
}

// FuzzResume feeds arbitrary bytes to Resume. Whatever it accepts must
// snapshot back to exactly the same bytes.
func FuzzResume(f *testing.F) {
	_, snaps := seedMessages(f)
	for _, s := range snaps {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Resume(b, rand.Reader)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Resume refused with an undocumented error: %v", err)
			}
			return
		}
		if got := p.Snapshot(); !bytes.Equal(got, b) {
			t.Fatalf("resumed state snapshots to other bytes")
		}
	})
}

// TestShareCheckNamesTheBadValidator checks the fallback of the batched
// share verification: one bad share among many is found and named.
func TestShareCheckNamesTheBadValidator(t *testing.T) {
	parts, _, _ := smallCeremony(t, func(from tss.ID, m Message) []byte {
		if from == 2 && m.Kind == KindShares && m.To == 1 {
			b := bytes.Clone(m.Bytes)
			s, _ := bls.RandomScalar(rand.Reader)
			x := s.Bytes()
			copy(b[headerLen+32:], x[:]) // validator 1
			return b
		}
		return m.Bytes
	})
	e := parts[3].echoes[0]
	if len(e.complaints) != 1 || e.complaints[0].dealer != 2 || len(e.complaints[0].validators) != 1 || e.complaints[0].validators[0] != 1 {
		t.Fatalf("complaints %+v, want dealer 2 validator 1", e.complaints)
	}
	if parts[1].Phase() != PhaseDone {
		t.Fatalf("ceremony did not complete after the dealer answered: %v", parts[1].abort)
	}
}

// Signatures at infinity decode in the BLS layer, as the specification
// says, but no honest participant sends one: a dealer's proof of possession
// or a confirmation at infinity is refused as malformed when parsed.
func TestMessagesRefuseSignaturesAtInfinity(t *testing.T) {
	msgs, _ := seedMessages(t)
	cfg := fuzzConfig()
	l := newLayout(&cfg)
	inf := make([]byte, bls.SignatureLength)
	inf[0] = 0xc0
	seen := map[Kind]bool{}
	for _, m := range msgs {
		h, _, err := parseHeader(m)
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(m)
		switch h.kind {
		case KindCommitments:
			// validator 1's proof follows its t coefficients.
			at := headerLen + (l.t*bls.PublicKeyLength + bls.SignatureLength) + l.t*bls.PublicKeyLength
			copy(b[at:], inf)
			_, r, _ := parseHeader(b)
			if _, err := l.parseCommitments(r); !errors.Is(err, ErrMalformed) || !errors.Is(err, bls.ErrInfinity) {
				t.Fatalf("commitments with a proof at infinity: %v", err)
			}
		case KindConfirmation:
			copy(b[headerLen+32:], inf)
			_, r, _ := parseHeader(b)
			if _, err := parseConfirmation(r); !errors.Is(err, ErrMalformed) || !errors.Is(err, bls.ErrInfinity) {
				t.Fatalf("confirmation at infinity: %v", err)
			}
		default:
			continue
		}
		seen[h.kind] = true
	}
	if !seen[KindCommitments] || !seen[KindConfirmation] {
		t.Fatalf("seed ceremony lacks commitments or confirmations: %v", seen)
	}
}
