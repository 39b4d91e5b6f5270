package ceremony

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// heldDirectory is a Directory that answers Configuration from a map.
type heldDirectory struct {
	Directory
	held map[api.PublicKey]Held
}

func (d heldDirectory) Configuration(keys []api.PublicKey) []Held {
	out := make([]Held, len(keys))
	for i, k := range keys {
		out[i] = d.held[k]
	}
	return out
}

func (heldDirectory) Keys() []api.PublicKey { return nil }

func (heldDirectory) PublicConfig(context.Context, []api.PublicKey, ConfigQuery) ([]tss.Account, error) {
	return nil, nil
}

// Attack: a resharing plan (a compromised coordinator's, or one built
// from a stale discovery) that misstates the accounts' current
// configuration is refused by every participant that holds them, before
// anything is dealt: its members, its threshold, its generation, and who
// holds the shares. The accounts are 3-of-5 on participants 1 to 5,
// generation 4.
func TestPlanMustStateTheAccountsOwnConfiguration(t *testing.T) {
	key := api.PublicKey{0xaa}
	current := Held{Holds: true, Threshold: 3, Members: []tss.ID{1, 2, 3, 4, 5}, Generation: 4}
	redistribution := func() *plan {
		return &plan{Kind: kindRedistribute, Participants: []api.Uint64{1, 2, 3, 4, 5, 6, 7}, Threshold: 3,
			OldMembers: []api.Uint64{1, 2, 3, 4, 5}, NewMembers: []api.Uint64{1, 2, 3, 4, 5, 6, 7}, NewThreshold: 5,
			Helpers: []api.Uint64{1, 2, 3, 4, 5}, Generation: 5, Accounts: []planAccount{{Key: key}}}
	}
	for _, tc := range []struct {
		name string
		self tss.ID
		held Held
		edit func(p *plan)
		want string // "" joins
	}{
		{"joins a plan stating the configuration", 2, current, nil, ""},
		{"joins as a new member that holds nothing", 6, Held{}, nil, ""},
		{"refuses old members the account does not have", 2, current, func(p *plan) {
			p.OldMembers, p.Helpers = []api.Uint64{1, 2, 3}, []api.Uint64{1, 2, 3}
		}, "the plan says 3-of-[1 2 3]"},
		{"refuses a plan making a member that holds the account a joining one", 4, current, func(p *plan) {
			p.OldMembers, p.Helpers = []api.Uint64{1, 2, 3}, []api.Uint64{1, 2, 3}
		}, "held here already"},
		{"refuses a raised old threshold", 2, current, func(p *plan) { p.Threshold = 4 }, "the plan says 4-of-"},
		{"refuses a generation that is not the next", 2, current, func(p *plan) { p.Generation = 1 << 63 }, "makes generation 5"},
		{"refuses a generation going back", 2, current, func(p *plan) { p.Generation = 4 }, "makes generation 5"},
		{"refuses to give a share to a member holding one", 6, Held{Holds: true, Threshold: 3, Members: []tss.ID{6}}, nil, "held here already"},
		{"refuses an old member that does not hold the account", 3, Held{}, nil, "is not held here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := redistribution()
			if tc.edit != nil {
				tc.edit(p)
			}
			s := &Service{env: &env{cfg: Config{Self: tc.self}, deps: Deps{Directory: heldDirectory{held: map[api.PublicKey]Held{key: tc.held}}}}}
			err := s.checkOwnConfiguration(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Attack: one administrator's credential (or a compromised coordinator)
// weakening the accounts by a redistribution: every signer refuses, by
// itself, a lower threshold (two compromised signers of a 5-of-7 would
// take a 2-of-3 with an accomplice), a lower safety tolerance, or a
// configuration where one destroyed share loses the key.
func TestRedistributionNeverWeakens(t *testing.T) {
	for _, tc := range []struct {
		tOld, nOld, t, n int
		ok               bool
	}{
		{3, 5, 5, 7, true},  // the example: safety 0 to 2, liveness 2 kept
		{3, 5, 3, 4, true},  // a signer removed for good: safety 1, liveness 1
		{5, 7, 5, 6, true},  // the same from 5-of-7
		{3, 5, 3, 5, true},  // a signer replaced under a new id
		{5, 7, 2, 3, false}, // two compromised signers and an accomplice recover the key
		{5, 7, 4, 6, false}, // fewer signers needed
		{3, 5, 2, 2, false}, // one share destroyed loses the key
		{3, 5, 3, 3, false}, // likewise, though the threshold is kept
		{4, 7, 4, 5, true},  // safety 0 to 2, liveness 3 to 1: still one may be lost
	} {
		err := noWeaker(tc.tOld, tc.nOld, tc.t, tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("%d-of-%d to %d-of-%d: %v", tc.tOld, tc.nOld, tc.t, tc.n, err)
		}
	}
}
