package dkg

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// dealing is this participant's contribution as dealer: its encoded
// commitments message and its shares for every recipient (by participant
// index). The polynomials themselves are zeroed as soon as these exist.
type dealing struct {
	commitments []byte
	parsed      *commitments
	shares      [][]bls.Scalar
}

// deal draws a random polynomial of degree t-1 for each validator, commits
// to it, proves possession of each constant term and evaluates it at every
// participant's id.
func deal(rand io.Reader, l layout, ceremony [32]byte, self tss.ID) (*dealing, error) {
	d := &dealing{shares: make([][]bls.Scalar, l.n), parsed: &commitments{coeffs: make([][]*bls.PublicKey, l.validators), pops: make([]*bls.Signature, l.validators)}}
	for i := range d.shares {
		d.shares[i] = make([]bls.Scalar, l.validators)
	}
	body := make([]byte, 0, l.commitmentsBodyLen())
	constants := make([]bls.Scalar, l.validators)
	defer zeroScalars(constants)
	coeffs := make([]bls.Scalar, l.t)
	defer zeroScalars(coeffs)
	xs := make([]bls.Scalar, l.n)
	for i, id := range l.ids {
		xs[i] = bls.ScalarFromUint64(uint64(id))
	}
	popSlots := make([]int, l.validators)
	for v := range l.validators {
		for k := range coeffs {
			c, err := bls.RandomScalar(rand)
			if err != nil {
				d.zero()
				return nil, fmt.Errorf("dkg: drawing polynomial coefficient: %w", err)
			}
			coeffs[k] = c
			pk, err := bls.PublicKeyFromScalar(&coeffs[k])
			if err != nil {
				d.zero()
				return nil, fmt.Errorf("dkg: committing to coefficient: %w", err)
			}
			b := pk.Bytes()
			body = append(body, b[:]...)
			d.parsed.coeffs[v] = append(d.parsed.coeffs[v], pk)
		}
		constants[v] = coeffs[0]
		for i := range xs {
			d.shares[i][v] = horner(coeffs, &xs[i])
		}
		popSlots[v] = len(body)
		body = append(body, make([]byte, bls.SignatureLength)...)
	}
	msg := popMessage(ceremony, self, l, body)
	for v := range l.validators {
		sk, err := bls.SecretKeyFromScalar(&constants[v])
		if err != nil {
			d.zero()
			return nil, fmt.Errorf("dkg: constant term is zero: %w", err)
		}
		// The library's signing path, not a multi-scalar multiplication:
		// the scalar is secret.
		sig := sk.Sign(msg)
		sk.Zero()
		d.parsed.pops[v] = sig
		b := sig.Bytes()
		copy(body[popSlots[v]:], b[:])
	}
	d.commitments = appendHeader(make([]byte, 0, headerLen+len(body)), header{kind: KindCommitments, ceremony: ceremony, from: self})
	d.commitments = append(d.commitments, body...)
	return d, nil
}

func (d *dealing) zero() {
	for _, s := range d.shares {
		zeroScalars(s)
	}
}

// horner evaluates the polynomial at x.
func horner(coeffs []bls.Scalar, x *bls.Scalar) bls.Scalar {
	var acc bls.Scalar
	for k := len(coeffs) - 1; k >= 0; k-- {
		acc = acc.Mul(x)
		acc = acc.Add(&coeffs[k])
	}
	return acc
}

// popMessage is the message every proof of possession of one dealer signs:
// bound to the ceremony, the dealer and all of the dealer's constant-term
// commitments (read from the encoded commitments body). One message per
// dealer lets a verifier check all of a dealer's proofs with one pairing
// after a random linear combination; each proof is still a signature by
// its own constant term, so none can be made without knowing that term.
func popMessage(ceremony [32]byte, dealer tss.ID, l layout, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagPoP))
	h.Write(ceremony[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(dealer)))
	stride := l.t*bls.PublicKeyLength + bls.SignatureLength
	for v := range l.validators {
		h.Write(body[v*stride : v*stride+bls.PublicKeyLength])
	}
	var m [32]byte
	h.Sum(m[:0])
	return m
}

// confirmMessage is what a participant signs to confirm a transcript.
func confirmMessage(ceremony [32]byte, signer tss.ID, transcript [32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagConfirm))
	h.Write(ceremony[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(signer)))
	h.Write(transcript[:])
	var m [32]byte
	h.Sum(m[:0])
	return m
}

func zeroScalars(s []bls.Scalar) {
	for i := range s {
		s[i].Zero()
	}
}
