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
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
	"github.com/rampart-signer/rampart/tss/reshare"
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
	// Kind is empty for key generation, kindRefresh for a refresh of
	// existing accounts (tss/reshare): same participants, same threshold,
	// new shares, same keys; kindRepair for a share repair: the other
	// participants give Repaired (a replaced server) its shares again,
	// no other share changes. Neither has a deposit.
	Kind string `json:"kind,omitempty"`
	// Repaired is the participant a repair gives its shares.
	Repaired api.Uint64 `json:"repaired,omitempty"`
	// Helpers lists, ascending, the participants that help a repair: at
	// least the threshold of them, Repaired not among them. Only they and
	// Repaired take part; the others may be down.
	Helpers []api.Uint64 `json:"helpers,omitempty"`
	// Accounts lists, for a refresh or a repair, every account with every
	// participant's current component key (in Participants order): the
	// public configuration the dealers' commitments are checked against.
	Accounts []planAccount `json:"accounts,omitempty"`
}

// Kinds of resharing plans.
const (
	kindRefresh = "refresh"
	kindRepair  = "repair"
)

// planAccount is one account of a refresh or repair plan.
type planAccount struct {
	Key        api.PublicKey   `json:"key"`
	Components []api.PublicKey `json:"components"`
}

// refresh reports whether the plan refreshes existing accounts.
func (p *plan) refresh() bool { return p.Kind == kindRefresh }

// repair reports whether the plan repairs a participant's shares.
func (p *plan) repair() bool { return p.Kind == kindRepair }

// reshares reports whether the plan works on existing accounts.
func (p *plan) reshares() bool { return p.Kind != "" }

// what names the ceremony in logs and reasons.
func (p *plan) what() string {
	switch {
	case p != nil && p.refresh():
		return "refresh ceremony"
	case p != nil && p.repair():
		return "share repair ceremony"
	}
	return "key generation ceremony"
}

// keys lists a refresh plan's account keys.
func (p *plan) keys() []api.PublicKey {
	out := make([]api.PublicKey, len(p.Accounts))
	for i, a := range p.Accounts {
		out[i] = a.Key
	}
	return out
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
	// Key generation plans hash as they always did: plans on disk keep
	// their ids.
	if p.Kind != "" {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Kind)))
		b = append(b, p.Kind...)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Repaired))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Helpers)))
		for _, id := range p.Helpers {
			b = binary.BigEndian.AppendUint64(b, uint64(id))
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Accounts)))
		for _, a := range p.Accounts {
			b = append(b, a.Key[:]...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(a.Components)))
			for _, c := range a.Components {
				b = append(b, c[:]...)
			}
		}
	}
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

// members returns the participants that take part, ascending: every
// participant, or a repair's helpers and repaired participant.
func (p *plan) members() []tss.ID {
	if !p.repair() {
		return p.ids()
	}
	out := make([]tss.ID, 0, len(p.Helpers)+1)
	for _, id := range p.Helpers {
		out = append(out, tss.ID(id))
	}
	out = append(out, tss.ID(p.Repaired))
	slices.Sort(out)
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

// reshareConfig derives batch i's resharing configuration of a refresh or
// repair plan from the ceremony id, as batchConfig does for key
// generation. A repair's helpers are every participant but the repaired.
func (p *plan) reshareConfig(id [32]byte, i int) (reshare.Config, error) {
	lo, hi := p.batchRange(i)
	ctx := binary.BigEndian.AppendUint32(append([]byte(nil), id[:]...), uint32(i))
	accounts, err := p.accounts(lo, hi)
	if err != nil {
		return reshare.Config{}, err
	}
	ids := p.ids()
	cfg := reshare.Config{
		Nonce:        sha256.Sum256(append([]byte(tagBatchNonce), ctx...)),
		Mode:         reshare.ModeRefresh,
		OldThreshold: int(p.Threshold),
		Dealers:      ids,
		NewMembers:   ids,
		NewThreshold: int(p.Threshold),
		Accounts:     accounts,
		Context:      ctx,
	}
	if p.repair() {
		cfg.Mode, cfg.NewMembers, cfg.Dealers = reshare.ModeRepair, []tss.ID{tss.ID(p.Repaired)}, nil
		for _, id := range p.Helpers {
			cfg.Dealers = append(cfg.Dealers, tss.ID(id))
		}
	}
	return cfg, nil
}

// accounts decodes the plan's accounts [lo, hi) and checks each
// (tss.Account.Validate: every component key on one polynomial of the
// threshold's degree through the account key).
func (p *plan) accounts(lo, hi int) ([]tss.Account, error) {
	ids := p.ids()
	out := make([]tss.Account, 0, hi-lo)
	for v := lo; v < hi; v++ {
		pa := p.Accounts[v]
		composite, err := bls.PublicKeyFromBytes(pa.Key[:])
		if err != nil {
			return nil, fmt.Errorf("accounts[%d].key: %w", v, err)
		}
		if len(pa.Components) != len(ids) {
			return nil, fmt.Errorf("accounts[%d].components: %d keys for %d participants", v, len(pa.Components), len(ids))
		}
		a := tss.Account{Composite: composite, Threshold: int(p.Threshold)}
		for k, raw := range pa.Components {
			pk, err := bls.PublicKeyFromBytes(raw[:])
			if err != nil {
				return nil, fmt.Errorf("accounts[%d].components[%d]: %w", v, k, err)
			}
			a.Components = append(a.Components, tss.Component{ID: ids[k], PublicKey: pk})
		}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("accounts[%d] (%s): %w", v, pa.Key, err)
		}
		out = append(out, a)
	}
	return out, nil
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
	v := min((web.MaxBody*3/4-4096)/perValidator, dkg.MaxValidators, reshare.MaxValidators)
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
	switch p.Kind {
	case "":
		if len(p.Accounts) != 0 {
			return errors.New("accounts: a key generation plan lists no accounts")
		}
		if err := p.deposit().Validate(); err != nil {
			return err
		}
	case kindRefresh, kindRepair:
		if err := p.validateRefresh(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("kind: %q is neither key generation (empty), %q nor %q", p.Kind, kindRefresh, kindRepair)
	}
	if d := p.deadline(); !d.After(now) || d.Sub(now) > maxCeremonyDuration {
		return fmt.Errorf("deadline: %s is not in the next %s", d.UTC().Format(time.RFC3339), maxCeremonyDuration)
	}
	return nil
}

// validateRefresh checks what a refresh or repair plan adds: its
// accounts, distinct and well formed, one per validator, no deposit, and a
// repair's repaired participant. Each account's
// component keys are checked when its batch starts (reshareConfig), and
// this participant's against its own share by tss/reshare.
func (p *plan) validateRefresh() error {
	switch {
	case int(p.Validators) != len(p.Accounts):
		return fmt.Errorf("accounts: %d listed for %d validators", len(p.Accounts), p.Validators)
	case p.WithdrawalCredentials != api.Root{} || p.AmountGwei != 0:
		return errors.New("withdrawal_credentials, amount_gwei: a refresh makes no deposit")
	case p.Threshold < 2:
		return fmt.Errorf("threshold: a %s at threshold %d is not possible", p.Kind, p.Threshold)
	case p.repair() && !slices.Contains(p.Participants, p.Repaired):
		return fmt.Errorf("repaired: %d is not a participant", p.Repaired)
	case p.repair() && len(p.Helpers) < int(p.Threshold):
		return fmt.Errorf("helpers: %d, fewer than the threshold %d", len(p.Helpers), p.Threshold)
	case !p.repair() && (p.Repaired != 0 || len(p.Helpers) != 0):
		return errors.New("repaired, helpers: only a repair names them")
	}
	for i, id := range p.Helpers {
		switch {
		case !slices.Contains(p.Participants, id):
			return fmt.Errorf("helpers[%d]: %d is not a participant", i, id)
		case id == p.Repaired:
			return fmt.Errorf("helpers[%d]: %d is the repaired participant", i, id)
		case i > 0 && id <= p.Helpers[i-1]:
			return fmt.Errorf("helpers[%d]: %d is not above %d: list them distinct and ascending", i, id, p.Helpers[i-1])
		}
	}
	seen := make(map[api.PublicKey]bool, len(p.Accounts))
	for i, a := range p.Accounts {
		if seen[a.Key] {
			return fmt.Errorf("accounts[%d]: %s listed twice", i, a.Key)
		}
		seen[a.Key] = true
		if len(a.Components) != len(p.Participants) {
			return fmt.Errorf("accounts[%d].components: %d keys for %d participants", i, len(a.Components), len(p.Participants))
		}
	}
	return nil
}
