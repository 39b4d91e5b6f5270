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
	// Activate makes a staged account signable; activating an active one
	// does nothing.
	Activate(ctx context.Context, key api.PublicKey) error
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
	// Secret is this signer's share; the caller zeroes it after Stage.
	Secret *bls.SecretKey
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
	Sealer   Sealer
	Signer   Signer
	Peers    Peers
	Audit    Auditor
}
