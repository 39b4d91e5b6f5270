package vc

import (
	"context"
	"sort"
	"sync"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
)

// validator is one of the cluster's validators known to the chain.
type validator struct {
	index  phase0.ValidatorIndex
	key    phase0.BLSPubKey
	status apiv1.ValidatorState
}

// validatorSet is what the client knows of its validators: the cluster
// accounts it serves and, for those the chain knows, their index and
// status. It is replaced whole at each refresh, so readers get consistent
// snapshots.
type validatorSet struct {
	mu      sync.RWMutex
	byIndex map[phase0.ValidatorIndex]*validator
}

func newValidatorSet() *validatorSet {
	return &validatorSet{byIndex: map[phase0.ValidatorIndex]*validator{}}
}

// accounts lists the cluster accounts this client serves: the discovered
// ones, narrowed to the configured list unless it is "all".
func (c *Client) accounts() []phase0.BLSPubKey {
	var want map[api.PublicKey]bool
	if !c.cfg.Accounts.All {
		want = map[api.PublicKey]bool{}
		for _, s := range c.cfg.Accounts.List {
			k, _ := api.ParsePublicKey(s) // validated with the configuration
			want[k] = true
		}
	}
	var out []phase0.BLSPubKey
	for _, k := range c.signer.PublicKeys() {
		if want == nil || want[k] {
			out = append(out, phase0.BLSPubKey(k))
		}
	}
	return out
}

// refreshValidators looks the accounts up on the chain (head state) and
// replaces the set. Validators that exited or were slashed stay known (for
// status) but get no duties: the chain assigns them none.
func (c *Client) refreshValidators(ctx context.Context) error {
	keys := c.accounts()
	set := newValidatorSet()
	if len(keys) > 0 {
		found, err := c.bn.Validators(ctx, "head", keys)
		if err != nil {
			return err
		}
		for k, v := range found {
			set.byIndex[v.Index] = &validator{index: v.Index, key: k, status: v.Status}
		}
	}
	c.validators.replace(set)
	c.m.setValidators(set.counts(len(keys)))
	return nil
}

func (s *validatorSet) replace(n *validatorSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byIndex = n.byIndex
}

// counts returns how many validators are in each state, "unknown" for
// accounts the chain does not know.
func (s *validatorSet) counts(accounts int) map[string]int {
	out := map[string]int{"unknown": accounts - len(s.byIndex)}
	for _, v := range s.byIndex {
		out[v.status.String()]++
	}
	return out
}

// indexed returns index to key for the validators the chain knows, the
// shape the beacon duty calls take.
func (s *validatorSet) indexed() map[phase0.ValidatorIndex]phase0.BLSPubKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[phase0.ValidatorIndex]phase0.BLSPubKey, len(s.byIndex))
	for i, v := range s.byIndex {
		if !v.status.HasExited() {
			out[i] = v.key
		}
	}
	return out
}

// indices returns the sorted indices of the validators the chain knows
// and that have not exited.
func (s *validatorSet) indices() []phase0.ValidatorIndex {
	m := s.indexed()
	out := make([]phase0.ValidatorIndex, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

func (s *validatorSet) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byIndex)
}
