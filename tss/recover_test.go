package tss_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

func TestRecoverThresholdEdges(t *testing.T) {
	d := deal(t, 3, 5)
	root := [32]byte{9}
	ps := partials(d, root)
	for _, tc := range []struct {
		name string
		ps   []tss.Partial
		want error
	}{
		{"refuses t-1 partials", ps[:2], tss.ErrNotEnoughShares},
		{"recovers from exactly t", ps[:3], nil},
		{"recovers from all n", ps, nil},
		{"refuses n+1 partials with one repeated", append(slices.Clone(ps), ps[0]), tss.ErrDuplicateID},
		{"refuses no partials", nil, tss.ErrNotEnoughShares},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tss.Recover(root, d.Account.Composite, 3, tc.ps)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Recover = %v, want %v", err, tc.want)
			}
			if err != nil && res != nil {
				t.Fatal("error came with a result")
			}
			if err == nil && !d.Account.Composite.Verify(root, res.Signature) {
				t.Fatal("unverified signature returned")
			}
		})
	}
}

func TestRecoverRefusesMalformedInput(t *testing.T) {
	d := deal(t, 2, 3)
	root := [32]byte{9}
	ps := partials(d, root)
	with := func(i int, mut func(*tss.Partial)) []tss.Partial {
		out := slices.Clone(ps)
		mut(&out[i])
		return out
	}
	for _, tc := range []struct {
		name      string
		composite *bls.PublicKey
		threshold int
		ps        []tss.Partial
		want      error
	}{
		{"refuses participant id zero", d.Account.Composite, 2, with(1, func(p *tss.Partial) { p.ID = 0 }), tss.ErrInvalidID},
		{"refuses a missing signature", d.Account.Composite, 2, with(1, func(p *tss.Partial) { p.Signature = nil }), tss.ErrInvalidInput},
		{"refuses a missing component key", d.Account.Composite, 2, with(0, func(p *tss.Partial) { p.PublicKey = nil }), tss.ErrInvalidInput},
		{"refuses a missing composite key", nil, 2, ps, tss.ErrInvalidInput},
		{"refuses threshold zero", d.Account.Composite, 0, ps, tss.ErrThreshold},
		{"refuses two partials from one participant", d.Account.Composite, 2, with(2, func(p *tss.Partial) { p.ID = ps[0].ID }), tss.ErrDuplicateID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tss.Recover(root, tc.composite, tc.threshold, tc.ps); !errors.Is(err, tc.want) {
				t.Fatalf("Recover = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRecoverAttacks covers what a faulty or malicious participant, or a
// confused coordinator, can feed into recovery: the signature must still
// come out right when t valid partials exist, name the culprits, and never
// be returned unverified.
func TestRecoverAttacks(t *testing.T) {
	d := deal(t, 3, 5)
	other := deal(t, 3, 5)
	root := [32]byte{1}
	ps := partials(d, root)
	otherMsg := partials(d, [32]byte{2})
	otherAcct := partials(other, root)
	replace := func(idx map[int]tss.Partial) []tss.Partial {
		out := slices.Clone(ps)
		for i, p := range idx {
			out[i] = p
		}
		return out
	}
	garbageFrom := func(i int) tss.Partial {
		p := ps[i]
		p.Signature = garbage(t)
		return p
	}
	for _, tc := range []struct {
		name    string
		ps      []tss.Partial
		wantErr error
		wantBad []tss.ID
	}{
		{"excludes a garbage partial among the first t and names it", replace(map[int]tss.Partial{1: garbageFrom(1)}), nil, []tss.ID{2}},
		{"excludes two garbage partials when t valid remain", replace(map[int]tss.Partial{0: garbageFrom(0), 2: garbageFrom(2)}), nil, []tss.ID{1, 3}},
		{"refuses when three of five are garbage and names them", replace(map[int]tss.Partial{0: garbageFrom(0), 2: garbageFrom(2), 4: garbageFrom(4)}), tss.ErrNotEnoughShares, []tss.ID{1, 3, 5}},
		{"excludes a partial of another message (mixed messages)", replace(map[int]tss.Partial{0: otherMsg[0]}), nil, []tss.ID{1}},
		{"excludes another participant's valid partial replayed under this id", replace(map[int]tss.Partial{0: {ID: 1, PublicKey: ps[0].PublicKey, Signature: ps[3].Signature}}), nil, []tss.ID{1}},
		{"excludes a partial of another account bound to this account's key", replace(map[int]tss.Partial{2: {ID: 3, PublicKey: ps[2].PublicKey, Signature: otherAcct[2].Signature}}), nil, []tss.ID{3}},
		{"refuses valid partials of another account with that account's keys (mixed accounts)", replace(map[int]tss.Partial{1: otherAcct[1]}), tss.ErrInconsistentKeys, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tss.Recover(root, d.Account.Composite, 3, tc.ps)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Recover = %v, want %v", err, tc.wantErr)
			}
			var bad []tss.ID
			if err == nil {
				if !d.Account.Composite.Verify(root, res.Signature) {
					t.Fatal("returned signature does not verify")
				}
				for _, id := range res.Used {
					if slices.Contains(tc.wantBad, id) {
						t.Fatalf("bad participant %s was used", id)
					}
				}
				bad = res.Bad
			}
			var short *tss.ShortfallError
			if errors.As(err, &short) {
				bad = short.Bad
				if short.Threshold != 3 || short.Valid != 2 {
					t.Fatalf("shortfall %+v", short)
				}
			}
			if fmt.Sprint(bad) != fmt.Sprint(tc.wantBad) {
				t.Fatalf("bad participants %v, want %v", bad, tc.wantBad)
			}
		})
	}
}

func TestRecoverOptimisticPathChecksNoPartial(t *testing.T) {
	d := deal(t, 3, 5)
	root := [32]byte{1}
	ps := partials(d, root)
	// A garbage partial beyond the first t is never needed, so it is
	// neither used nor reported.
	ps[4].Signature = garbage(t)
	res, err := tss.Recover(root, d.Account.Composite, 3, ps)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Used) != "[1 2 3]" || len(res.Bad) != 0 {
		t.Fatalf("used %v bad %v", res.Used, res.Bad)
	}
}

func TestRecoverBatch(t *testing.T) {
	const items = 40
	accts := make([]*tss.Dealing, 4)
	for i := range accts {
		accts[i] = deal(t, 3, 5)
	}
	build := func() []tss.Request {
		reqs := make([]tss.Request, items)
		for i := range reqs {
			d := accts[i%len(accts)]
			root := [32]byte{byte(i / 8)} // several requests share a root, like a committee
			reqs[i] = tss.Request{Root: root, Composite: d.Account.Composite, Threshold: 3, Partials: partials(d, root)}
		}
		return reqs
	}
	check := func(t *testing.T, reqs []tss.Request, out []tss.Outcome, wantErr map[int]error, wantBad map[int]string) {
		t.Helper()
		if len(out) != len(reqs) {
			t.Fatalf("%d outcomes for %d requests", len(out), len(reqs))
		}
		for i, o := range out {
			if !errors.Is(o.Err, wantErr[i]) {
				t.Fatalf("request %d: %v, want %v", i, o.Err, wantErr[i])
			}
			if o.Err != nil {
				if o.Result != nil {
					t.Fatalf("request %d: error with a result", i)
				}
				continue
			}
			if !reqs[i].Composite.Verify(reqs[i].Root, o.Result.Signature) {
				t.Fatalf("request %d: signature does not verify", i)
			}
			if got := fmt.Sprint(o.Result.Bad); got != wantBad[i] && !(wantBad[i] == "" && got == "[]") {
				t.Fatalf("request %d: bad %s, want %s", i, got, wantBad[i])
			}
		}
	}
	t.Run("recovers every request when all partials are valid", func(t *testing.T) {
		reqs := build()
		check(t, reqs, tss.RecoverBatch(reqs), nil, nil)
	})
	t.Run("one participant returning garbage for every request is excluded everywhere", func(t *testing.T) {
		reqs := build()
		wantBad := map[int]string{}
		for i := range reqs {
			reqs[i].Partials[1].Signature = garbage(t)
			wantBad[i] = "[2]"
		}
		check(t, reqs, tss.RecoverBatch(reqs), nil, wantBad)
	})
	t.Run("a few bad requests do not affect the others", func(t *testing.T) {
		reqs := build()
		wantErr := map[int]error{}
		wantBad := map[int]string{}
		reqs[3].Partials[0].Signature = garbage(t)
		wantBad[3] = "[1]"
		for _, k := range []int{0, 2, 4} {
			reqs[17].Partials[k].Signature = garbage(t)
		}
		wantErr[17] = tss.ErrNotEnoughShares
		reqs[21].Threshold = 0
		wantErr[21] = tss.ErrThreshold
		reqs[30].Partials[1] = partials(accts[(30+1)%len(accts)], reqs[30].Root)[1]
		wantErr[30] = tss.ErrInconsistentKeys
		check(t, reqs, tss.RecoverBatch(reqs), wantErr, wantBad)
	})
	t.Run("an empty batch has no outcomes", func(t *testing.T) {
		if out := tss.RecoverBatch(nil); len(out) != 0 {
			t.Fatalf("%d outcomes", len(out))
		}
	})
}
