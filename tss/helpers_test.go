package tss_test

import (
	"crypto/rand"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// deal splits a fresh random key t-of-n among ids 1..n.
func deal(tb testing.TB, threshold, n int) *tss.Dealing {
	tb.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	defer sk.Zero()
	d, err := tss.Split(rand.Reader, sk, threshold, ids(n))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Zero)
	return d
}

func ids(n int) []tss.ID {
	out := make([]tss.ID, n)
	for i := range out {
		out[i] = tss.ID(i + 1)
	}
	return out
}

// partials returns every participant's partial signature of root.
func partials(d *tss.Dealing, root [32]byte) []tss.Partial {
	out := make([]tss.Partial, len(d.Shares))
	for i, s := range d.Shares {
		out[i] = tss.Partial{ID: s.ID(), PublicKey: s.PublicKey(), Signature: s.Sign(root)}
	}
	return out
}

// pick returns the partials at the given positions.
func pick(ps []tss.Partial, idx []int) []tss.Partial {
	out := make([]tss.Partial, len(idx))
	for i, k := range idx {
		out[i] = ps[k]
	}
	return out
}

// garbage returns a valid signature point that is not a partial signature
// of anything the account signed: what a faulty or malicious participant
// might return.
func garbage(tb testing.TB) *bls.Signature {
	tb.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	defer sk.Zero()
	return sk.Sign([32]byte{0xde, 0xad})
}
