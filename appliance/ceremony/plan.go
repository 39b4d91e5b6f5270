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
	// participant's current component key (in Participants order; in
	// OldMembers order for a redistribution): the public configuration the
	// dealers' commitments are checked against.
	Accounts []planAccount `json:"accounts,omitempty"`
	// A redistribution (kindRedistribute) gives the accounts, all of one
	// configuration (OldMembers at Threshold), a new one: NewMembers at
	// NewThreshold, generation Generation (for a refresh or a repair, the
	// accounts' generation, unchanged). Helpers lists its dealers, at
	// least Threshold of OldMembers. Members of OldMembers not in
	// NewMembers leave: their shares are destroyed once the new
	// configuration is active. Members of NewMembers not in OldMembers
	// join, their slashing protection the merge of the dealers' histories
	// with floors at the cutover.
	OldMembers   []api.Uint64 `json:"old_members,omitempty"`
	NewMembers   []api.Uint64 `json:"new_members,omitempty"`
	NewThreshold api.Uint64   `json:"new_threshold,omitempty"`
	Generation   api.Uint64   `json:"generation,omitempty"`
}

// Kinds of resharing plans.
const (
	kindRefresh      = "refresh"
	kindRepair       = "repair"
	kindRedistribute = "redistribute"
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

// redistribute reports whether the plan gives accounts a new
// configuration.
func (p *plan) redistribute() bool { return p.Kind == kindRedistribute }

// reshares reports whether the plan works on existing accounts.
func (p *plan) reshares() bool { return p.Kind != "" }

// what names the ceremony in logs and reasons.
func (p *plan) what() string {
	switch {
	case p != nil && p.refresh():
		return "refresh ceremony"
	case p != nil && p.repair():
		return "share repair ceremony"
	case p != nil && p.redistribute():
		return "redistribution ceremony"
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
	// Refresh and repair plans hash as they did before redistribution.
	if p.redistribute() {
		for _, ids := range [][]api.Uint64{p.OldMembers, p.NewMembers} {
			b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
			for _, id := range ids {
				b = binary.BigEndian.AppendUint64(b, uint64(id))
			}
		}
		b = binary.BigEndian.AppendUint64(b, uint64(p.NewThreshold))
		b = binary.BigEndian.AppendUint64(b, uint64(p.Generation))
	} else if p.Generation != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(p.Generation))
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
// participant, a repair's helpers and repaired participant, or a
// redistribution's dealers and new members.
func (p *plan) members() []tss.ID {
	var out []tss.ID
	switch {
	case p.repair():
		out = append(toIDs(p.Helpers), tss.ID(p.Repaired))
	case p.redistribute():
		out = append(toIDs(p.Helpers), toIDs(p.NewMembers)...)
	default:
		return p.ids()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// accountMembers lists, ascending, the members whose component keys the
// plan's accounts list: a redistribution's old members, or every
// participant.
func (p *plan) accountMembers() []tss.ID {
	if p.redistribute() {
		return toIDs(p.OldMembers)
	}
	return p.ids()
}

// Roles of a participant in a redistribution: a new member that held no
// share joins, one that did continues, an old member that is not a new
// one leaves.
func (p *plan) joins(id tss.ID) bool {
	return p.redistribute() && slices.Contains(p.NewMembers, api.Uint64(id)) && !slices.Contains(p.OldMembers, api.Uint64(id))
}

func (p *plan) continues(id tss.ID) bool {
	return p.redistribute() && slices.Contains(p.NewMembers, api.Uint64(id)) && slices.Contains(p.OldMembers, api.Uint64(id))
}

func (p *plan) leaves(id tss.ID) bool {
	return p.redistribute() && slices.Contains(p.OldMembers, api.Uint64(id)) && !slices.Contains(p.NewMembers, api.Uint64(id))
}

func toIDs(ids []api.Uint64) []tss.ID {
	out := make([]tss.ID, len(ids))
	for i, id := range ids {
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
	switch {
	case p.repair():
		cfg.Mode, cfg.NewMembers, cfg.Dealers = reshare.ModeRepair, []tss.ID{tss.ID(p.Repaired)}, toIDs(p.Helpers)
	case p.redistribute():
		cfg.Mode, cfg.Dealers, cfg.NewMembers, cfg.NewThreshold = reshare.ModeRedistribute, toIDs(p.Helpers), toIDs(p.NewMembers), int(p.NewThreshold)
	}
	return cfg, nil
}

// accounts decodes the plan's accounts [lo, hi) and checks each
// (tss.Account.Validate: every component key on one polynomial of the
// threshold's degree through the account key).
func (p *plan) accounts(lo, hi int) ([]tss.Account, error) {
	ids := p.accountMembers()
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
	if !p.redistribute() {
		if err := tss.CheckThreshold(int(min(p.Threshold, 1<<16)), len(ids)); err != nil {
			return fmt.Errorf("threshold: %w", err)
		}
	} else if err := p.validateRedistribution(); err != nil {
		return err
	}
	if p.Validators < 1 || p.Validators > adminapi.MaxCeremonyValidators {
		return fmt.Errorf("validators: %d is not between 1 and %d", p.Validators, adminapi.MaxCeremonyValidators)
	}
	if mb := p.maxBatchSize(); p.BatchSize < 1 || p.BatchSize > api.Uint64(mb) {
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
	case kindRefresh, kindRepair, kindRedistribute:
		if err := p.validateRefresh(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("kind: %q is neither key generation (empty), %q, %q nor %q", p.Kind, kindRefresh, kindRepair, kindRedistribute)
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
	case p.redistribute() && p.Repaired != 0:
		return errors.New("repaired: only a repair names it")
	case !p.repair() && !p.redistribute() && (p.Repaired != 0 || len(p.Helpers) != 0):
		return errors.New("repaired, helpers: only a repair names them")
	case !p.redistribute() && (len(p.OldMembers) != 0 || len(p.NewMembers) != 0 || p.NewThreshold != 0):
		return errors.New("old_members, new_members, new_threshold: only a redistribution names them")
	}
	for i, id := range p.Helpers {
		switch {
		case !slices.Contains(p.Participants, id):
			return fmt.Errorf("helpers[%d]: %d is not a participant", i, id)
		case p.redistribute() && !slices.Contains(p.OldMembers, id):
			return fmt.Errorf("helpers[%d]: %d is not an old member: only they hold shares to deal", i, id)
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
		if n := len(p.accountMembers()); len(a.Components) != n {
			return fmt.Errorf("accounts[%d].components: %d keys for %d members", i, len(a.Components), n)
		}
	}
	return nil
}

// validateRedistribution checks what a redistribution plan adds: both
// configurations within the cluster, each threshold a majority of its
// members, enough dealers, a generation.
func (p *plan) validateRedistribution() error {
	for _, f := range []struct {
		name string
		ids  []api.Uint64
	}{{"old_members", p.OldMembers}, {"new_members", p.NewMembers}} {
		if len(f.ids) == 0 || len(f.ids) > reshare.MaxMembers {
			return fmt.Errorf("%s: %d listed, want 1 to %d", f.name, len(f.ids), reshare.MaxMembers)
		}
		for i, id := range f.ids {
			switch {
			case !slices.Contains(p.Participants, id):
				return fmt.Errorf("%s[%d]: %d is not a participant", f.name, i, id)
			case i > 0 && id <= f.ids[i-1]:
				return fmt.Errorf("%s[%d]: %d is not above %d: list them distinct and ascending", f.name, i, id, f.ids[i-1])
			}
		}
	}
	if err := tss.CheckThreshold(int(min(p.Threshold, 1<<16)), len(p.OldMembers)); err != nil {
		return fmt.Errorf("threshold: %w", err)
	}
	if err := tss.CheckThreshold(int(min(p.NewThreshold, 1<<16)), len(p.NewMembers)); err != nil {
		return fmt.Errorf("new_threshold: %w", err)
	}
	switch {
	case p.NewThreshold < 2:
		return fmt.Errorf("new_threshold: %d; a configuration at threshold 1 gives one signer the whole key", p.NewThreshold)
	case len(p.Helpers) < int(p.Threshold):
		return fmt.Errorf("helpers: %d dealers, fewer than the old threshold %d", len(p.Helpers), p.Threshold)
	case p.Generation == 0:
		return errors.New("generation: zero; a redistribution makes generation 1 or later")
	case slices.Equal(p.OldMembers, p.NewMembers) && p.Threshold == p.NewThreshold:
		return errors.New("new_members, new_threshold: the configuration does not change; refresh the shares instead")
	}
	return nil
}

// maxBatchSize is the largest batch of the plan: a redistribution's
// commitments have the new threshold's degree.
func (p *plan) maxBatchSize() int {
	if !p.redistribute() {
		return maxBatchSize(len(p.Participants), int(p.Threshold))
	}
	return maxBatchSize(len(p.members()), int(min(max(p.Threshold, p.NewThreshold), 1<<16)))
}
