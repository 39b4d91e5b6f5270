package vc

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// TestAdoptionChecksWhatTheSignersNamed: data named by refusals is
// adopted only for the same duty (slot, index, target epoch), when it
// hashes to the root named, and when enough signers named it that one of
// them is honest (t); the data named by most refusals wins.
func TestAdoptionChecksWhatTheSignersNamed(t *testing.T) {
	c := &Client{net: network.Mainnet(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	own := &phase0.AttestationData{Slot: 320, Index: 0, BeaconBlockRoot: phase0.Root{1},
		Source: &phase0.Checkpoint{Epoch: 9, Root: phase0.Root{9}}, Target: &phase0.Checkpoint{Epoch: 10, Root: phase0.Root{1}}}
	other := func(mut func(*phase0.AttestationData)) *phase0.AttestationData {
		d := *own
		src, tgt := *own.Source, *own.Target
		d.Source, d.Target = &src, &tgt
		d.BeaconBlockRoot = phase0.Root{2}
		d.Target.Root = phase0.Root{2}
		if mut != nil {
			mut(&d)
		}
		return &d
	}
	rootOf := func(d *phase0.AttestationData) phase0.Root {
		req := &signing.Request{Type: signing.TypeAttestation, ForkInfo: forkInfo(c.net, d.Target.Epoch), Attestation: d}
		r, _, err := prepare(c.net, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	named := func(d *phase0.AttestationData, root phase0.Root) *api.Conflict {
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return &api.Conflict{SigningRoot: api.Root(root), AttestationData: raw}
	}
	// refusal is a 412 shortfall of a t-of-n account in which the listed
	// participants named conflicts (nil: a refusal naming nothing).
	refusal := func(threshold, members int, conflicts ...*api.Conflict) error {
		e := &coordinator.ShortfallError{Threshold: threshold, Members: members}
		for i, cf := range conflicts {
			e.Failures = append(e.Failures, coordinator.ParticipantFailure{ID: tss.ID(i + 1), Err: &coordinator.StatusError{Code: 412, Message: "double vote", Conflict: cf}})
		}
		return e
	}
	// byT is a refusal of a 3-of-5 account in which t = 3 participants
	// named cf.
	byT := func(cf *api.Conflict) error { return refusal(3, 5, cf, cf, cf, nil) }
	good := other(nil)
	goodRoot := rootOf(good)
	better := other(func(d *phase0.AttestationData) { d.BeaconBlockRoot = phase0.Root{3} })
	for _, tc := range []struct {
		name    string
		errs    []error
		want    *phase0.AttestationData
		wantAt  []int
		wantErr string
	}{
		{name: "data the signers signed", errs: []error{byT(named(good, goodRoot)), nil}, want: good, wantAt: []int{0}},
		{name: "another slot", errs: []error{byT(named(other(func(d *phase0.AttestationData) { d.Slot++ }), goodRoot))}, wantErr: "disagree on the duties"},
		{name: "another target epoch", errs: []error{byT(named(other(func(d *phase0.AttestationData) { d.Target.Epoch++ }), goodRoot))}, wantErr: "target 11"},
		{name: "another committee", errs: []error{byT(named(other(func(d *phase0.AttestationData) { d.Index = 3 }), goodRoot))}, wantErr: "index 3"},
		{name: "data that is not the root named", errs: []error{byT(named(good, phase0.Root{0xee}))}, wantErr: "not the"},
		// A compromised minority (up to t-1) naming data of its choice:
		// 2t-n = 3 of a 5-of-7 would be enough for it, t is not.
		{name: "named by fewer signers than t", errs: []error{refusal(5, 7, named(good, goodRoot), named(good, goodRoot), named(good, goodRoot), named(good, goodRoot), nil)}},
		{name: "named by t signers", errs: []error{refusal(5, 7, named(good, goodRoot), named(good, goodRoot), named(good, goodRoot), named(good, goodRoot), named(good, goodRoot))}, want: good, wantAt: []int{0}},
		{name: "a failure that is no refusal", errs: []error{errors.New("timed out")}},
		{
			name: "the data named for most validators",
			errs: []error{byT(named(better, rootOf(better))), byT(named(good, goodRoot)), byT(named(better, rootOf(better)))},
			want: better, wantAt: []int{0, 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := c.adoptable(own, tc.errs)
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
			switch {
			case tc.want == nil && a != nil:
				t.Fatalf("adopted %v", a.data)
			case tc.want == nil:
			case a == nil:
				t.Fatalf("nothing adopted (%v)", err)
			case a.data.String() != tc.want.String() || a.root != rootOf(tc.want):
				t.Errorf("adopted %v, want %v", a.data, tc.want)
			case len(a.at) != len(tc.wantAt) || a.at[0] != tc.wantAt[0]:
				t.Errorf("for validators %v, want %v", a.at, tc.wantAt)
			}
		})
	}
}
