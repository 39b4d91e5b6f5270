package tss_test

import (
	"fmt"
	"testing"

	"github.com/rampart-signer/rampart/tss"
)

// BenchmarkRecover measures one signature's recovery. "optimistic" is
// Recover as the coordinator calls it with valid partials: combine the first
// t and verify once. "verify-each-first" is the pessimistic strategy it
// replaces: verify every partial, then combine and verify the result (which
// the profile requires anyway). "one-bad-partial" is the optimistic path's
// worst common case: the attempt fails and partials are verified one by one.
func BenchmarkRecover(b *testing.B) {
	for _, tc := range []struct{ t, n int }{{3, 5}, {7, 10}} {
		d := deal(b, tc.t, tc.n)
		root := [32]byte{7}
		ps := partials(d, root)
		name := fmt.Sprintf("%dof%d", tc.t, tc.n)
		b.Run(name+"/optimistic", func(b *testing.B) {
			for b.Loop() {
				if _, err := tss.Recover(root, d.Account.Composite, tc.t, ps[:tc.t]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/verify-each-first", func(b *testing.B) {
			for b.Loop() {
				for _, p := range ps[:tc.t] {
					if !p.PublicKey.Verify(root, p.Signature) {
						b.Fatal("partial does not verify")
					}
				}
				if _, err := tss.Recover(root, d.Account.Composite, tc.t, ps[:tc.t]); err != nil {
					b.Fatal(err)
				}
			}
		})
		bad := append([]tss.Partial(nil), ps...)
		bad[0].Signature = garbage(b)
		b.Run(name+"/one-bad-partial", func(b *testing.B) {
			for b.Loop() {
				if _, err := tss.Recover(root, d.Account.Composite, tc.t, bad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecoverBatch313 measures a slot's worth of recoveries at 10,000
// validators (313 attestations), 3-of-5, with about 64 distinct signing
// roots as committees share attestation data.
func BenchmarkRecoverBatch313(b *testing.B) {
	const items = 313
	accts := make([]*tss.Dealing, 16)
	for i := range accts {
		accts[i] = deal(b, 3, 5)
	}
	reqs := make([]tss.Request, items)
	for i := range reqs {
		d := accts[i%len(accts)]
		root := [32]byte{byte(i % 64), 1}
		reqs[i] = tss.Request{Root: root, Composite: d.Account.Composite, Threshold: 3, Partials: partials(d, root)[:3]}
	}
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			for i, o := range tss.RecoverBatch(reqs) {
				if o.Err != nil {
					b.Fatalf("request %d: %v", i, o.Err)
				}
			}
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, r := range reqs {
				if _, err := tss.Recover(r.Root, r.Composite, r.Threshold, r.Partials); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	withBad := make([]tss.Request, items)
	g := garbage(b)
	for i, r := range reqs {
		d := accts[i%len(accts)]
		withBad[i] = r
		withBad[i].Partials = partials(d, r.Root)
		withBad[i].Partials[0].Signature = g
	}
	b.Run("one-participant-bad", func(b *testing.B) {
		for b.Loop() {
			for i, o := range tss.RecoverBatch(withBad) {
				if o.Err != nil {
					b.Fatalf("request %d: %v", i, o.Err)
				}
			}
		}
	})
}
