package vc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Signer is the threshold cluster as the client uses it. A
// *coordinator.Coordinator is one; tests may pass an in-process one.
type Signer interface {
	// Refresh discovers the cluster's accounts.
	Refresh(ctx context.Context) error
	// PublicKeys lists the discovered accounts' composite keys.
	PublicKeys() []api.PublicKey
	// Sign returns the verified signature of one request (its JSON)
	// whose signing root is root.
	Sign(ctx context.Context, identifier api.PublicKey, root [32]byte, request []byte) (*bls.Signature, error)
	// SignBatch signs one request for many keys, one batch call per
	// signer; results are in the order of identifiers.
	SignBatch(ctx context.Context, identifiers []api.PublicKey, root [32]byte, request []byte) []coordinator.Result
}

// Duty names, the "duty" label of metrics and the word in logs.
const (
	dutyAttestation    = "attestation"
	dutyAggregateProof = "aggregation_selection"
	dutyAggregate      = "aggregate"
	dutyRandao         = "randao_reveal"
	dutyBlock          = "block"
	dutySyncMessage    = "sync_message"
	dutySyncSelection  = "sync_selection"
	dutyContribution   = "sync_contribution"
	dutyRegistration   = "validator_registration"
	dutyExit           = "voluntary_exit"
)

// forkInfo is the fork_info of a message of the given epoch on n: the fork
// in effect then, as the signers check it.
func forkInfo(n *network.Network, epoch phase0.Epoch) *signing.ForkInfo {
	f := n.ForkAtEpoch(epoch)
	return &signing.ForkInfo{
		Fork:                  phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch},
		GenesisValidatorsRoot: n.GenesisValidatorsRoot(),
	}
}

// prepare checks a request as a signer will (package signing: shape,
// network, fork), computes its signing root, stamps it into the request so
// that a signer computing another root refuses, and encodes it (JSON
// checked by strict decoding). An error here is a bug in the request's construction.
func prepare(n *network.Network, req *signing.Request) (phase0.Root, []byte, error) {
	s, err := req.Verify(n)
	if err != nil {
		return phase0.Root{}, nil, fmt.Errorf("building the %s request: %w", req.Type, err)
	}
	root := s.SigningRoot
	req.ProvidedRoot = &root
	body, err := json.Marshal(req)
	if err != nil {
		return phase0.Root{}, nil, fmt.Errorf("encoding the %s request: %w", req.Type, err)
	}
	return root, body, nil
}

// signOne obtains the signature of one request for one validator.
func (c *Client) signOne(ctx context.Context, duty string, slot phase0.Slot, key phase0.BLSPubKey, req *signing.Request) (phase0.BLSSignature, error) {
	root, body, err := prepare(c.net, req)
	if err != nil {
		c.outcomes(duty, slot, []phase0.BLSPubKey{key}, []error{err})
		return phase0.BLSSignature{}, err
	}
	sig, err := c.signer.Sign(ctx, api.PublicKey(key), root, body)
	c.outcomes(duty, slot, []phase0.BLSPubKey{key}, []error{err})
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return phase0.BLSSignature(sig.Bytes()), nil
}

// signBatch obtains the signatures of one batchable request for many
// validators with one batch call per signer. sigs[i] is valid when
// errs[i] is nil.
func (c *Client) signBatch(ctx context.Context, duty string, slot phase0.Slot, keys []phase0.BLSPubKey, req *signing.Request) ([]phase0.BLSSignature, []error) {
	sigs, errs := c.askBatch(ctx, keys, req)
	c.outcomes(duty, slot, keys, errs)
	return sigs, errs
}

// askBatch is signBatch without counting or logging the outcomes.
func (c *Client) askBatch(ctx context.Context, keys []phase0.BLSPubKey, req *signing.Request) ([]phase0.BLSSignature, []error) {
	sigs := make([]phase0.BLSSignature, len(keys))
	errs := make([]error, len(keys))
	if len(keys) == 0 {
		return sigs, errs
	}
	root, body, err := prepare(c.net, req)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return sigs, errs
	}
	ids := make([]api.PublicKey, len(keys))
	for i, k := range keys {
		ids[i] = api.PublicKey(k)
	}
	for i, r := range c.signer.SignBatch(ctx, ids, root, body) {
		if r.Err != nil {
			errs[i] = r.Err
			continue
		}
		sigs[i] = phase0.BLSSignature(r.Signature.Bytes())
	}
	return sigs, errs
}

// refused reports whether err is a refusal by the signers' slashing
// protection (412): final, never retried.
func refused(err error) bool {
	var short *coordinator.ShortfallError
	return errors.As(err, &short) && short.Code() == 412
}

// refusals remembers which validators are currently refused for which
// duty, so that a refusal is logged when it starts and when it ends, not
// at every slot in between.
type refusals struct {
	mu  sync.Mutex
	set map[refusalKey]bool
}

type refusalKey struct {
	duty string
	key  phase0.BLSPubKey
}

func newRefusals() *refusals { return &refusals{set: map[refusalKey]bool{}} }

// outcomes counts the results of one signing call and logs, in one line
// each: validators newly refused by slashing protection, other failures,
// and validators whose refusal ended.
func (c *Client) outcomes(duty string, slot phase0.Slot, keys []phase0.BLSPubKey, errs []error) {
	var newlyRefused, resumed []phase0.BLSPubKey
	var refusedErr, failedErr error
	failed := 0
	c.refusals.mu.Lock()
	for i, err := range errs {
		k := refusalKey{duty, keys[i]}
		switch {
		case errors.Is(err, context.Canceled):
			// Shutting down: neither a failure nor worth a line each.
		case err == nil:
			c.m.signature(duty, "ok")
			if c.refusals.set[k] {
				delete(c.refusals.set, k)
				resumed = append(resumed, keys[i])
			}
		case refused(err):
			c.m.signature(duty, "refused")
			if !c.refusals.set[k] {
				c.refusals.set[k] = true
				newlyRefused = append(newlyRefused, keys[i])
				refusedErr = err
			}
		default:
			c.m.signature(duty, "failed")
			failed++
			failedErr = err
		}
	}
	c.refusals.mu.Unlock()
	if len(newlyRefused) > 0 {
		c.log.Warn("signers refused by slashing protection; not retried, and not logged again for these validators until they sign again",
			"duty", duty, "slot", uint64(slot), "validators", len(newlyRefused), "first", newlyRefused[0].String(), "err", refusedErr)
	}
	if len(resumed) > 0 {
		c.log.Info("signing resumed after slashing-protection refusals", "duty", duty, "slot", uint64(slot), "validators", len(resumed))
	}
	if failed > 0 {
		c.log.Warn("signature not obtained", "duty", duty, "slot", uint64(slot), "validators", failed, "of", len(keys), "err", failedErr)
	}
}

// logFailure logs a duty step that failed for a reason other than a
// signature (a beacon call, a check).
func (c *Client) logFailure(duty string, slot phase0.Slot, step string, err error, attrs ...any) {
	if errors.Is(err, context.Canceled) {
		return
	}
	c.log.Warn(duty+" failed", append([]any{"slot", uint64(slot), "step", step, "err", err}, attrs...)...)
}

// forEach runs f for every index from 0 to n-1 on up to limit goroutines
// and waits. Individual signing requests (aggregates, contributions,
// registrations) go through it so that a burst neither serialises nor
// floods the signers.
func forEach(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// keysOf lists the validator keys of duties, for a batch request.
func keysOf[D any](duties []D, key func(D) phase0.BLSPubKey) []phase0.BLSPubKey {
	out := make([]phase0.BLSPubKey, len(duties))
	for i, d := range duties {
		out[i] = key(d)
	}
	return out
}

func attesterKey(d *apiv1.AttesterDuty) phase0.BLSPubKey        { return d.PubKey }
func syncMemberKey(d *apiv1.SyncCommitteeDuty) phase0.BLSPubKey { return d.PubKey }

// concurrentSigns bounds the individual signing requests in flight.
const concurrentSigns = 16
