package dkg_test

import (
	"fmt"
	"testing"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
	"github.com/rampart-signer/rampart/tss/internal/subsets"
)

// checkConsistent verifies that the given results describe the same
// validators, that each participant's share matches its component key, and
// that every t-subset of shares signs for the composite key while no
// (t-1)-subset does.
func checkConsistent(t *testing.T, cfg dkg.Config, results map[tss.ID]*dkg.Result) {
	t.Helper()
	var ref *dkg.Result
	for _, r := range results {
		if ref == nil {
			ref = r
		}
		if r.Transcript != ref.Transcript || fmt.Sprint(r.Qualified) != fmt.Sprint(ref.Qualified) {
			t.Fatalf("participants finished with different transcripts or qualified sets")
		}
		if len(r.Validators) != cfg.Validators {
			t.Fatalf("%d validators, want %d", len(r.Validators), cfg.Validators)
		}
	}
	for v := range cfg.Validators {
		acct := ref.Validators[v].Account
		if err := acct.Validate(); err != nil {
			t.Fatalf("validator %d: account does not validate: %v", v, err)
		}
		var shares []*tss.Share
		for _, id := range cfg.Participants {
			r, ok := results[id]
			if !ok {
				continue
			}
			got := r.Validators[v]
			if !got.Account.Composite.Equal(acct.Composite) {
				t.Fatalf("validator %d: participant %s has another composite key", v, id)
			}
			pk, _ := acct.PublicKey(id)
			if got.Share.ID() != id || !got.Share.PublicKey().Equal(pk) {
				t.Fatalf("validator %d: share of participant %s does not match its component key", v, id)
			}
			shares = append(shares, got.Share)
		}
		root := [32]byte{byte(v), 0x5a}
		ps := make([]tss.Partial, len(shares))
		for i, s := range shares {
			ps[i] = tss.Partial{ID: s.ID(), PublicKey: s.PublicKey(), Signature: s.Sign(root)}
		}
		for _, sub := range subsets.Of(len(ps), cfg.Threshold) {
			res, err := tss.Recover(root, acct.Composite, cfg.Threshold, pickPartials(ps, sub))
			if err != nil || !acct.Composite.Verify(root, res.Signature) {
				t.Fatalf("validator %d: subset %v does not sign: %v", v, sub, err)
			}
		}
		for _, sub := range subsets.Of(len(ps), cfg.Threshold-1) {
			if len(sub) == 0 {
				continue
			}
			if _, err := tss.Recover(root, acct.Composite, cfg.Threshold-1, pickPartials(ps, sub)); err == nil {
				t.Fatalf("validator %d: subset %v of size t-1 signed", v, sub)
			}
		}
	}
}

func pickPartials(ps []tss.Partial, idx []int) []tss.Partial {
	out := make([]tss.Partial, len(idx))
	for i, k := range idx {
		out[i] = ps[k]
	}
	return out
}

func TestCeremonyCreatesConsistentKeys(t *testing.T) {
	for _, tc := range []struct{ t, n, validators int }{{1, 1, 2}, {2, 3, 3}, {3, 5, 4}, {4, 7, 2}} {
		t.Run(fmt.Sprintf("%d of %d, %d validators", tc.t, tc.n, tc.validators), func(t *testing.T) {
			cfg := config(t, tc.t, tc.n, tc.validators)
			c := newCluster(t, cfg)
			c.run()
			c.unexpectedErrors()
			results := c.results(cfg.Participants...)
			checkConsistent(t, cfg, results)
			for _, r := range results {
				if len(r.Disqualified) != 0 || len(r.Qualified) != tc.n {
					t.Fatalf("honest ceremony disqualified %v", r.Disqualified)
				}
			}
		})
	}
}

// TestCeremonySurvivesRestartAtEveryStep resumes every participant from its
// snapshot after every message it handles: the outcome is the same as
// without restarts.
func TestCeremonySurvivesRestartAtEveryStep(t *testing.T) {
	cfg := config(t, 3, 5, 3)
	c := newCluster(t, cfg)
	c.resume = true
	c.run()
	c.unexpectedErrors()
	checkConsistent(t, cfg, c.results(cfg.Participants...))
}
