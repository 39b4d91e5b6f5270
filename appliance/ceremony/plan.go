package ceremony

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Limits of one ceremony.
const (
	// maxCeremonyDuration bounds how far ahead a ceremony's deadline may be.
	maxCeremonyDuration = 7 * 24 * time.Hour
	// activationGrace is how long after the deadline a participant keeps
	// activated but unfinalised accounts before it removes them: the
	// coordinator starts activating only before the deadline, and finishes
	// well within this.
	activationGrace = 10 * time.Minute
	// batchWindow is how many batches a participant runs at once: while one
	// waits for the slowest peer, the next one computes.
	batchWindow = 2
)

// plan is what every participant of a ceremony agrees on. The
// ceremony id is its hash, and each batch's dkg configuration is derived
// from the id, so a participant given a different plan is in a different
// ceremony and its messages are refused.
type plan struct {
	Nonce                 api.Root     `json:"nonce"`
	ClusterID             api.Root     `json:"cluster_id"`
	Coordinator           api.Uint64   `json:"coordinator"`
	Participants          []api.Uint64 `json:"participants"`
	Threshold             api.Uint64   `json:"threshold"`
	Validators            api.Uint64   `json:"validators"`
	BatchSize             api.Uint64   `json:"batch_size"`
	WithdrawalCredentials api.Root     `json:"withdrawal_credentials"`
	AmountGwei            api.Uint64   `json:"amount_gwei"`
	GenesisForkVersion    api.Uint64   `json:"genesis_fork_version"`
	GenesisValidatorsRoot api.Root     `json:"genesis_validators_root"`
	NetworkName           string       `json:"network_name"`
	// Deadline (Unix seconds): a participant that has not activated its
	// accounts by then gives the ceremony up.
	Deadline api.Uint64 `json:"deadline"`
}

// Domain-separation tags of the ceremony's hashes and sealed snapshots.
const (
	tagPlan        = "rampart/ceremony/plan/v1"
	tagBatchNonce  = "rampart/ceremony/batch-nonce/v1"
	tagTranscripts = "rampart/ceremony/transcripts/v1"
	tagSnapshot    = "rampart/ceremony/dkg-snapshot/v1"
)

// ID is the hash of the plan's canonical encoding.
func (p *plan) ID() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagPlan))
	b := append([]byte(nil), p.Nonce[:]...)
	b = append(b, p.ClusterID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Coordinator))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Participants)))
	for _, id := range p.Participants {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	for _, v := range []api.Uint64{p.Threshold, p.Validators, p.BatchSize, p.AmountGwei, p.GenesisForkVersion, p.Deadline} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = append(b, p.WithdrawalCredentials[:]...)
	b = append(b, p.GenesisValidatorsRoot[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.NetworkName)))
	b = append(b, p.NetworkName...)
	h.Write(b)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// ids returns the participants as tss ids.
func (p *plan) ids() []tss.ID {
	out := make([]tss.ID, len(p.Participants))
	for i, id := range p.Participants {
		out[i] = tss.ID(id)
	}
	return out
}

// batches is the number of batches.
func (p *plan) batches() int {
	return int((p.Validators + p.BatchSize - 1) / p.BatchSize)
}

// batchRange returns the validator indexes [lo, hi) of batch i.
func (p *plan) batchRange(i int) (lo, hi int) {
	lo = i * int(p.BatchSize)
	return lo, min(lo+int(p.BatchSize), int(p.Validators))
}

// batchConfig derives batch i's dkg configuration from the ceremony id:
// every participant computes the same one, and no two batches (of this or
// any ceremony) share a dkg ceremony id.
func (p *plan) batchConfig(id [32]byte, i int) dkg.Config {
	lo, hi := p.batchRange(i)
	ctx := binary.BigEndian.AppendUint32(append([]byte(nil), id[:]...), uint32(i))
	return dkg.Config{
		Nonce:        sha256.Sum256(append([]byte(tagBatchNonce), ctx...)),
		Participants: p.ids(),
		Threshold:    int(p.Threshold),
		Validators:   hi - lo,
		Context:      ctx,
	}
}

// deposit returns the deposit parameters of the plan.
func (p *plan) deposit() deposit.Params {
	var fork [4]byte
	binary.BigEndian.PutUint32(fork[:], uint32(p.GenesisForkVersion))
	return deposit.Params{WithdrawalCredentials: p.WithdrawalCredentials, AmountGwei: uint64(p.AmountGwei), GenesisForkVersion: fork, NetworkName: p.NetworkName}
}

func (p *plan) deadline() time.Time { return time.Unix(int64(p.Deadline), 0) }

// maxMessageBytes bounds the largest dkg message of a batch of v
// validators among n participants at threshold t: commitments, or a
// justification answering every possible complaint.
func maxMessageBytes(n, t, v int) int {
	const header = 54
	commitments := v * (t*48 + 96)
	justification := 2 + (n-1)*(12+36*v)
	echo := 32*n + 2 + (n-1)*(12+4*v)
	return header + max(commitments, justification, echo, 32*v, 128)
}

// maxBatchSize is the largest batch whose every message, base64-encoded in
// its JSON request, fits the participant listener's body limit.
func maxBatchSize(n, t int) int {
	perValidator := max(t*48+96, (n-1)*36, (n-1)*4, 32)
	v := min((web.MaxBody*3/4-4096)/perValidator, dkg.MaxValidators)
	for v > 1 && requestBytes(maxMessageBytes(n, t, v)) > web.MaxBody {
		v--
	}
	return max(1, v)
}

// requestBytes is the size of the JSON request carrying a message of n
// bytes (base64 and the field name).
func requestBytes(n int) int { return 4*((n+2)/3) + 64 }

// defaultBatchSize splits a ceremony into about ten batches, so that
// progress shows and a batch's messages stay small, but not into batches
// so small that round trips dominate.
func defaultBatchSize(validators, n, t int) int {
	size := max((validators+9)/10, 16)
	return max(1, min(size, validators, maxBatchSize(n, t)))
}

// validate checks a plan against this signer: its cluster, network and
// participants, and the ceremony's own limits. It names the first wrong
// field.
func (p *plan) validate(cfg *Config, now time.Time) error {
	ids := p.ids()
	n := cfg.Network
	fork := n.GenesisForkVersion()
	mine := slices.Clone(cfg.Participants)
	slices.Sort(mine)
	switch {
	case p.Nonce == api.Root{}:
		return errors.New("nonce: zero")
	case p.ClusterID != api.Root(cfg.ClusterID):
		return fmt.Errorf("cluster_id: %s is not this signer's cluster (%s)", p.ClusterID, api.Root(cfg.ClusterID))
	case !slices.Equal(ids, mine):
		return fmt.Errorf("participants: %v are not this cluster's participants %v", ids, mine)
	case !slices.Contains(ids, tss.ID(p.Coordinator)):
		return fmt.Errorf("coordinator: %d is not a participant", p.Coordinator)
	case p.GenesisValidatorsRoot != api.Root(n.GenesisValidatorsRoot()):
		return fmt.Errorf("genesis_validators_root: %s is not this signer's network's", p.GenesisValidatorsRoot)
	case p.GenesisForkVersion > 1<<32-1 || uint32(p.GenesisForkVersion) != binary.BigEndian.Uint32(fork[:]):
		return fmt.Errorf("genesis_fork_version: %#08x is not this signer's network's", uint64(p.GenesisForkVersion))
	case p.NetworkName != n.Name():
		return fmt.Errorf("network_name: %q, this signer's network is %q", p.NetworkName, n.Name())
	}
	if err := tss.CheckThreshold(int(min(p.Threshold, 1<<16)), len(ids)); err != nil {
		return fmt.Errorf("threshold: %w", err)
	}
	if p.Validators < 1 || p.Validators > adminapi.MaxCeremonyValidators {
		return fmt.Errorf("validators: %d is not between 1 and %d", p.Validators, adminapi.MaxCeremonyValidators)
	}
	if mb := maxBatchSize(len(ids), int(p.Threshold)); p.BatchSize < 1 || p.BatchSize > api.Uint64(mb) {
		return fmt.Errorf("batch_size: %d is not between 1 and %d", p.BatchSize, mb)
	}
	if err := p.deposit().Validate(); err != nil {
		return err
	}
	if d := p.deadline(); !d.After(now) || d.Sub(now) > maxCeremonyDuration {
		return fmt.Errorf("deadline: %s is not in the next %s", d.UTC().Format(time.RFC3339), maxCeremonyDuration)
	}
	return nil
}
