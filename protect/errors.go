package protect

import (
	"errors"
	"fmt"
)

// Refusals. Every refusal is a *[RefusalError] that matches [ErrRefused] and
// exactly one of the reasons below with errors.Is. The caller must not sign;
// the Remote Signing API answers 412.
var (
	// ErrRefused matches every slashing-protection refusal.
	ErrRefused = errors.New("refused by slashing protection")
	// ErrDoubleProposal: a block with another (or an unknown) signing root
	// was already signed at this slot.
	ErrDoubleProposal = errors.New("double proposal")
	// ErrDoubleVote: an attestation with another (or an unknown) signing root
	// was already signed for this target epoch.
	ErrDoubleVote = errors.New("double vote")
	// ErrSurroundVote: the attestation surrounds, or is surrounded by, one
	// already signed.
	ErrSurroundVote = errors.New("surround vote")
	// ErrBelowWatermark: the slot, source or target is below the key's low
	// watermark (set by an import or by pruning), and the request is not an
	// exact repeat of a message still in the kept history.
	ErrBelowWatermark = errors.New("below the low watermark")
	// ErrSourceAfterTarget: the attestation's source epoch is after its
	// target epoch. No valid attestation has that shape.
	ErrSourceAfterTarget = errors.New("source epoch after target epoch")
)

// Errors about the request's key or network. They are not refusals of a
// message but mean the same to the caller: no signature.
var (
	// ErrUnknownKey: the key was never registered or imported (404).
	ErrUnknownKey = errors.New("unknown validator key")
	// ErrDisabled: the key was disabled (keymanager DELETE); it signs
	// nothing until enabled again (404 for the keymanager API).
	ErrDisabled = errors.New("validator key is disabled")
	// ErrWrongNetwork: a request or an interchange file names another genesis
	// validators root than the one the database was created for (400).
	ErrWrongNetwork = errors.New("genesis validators root does not match the database's network")
	// ErrFuture: a block's slot, an attestation's target or an interchange
	// record lies after [Config.Limit]'s epoch, further ahead of the wall
	// clock than anything an honest validator signs. It is not a slashing
	// refusal (it does not match ErrRefused): the request or the file is
	// invalid (HTTP 400) and nothing of it is recorded.
	ErrFuture = errors.New("beyond the last epoch allowed now")
	// ErrNoLimit: Config.Limit is nil. The database then approves and
	// imports nothing, so that no caller can record a far-future message
	// by forgetting the limit.
	ErrNoLimit = errors.New("slashing protection has no limit on future epochs (Config.Limit is nil); refusing to approve or import")
)

// Errors about the database itself.
var (
	// ErrClosed: the database was closed.
	ErrClosed = errors.New("slashing protection database is closed")
	// ErrFailed: a write to the database failed. The in-memory index may be
	// ahead of the file and an fsync error cannot be retried safely, so the
	// database refuses everything until it is closed and opened again.
	ErrFailed = errors.New("slashing protection database failed a write; restart required")
	// ErrInUse: another process holds the database file's lock; usually a
	// running rampart-signer.
	ErrInUse = errors.New("database is in use by another process (is rampart-signer running?)")
	// ErrNotDatabase: the file is not a Rampart slashing protection database.
	ErrNotDatabase = errors.New("not a rampart slashing protection database")
	// ErrCorrupt: the file failed a checksum or holds a record that cannot
	// be decoded.
	ErrCorrupt = errors.New("slashing protection database is corrupt")
	// ErrSchemaVersion: the file was written by a newer Rampart with a schema
	// this version does not know.
	ErrSchemaVersion = errors.New("slashing protection database has an unsupported schema version")
)

// Other errors.
var (
	// ErrInvalidInterchange: an EIP-3076 document is malformed. The wrapping
	// error names the field.
	ErrInvalidInterchange = errors.New("invalid slashing protection interchange")
	// ErrNoPermit: Sign was called on a zero [Permit], one that no commit
	// handed out.
	ErrNoPermit = errors.New("no slashing protection permit")
)

// RefusalError is a refusal to sign: which key, why (one of the reason
// sentinels) and the numbers that decided it.
type RefusalError struct {
	// Key is the validator the request was for.
	Key PublicKey
	// Reason is ErrDoubleProposal, ErrDoubleVote, ErrSurroundVote,
	// ErrBelowWatermark or ErrSourceAfterTarget.
	Reason error
	// Detail names the conflicting values, e.g. "target 12 <= watermark 13".
	Detail string
	// Signed is the signing root already signed at the request's slot (a
	// double proposal) or for its target (a double vote), when the
	// database holds it; nil otherwise.
	Signed *Root
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("%v for %v: %v: %s", ErrRefused, e.Key, e.Reason, e.Detail)
}

// Unwrap makes errors.Is match both ErrRefused and the reason.
func (e *RefusalError) Unwrap() []error { return []error{ErrRefused, e.Reason} }

func refuse(key PublicKey, reason error, format string, a ...any) error {
	return &RefusalError{Key: key, Reason: reason, Detail: fmt.Sprintf(format, a...)}
}
