package adminapi

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
)

// PathAccounts is the root of the account lifecycle endpoints, on every
// signer's participant listener (mTLS, both administrative proofs):
//
//	POST   /rampart/v1/accounts                       stage shares
//	POST   /rampart/v1/accounts/activate              activate staged accounts
//	POST   /rampart/v1/accounts/discard               discard staged accounts
//	POST   /rampart/v1/accounts/proof                 proof of possession
//	POST   /rampart/v1/accounts/held                  which accounts the signer holds
//	DELETE /rampart/v1/accounts/{key}                 remove (destroyed when due)
//	GET    /rampart/v1/accounts/removed               removed shares awaiting destruction
//	POST   /rampart/v1/accounts/{key}/restore         restore a removed account
const PathAccounts = "/rampart/v1/accounts"

// MaxKeys bounds the keys of one administrative request.
const MaxKeys = 10_000

// ErrNotPending is returned when restoring an account a signer has no
// pending destruction of (never removed there, or already destroyed).
var ErrNotPending = errors.New("no pending destruction of this account here")

// StageRequest is the body of POST /rampart/v1/accounts: a signer's shares
// of new accounts. All are staged or none.
type StageRequest struct {
	Accounts []StageItem `json:"accounts"`
}

// StageItem is one account's share, with its slashing history if it has
// one (an EIP-3076 document about this key only).
type StageItem struct {
	CompositePublicKey api.PublicKey   `json:"composite_public_key"`
	Threshold          api.Uint64      `json:"threshold"`
	Share              SecretHex       `json:"share"`
	SlashingProtection json.RawMessage `json:"slashing_protection,omitempty"`
}

// Zero clears the shares of a request.
func (r *StageRequest) Zero() {
	for i := range r.Accounts {
		clear(r.Accounts[i].Share[:])
	}
}

// StageResponse names the component key of each staged share, in order.
type StageResponse struct {
	ComponentPublicKeys []api.PublicKey `json:"component_public_keys"`
}

// KeysRequest names accounts, for activate, discard and proof.
type KeysRequest struct {
	Keys []api.PublicKey `json:"keys"`
}

// Account states a signer answers POST /rampart/v1/accounts/held with.
const (
	AccountActive = "active"
	AccountStaged = "staged"
	AccountAbsent = "absent"
)

// HeldResponse is the answer of POST /rampart/v1/accounts/held: the state
// of each key asked, in order (AccountActive, AccountStaged, AccountAbsent).
type HeldResponse struct {
	States []string `json:"states"`
}

// RemoveResponse carries a removed account's slashing history.
type RemoveResponse struct {
	SlashingProtection json.RawMessage `json:"slashing_protection,omitempty"`
	// Removed is true when the signer held the account's share (or had it
	// staged) and removed it.
	Removed bool `json:"removed,omitempty"`
}

// ProofResponse is the answer of POST /rampart/v1/accounts/proof: the
// signer's partial signature of ProofSigningRoot with its share of each
// key, in the order asked.
type ProofResponse struct {
	ParticipantID api.Uint64      `json:"participant_id"`
	Signatures    []api.Signature `json:"signatures"`
}

// RemovedResponse lists the removed shares awaiting destruction at a
// signer.
type RemovedResponse struct {
	Removed []PendingDestruction `json:"removed"`
	// DestroyAfter is the signer's grace period (accounts.destroy_after).
	DestroyAfter string `json:"destroy_after"`
}

// PendingDestruction describes one removed share awaiting destruction.
type PendingDestruction struct {
	// ID names the record: the account and the removal time.
	ID        string        `json:"id"`
	PublicKey api.PublicKey `json:"public_key"`
	RemovedAt time.Time     `json:"removed_at"`
	// Due is when the share is destroyed.
	Due time.Time `json:"due"`
	// Client sent the removal; OnBehalfOf is the administrator it relayed
	// for, if any.
	Client     string `json:"client"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
}

// SecretHex is a 32-byte secret in 0x-prefixed hex that never prints.
type SecretHex [32]byte

// MarshalText writes 0x and 64 hex digits.
func (s SecretHex) MarshalText() ([]byte, error) {
	out := make([]byte, 66)
	copy(out, "0x")
	hex.Encode(out[2:], s[:])
	return out, nil
}

// UnmarshalText reads 0x and 64 hex digits; the error never holds them.
func (s *SecretHex) UnmarshalText(b []byte) error {
	if len(b) != 66 || b[0] != '0' || b[1] != 'x' {
		return errors.New("want 0x and 64 hex digits")
	}
	if _, err := hex.Decode(s[:], b[2:]); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}

func (s SecretHex) String() string   { return redactedText }
func (s SecretHex) GoString() string { return redactedText }
