package chaos

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// beaconAPI is what the collector needs of a beacon node.
type beaconAPI interface {
	Get(ctx context.Context, path string, out any) error
	Post(ctx context.Context, path, body string, out any) error
}

// CollectChain reads the facts of epochs [first, last] from a beacon
// node: blocks, committees, attestation rewards, the sync committee and
// slashed validators. Rewards of the last epochs may be missing if the
// chain has not moved two epochs past them.
//
// A read that fails in transit is tried again (patientReader).
func CollectChain(ctx context.Context, node beaconAPI, spe uint64, first, last uint64, cluster map[uint64]bool) (*ChainFacts, error) {
	b := patientReader{b: node, attempts: 4}
	f := &ChainFacts{SlotsPerEpoch: spe, Cluster: cluster, Proposers: map[uint64]uint64{}, Blocks: map[uint64]BlockFact{}, Attesters: map[uint64][]AttesterDuty{}, Rewards: map[uint64]map[uint64]AttestationReward{}}
	var sc struct {
		Validators []string `json:"validators"`
	}
	if err := b.Get(ctx, "/eth/v1/beacon/states/head/sync_committees", &sc); err != nil {
		return nil, fmt.Errorf("sync committee: %w", err)
	}
	for _, v := range sc.Validators {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sync committee: %q", v)
		}
		f.SyncCommittee = append(f.SyncCommittee, n)
	}
	// One slot past the last epoch: its block carries the last slot's sync
	// messages.
	for slot := first * spe; slot <= (last+1)*spe; slot++ {
		var blk struct {
			Message struct {
				Slot          string `json:"slot"`
				ProposerIndex string `json:"proposer_index"`
				Body          struct {
					Graffiti      string `json:"graffiti"`
					SyncAggregate struct {
						Bits string `json:"sync_committee_bits"`
					} `json:"sync_aggregate"`
					ProposerSlashings []json.RawMessage `json:"proposer_slashings"`
					AttesterSlashings []json.RawMessage `json:"attester_slashings"`
				} `json:"body"`
			} `json:"message"`
		}
		err := b.Get(ctx, fmt.Sprintf("/eth/v2/beacon/blocks/%d", slot), &blk)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("block at slot %d: %w", slot, err)
		}
		got, _ := strconv.ParseUint(blk.Message.Slot, 10, 64)
		if got != slot {
			continue // a node may answer with the block before an empty slot
		}
		proposer, _ := strconv.ParseUint(blk.Message.ProposerIndex, 10, 64)
		bits, err := hex.DecodeString(strings.TrimPrefix(blk.Message.Body.SyncAggregate.Bits, "0x"))
		if err != nil {
			return nil, fmt.Errorf("block at slot %d: sync bits: %w", slot, err)
		}
		if _, ok := f.Proposers[slot]; !ok {
			f.Proposers[slot] = proposer
		}
		f.Blocks[slot] = BlockFact{Slot: slot, Proposer: proposer, Graffiti: decodeGraffiti(blk.Message.Body.Graffiti), SyncBits: bits,
			Slashings: len(blk.Message.Body.ProposerSlashings) + len(blk.Message.Body.AttesterSlashings)}
	}
	for e := first; e <= last; e++ {
		var duties []struct {
			Index string `json:"validator_index"`
			Slot  string `json:"slot"`
		}
		if err := b.Get(ctx, fmt.Sprintf("/eth/v1/validator/duties/proposer/%d", e), &duties); err == nil {
			for _, d := range duties {
				slot, _ := strconv.ParseUint(d.Slot, 10, 64)
				v, _ := strconv.ParseUint(d.Index, 10, 64)
				f.Proposers[slot] = v
			}
		}
		var committees []struct {
			Slot       string   `json:"slot"`
			Validators []string `json:"validators"`
		}
		if err := b.Get(ctx, fmt.Sprintf("/eth/v1/beacon/states/%d/committees?epoch=%d", e*spe, e), &committees); err != nil {
			return nil, fmt.Errorf("committees of epoch %d: %w", e, err)
		}
		for _, c := range committees {
			slot, _ := strconv.ParseUint(c.Slot, 10, 64)
			for _, v := range c.Validators {
				n, _ := strconv.ParseUint(v, 10, 64)
				f.Attesters[e] = append(f.Attesters[e], AttesterDuty{Validator: n, Slot: slot})
			}
		}
		var rw struct {
			Total []struct {
				Index  string `json:"validator_index"`
				Head   string `json:"head"`
				Source string `json:"source"`
				Target string `json:"target"`
			} `json:"total_rewards"`
		}
		if err := b.Post(ctx, fmt.Sprintf("/eth/v1/beacon/rewards/attestations/%d", e), "[]", &rw); err != nil {
			continue // not served yet: those duties count as unknown
		}
		m := map[uint64]AttestationReward{}
		for _, r := range rw.Total {
			n, _ := strconv.ParseUint(r.Index, 10, 64)
			var ar AttestationReward
			ar.Head, _ = strconv.ParseInt(r.Head, 10, 64)
			ar.Source, _ = strconv.ParseInt(r.Source, 10, 64)
			ar.Target, _ = strconv.ParseInt(r.Target, 10, 64)
			m[n] = ar
		}
		f.Rewards[e] = m
	}
	var vals []struct {
		Index     string `json:"index"`
		Validator struct {
			Slashed bool `json:"slashed"`
		} `json:"validator"`
	}
	if err := b.Get(ctx, "/eth/v1/beacon/states/head/validators", &vals); err != nil {
		return nil, fmt.Errorf("validators: %w", err)
	}
	for _, v := range vals {
		if v.Validator.Slashed {
			n, _ := strconv.ParseUint(v.Index, 10, 64)
			f.Slashed = append(f.Slashed, n)
		}
	}
	var fc struct {
		Justified struct {
			Epoch string `json:"epoch"`
		} `json:"current_justified"`
		Finalized struct {
			Epoch string `json:"epoch"`
		} `json:"finalized"`
	}
	if err := b.Get(ctx, "/eth/v1/beacon/states/head/finality_checkpoints", &fc); err == nil {
		f.Justified, _ = strconv.ParseUint(fc.Justified.Epoch, 10, 64)
		f.Finalized, _ = strconv.ParseUint(fc.Finalized.Epoch, 10, 64)
	}
	n, err := poolSlashings(ctx, b)
	if err != nil {
		return nil, err
	}
	f.PoolSlashings = n
	return f, nil
}

// poolSlashings counts the slashings in a node's pools.
func poolSlashings(ctx context.Context, b beaconAPI) (int, error) {
	var att, prop []json.RawMessage
	if err := b.Get(ctx, "/eth/v2/beacon/pool/attester_slashings", &att); err != nil {
		if err := b.Get(ctx, "/eth/v1/beacon/pool/attester_slashings", &att); err != nil {
			return 0, fmt.Errorf("attester slashings pool: %w", err)
		}
	}
	if err := b.Get(ctx, "/eth/v1/beacon/pool/proposer_slashings", &prop); err != nil {
		return 0, fmt.Errorf("proposer slashings pool: %w", err)
	}
	return len(att) + len(prop), nil
}

// decodeGraffiti turns a block's hex graffiti into text up to its first
// zero byte.
func decodeGraffiti(hexed string) string {
	b, err := hex.DecodeString(strings.TrimPrefix(hexed, "0x"))
	if err != nil {
		return ""
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// patientReader retries a beacon node's reads that failed in transit (a
// timeout, a reset, a 5xx answer) up to attempts times: after a run, on a
// busy machine, a node with a one-core quota can take longer than a
// client's timeout to serve one block, and one slow answer must not cost
// the whole run its verdicts. An answer the node meant (404 for an empty
// slot, 400) is returned at once.
type patientReader struct {
	b        beaconAPI
	attempts int
}

func (p patientReader) retry(ctx context.Context, call func() error) error {
	var err error
	for i := 0; i < max(p.attempts, 1); i++ {
		if err = call(); err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", max(p.attempts, 1), err)
}

func (p patientReader) Get(ctx context.Context, path string, out any) error {
	return p.retry(ctx, func() error { return p.b.Get(ctx, path, out) })
}

func (p patientReader) Post(ctx context.Context, path, body string, out any) error {
	return p.retry(ctx, func() error { return p.b.Post(ctx, path, body, out) })
}

// transient reports whether a read failed in transit rather than being
// answered: no HTTP answer at all, or a 5xx one.
func transient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Code >= 500
	}
	return true
}
