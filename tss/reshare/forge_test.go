package reshare

import (
	"crypto/rand"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// forgeDealing makes dealer p deal again, sub-sharing value(v) (random if
// nil) instead of its current share, with consistent commitments: what a
// dishonest dealer can do.
func forgeDealing(tb testing.TB, p *Participant, value func(v int) bls.Scalar) {
	tb.Helper()
	for v := range p.old {
		if value != nil {
			p.old[v] = value(v)
			continue
		}
		x, err := bls.RandomScalar(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		p.old[v] = x
	}
	p.outbox = nil
	if err := p.deal(); err != nil {
		tb.Fatal(err)
	}
	// The forged constant term: what the dealer really committed to.
	for v := range p.old {
		pk, err := bls.PublicKeyFromScalar(&p.old[v])
		if err != nil {
			tb.Fatal(err)
		}
		p.comms[p.dealer].coeffs[v][0] = pk
	}
	body := appendCommitments(nil, p.comms[p.dealer])
	msg := appendHeader(nil, header{kind: KindCommitments, session: p.session, from: p.self})
	msg = append(msg, body...)
	p.raw[KindCommitments][p.me] = msg
	p.outbox[0].Bytes = msg
}

func mustKey(tb testing.TB) *bls.SecretKey {
	tb.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return sk
}

// sendOwn makes dealer p hold b as its own justification, as a dishonest
// dealer that sent b would.
func sendOwn(tb testing.TB, p *Participant, b []byte) {
	tb.Helper()
	_, r, err := parseHeader(b)
	if err != nil {
		tb.Fatal(err)
	}
	j, err := p.l.parseJustification(r, p.self)
	if err != nil {
		tb.Fatal(err)
	}
	p.raw[KindJustification][p.me] = b
	p.justs[p.dealer] = j
}
