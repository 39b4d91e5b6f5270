package ceremony

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/tss"
)

// What the ceremonies need from the signer, each declared here as narrowly
// as the ceremonies use it; the daemon (package appliance) wires them.

// Config is this signer as a ceremony sees it.
type Config struct {
	// Self is this signer's participant id.
	Self tss.ID
	// ClusterID is the cluster's id (the SHA-256 of cluster.id): plans and
	// sealed snapshots are bound to it.
	ClusterID [32]byte
	// Participants are every signer of the cluster, this one included.
	Participants []tss.ID
	// Dir holds one directory per ceremony (data_dir/ceremonies).
	Dir string
	// Network is the signer's network: plans must name it, and the
	// deposits are signed for its genesis fork version.
	Network *network.Network
	// Rand draws the dkg polynomials and the ceremony nonces.
	Rand io.Reader
	// Log receives the ceremonies' logs.
	Log *slog.Logger
	// Clock times deadlines, retries and polls.
	Clock Clock
	// AllowWeaker lets this signer join a redistribution whose new
	// configuration is weaker than the current one (accounts.
	// allow_weaker_redistribution).
	AllowWeaker bool
	// MaxWait bounds how long a status request waits for a change
	// (adminapi.Client.WaitCeremony); it must leave the answer time within
	// the listener's write deadline.
	MaxWait time.Duration
}

// Clock is the injected clock (Options.Now and Options.After of the
// signer).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Accounts is the signer's account lifecycle: a ceremony's shares are
// staged (sealed, written beside their final name, keys registered in
// slashing protection) before any is activated.
type Accounts interface {
	// Stage seals and stages new shares, all or none, and returns each
	// share's component public key, in order.
	Stage(ctx context.Context, shares []Share) ([]*bls.PublicKey, error)
	// Activate makes staged accounts signable, many at a time (one
	// slashing-database commit); activating an active one does nothing.
	Activate(ctx context.Context, keys []api.PublicKey) error
	// Discard drops a staged account.
	Discard(key api.PublicKey)
	// Remove takes an account off the signer, staged or active (an aborted
	// ceremony's); why names the cause for the record.
	Remove(ctx context.Context, key api.PublicKey, why string) error
}

// Share is one new account's share to stage.
type Share struct {
	Composite *bls.PublicKey
	Threshold int
	// Members and Generation name a redistribution's new configuration
	// (nil and 0: the cluster's).
	Members    []uint64
	Generation uint64
	// Secret is this signer's share; the caller zeroes it after Stage.
	Secret *bls.SecretKey
}

// Refreshes is the signer's side of a refresh: the same accounts get new
// shares. New shares are staged (sealed, held, not signing) before any is
// activated; an activated refresh keeps the previous sealed share until it
// is finished (destroyed) or rolled back (put back in place).
type Refreshes interface {
	// Held copies the current shares of active accounts, in order; the
	// caller zeroes each Secret.
	Held(ctx context.Context, keys []api.PublicKey) ([]Held, error)
	// StageRefresh seals new shares of active accounts, all or none, and
	// returns each share's component public key, in order.
	StageRefresh(ctx context.Context, shares []Share) ([]*bls.PublicKey, error)
	// DiscardRefresh drops a staged new share.
	DiscardRefresh(key api.PublicKey)
	// ActivateRefresh puts the staged new share in place of the current
	// one (which is zeroed in memory, and kept sealed on disk).
	ActivateRefresh(ctx context.Context, key api.PublicKey) error
	// RollBackRefresh puts the previous share back, if it was replaced.
	RollBackRefresh(ctx context.Context, key api.PublicKey) error
	// FinishRefresh destroys the previous sealed share.
	FinishRefresh(ctx context.Context, key api.PublicKey) error
	// Suspend stops the shares of keys signing any block or attestation
	// (a redistribution leaving this signer out activated the new
	// configuration); Unsuspend lets them sign again (it was aborted).
	Suspend(ctx context.Context, keys []api.PublicKey) error
	Unsuspend(ctx context.Context, keys []api.PublicKey) error
	// Leave takes an account this signer no longer belongs to (a
	// redistribution left it out, and completed) off the signer: its
	// share is zeroed in memory and its sealed share destroyed after the
	// removal grace, like any removed account's; its slashing history
	// stays.
	Leave(ctx context.Context, key api.PublicKey) error
	// Purge takes off at once an account an aborted redistribution gave
	// this signer (it never belonged to an active configuration).
	Purge(ctx context.Context, key api.PublicKey) error
}

// Repairs is the signer's side of a share repair at the repaired
// participant (and of the history its helpers give it).
type Repairs interface {
	// ExportHistory returns the slashing protection history of keys as
	// an EIP-3076 document.
	ExportHistory(ctx context.Context, keys []api.PublicKey) ([]byte, error)
	// StageRepaired seals and stages the repaired shares as new accounts
	// here, all or none, their slashing protection the merge of the
	// given EIP-3076 documents (every helper's history); it returns each
	// share's component public key.
	StageRepaired(ctx context.Context, shares []Share, histories [][]byte) ([]*bls.PublicKey, error)
	// ImportHistories imports the others' slashing histories of keys
	// again, just before the cutover: what they signed since the batch's
	// were fetched (hours, for a large ceremony) is refused too.
	ImportHistories(ctx context.Context, keys []api.PublicKey, histories [][]byte) error
	// Cutover raises the watermarks of the staged repaired keys to an
	// epoch ahead of every signature the others can have made yet, and
	// returns it.
	Cutover(ctx context.Context, keys []api.PublicKey) (uint64, error)
}

// Held is one account's share as this signer holds it now.
type Held struct {
	Composite *bls.PublicKey
	Component *bls.PublicKey
	Threshold int
	// Holds, Members and Generation are set by Directory.Configuration
	// (Holds false: the account is not active here).
	Holds      bool
	Members    []tss.ID
	Generation uint64
	// Secret is a copy of the share: the caller zeroes it.
	Secret *bls.SecretKey
}

// Directory is the cluster's public configuration of its accounts, as the
// signer's coordinator discovers it: a refresh's coordinator puts it in
// the plan, and every participant checks its own part of it.
type Directory interface {
	// Keys lists the accounts this signer holds, active.
	Keys() []api.PublicKey
	// PublicConfig returns each account's threshold and every member's
	// component key, in order, after a fresh discovery; see ConfigQuery.
	PublicConfig(ctx context.Context, keys []api.PublicKey, q ConfigQuery) ([]tss.Account, error)
	// Generation is the highest configuration generation of the
	// accounts keys here.
	Generation(keys []api.PublicKey) (uint64, error)
	// Configuration is how this signer holds each of keys: whether it
	// holds it (active), and then its threshold, members (the cluster's
	// participants for a share that names none) and generation.
	Configuration(keys []api.PublicKey) []Held
}

// Sealer seals a participant's dkg snapshots in the signer's HSM, bound to
// a label (hsm.SealingKey).
type Sealer interface {
	SealData(ctx context.Context, data, label []byte) ([]byte, error)
	UnsealData(ctx context.Context, blob, label []byte) ([]byte, error)
}

// Signer obtains full signatures through the cluster (the signer's own
// coordinator): the coordinator of a ceremony signs the deposits with it.
type Signer interface {
	// Refresh discovers the accounts of every participant.
	Refresh(ctx context.Context) error
	// Sign returns a verified signature of root by key, asking the
	// participants with request.
	Sign(ctx context.Context, key api.PublicKey, root [32]byte, request []byte) (*bls.Signature, error)
}

// Peers reaches the other participants over mutual TLS with this signer's
// identity.
type Peers interface {
	// Peer returns participant id's client; when relay is not nil it
	// carries that administrator's proof (a ceremony's joins).
	Peer(id tss.ID, relay *adminapi.Actor) Peer
}

// Peer is another participant's ceremony endpoints (*adminapi.Client).
type Peer interface {
	DeliverCeremonyMessage(ctx context.Context, id [32]byte, msg []byte) error
	JoinCeremony(ctx context.Context, id [32]byte, plan json.RawMessage) error
	CeremonyStatus(ctx context.Context, id string) (*adminapi.CeremonyStatus, error)
	ActivateCeremony(ctx context.Context, id [32]byte, transcript string) error
	FinalizeCeremony(ctx context.Context, id [32]byte) error
	AbortCeremony(ctx context.Context, id, reason string) error
	CeremonyHistory(ctx context.Context, id [32]byte, batch int) ([]byte, error)
}

// Auditor logs an administrative action and appends it to the audit log
// before it is carried out; an error refuses the action (a
// *web.Refusal is answered as it is).
type Auditor interface {
	RecordAdmin(x adminapi.Actor, action string) error
}

// Deps are the signer's parts a Service uses.
type Deps struct {
	Accounts Accounts
	// Refreshes, Repairs and Directory serve the resharing ceremonies
	// (refresh, repair); a signer without them runs key generation only.
	Refreshes Refreshes
	Repairs   Repairs
	Directory Directory
	Sealer    Sealer
	Signer    Signer
	Peers     Peers
	Audit     Auditor
}

// ConfigQuery says which accounts a resharing plan may list and how their
// public configuration is completed.
type ConfigQuery struct {
	// Lost (a repair's replaced server holding no shares), when not 0:
	// its component keys, and those of members not heard from, are
	// interpolated from the others'.
	Lost tss.ID
	// Redistribution: the accounts may be of any configuration within
	// the cluster (a refresh or a repair lists only the cluster's), and
	// the component keys of members not heard from (down, or gone for
	// good) are interpolated from the others'.
	Redistribution bool
}
