package audit

import (
	"time"
)

// Kind says what was released.
type Kind string

// Kinds of records.
const (
	// KindPartial is a partial signature made with this participant's share.
	KindPartial Kind = "partial"
	// KindFull is a recovered, verified signature returned by the coordinator.
	KindFull Kind = "full"
	// KindAdmin is an administrative action admitted (both proofs checked),
	// recorded before it is carried out: Type names the action, Client who
	// sent it and OnBehalfOf the administrator a peer relayed it for.
	KindAdmin Kind = "admin"
)

// Kinds of records the log writes about itself, so that its own life
// (files opened, checkpoints, deletions, repairs) is in the chain too.
const (
	// KindFile opens every file. Its Prev is the hash of the record before
	// it, the last of the previous file, which chains the files; Note says
	// why the file was opened.
	KindFile Kind = "file"
	// KindCheckpoint states the head of the chain (a sequence number and
	// the hash of that record) with a tag made by the HSM, so that a
	// rewrite of the files up to that record is detected.
	KindCheckpoint Kind = "checkpoint"
	// KindRetention lists the rotated files retention deleted.
	KindRetention Kind = "retention"
	// KindRecovery says what the log repaired when it opened (an
	// incomplete last record cut after a crash).
	KindRecovery Kind = "recovery"
	// KindReset says the operator acknowledged the loss of anchored
	// records (rampartctl audit acknowledge-loss) and names what was lost.
	KindReset Kind = "reset"
)

// Record is what a caller logs: one released signature, or one action.
// Append fills in Time when it is zero. Records of one Append that differ
// only in PublicKey (a batch) are written as one line listing the keys.
type Record struct {
	Time        time.Time `json:"time"`
	Kind        Kind      `json:"kind"`
	Type        string    `json:"type,omitempty"`
	PublicKey   string    `json:"public_key,omitempty"`
	SigningRoot string    `json:"signing_root,omitempty"`
	Client      string    `json:"client,omitempty"`
	OnBehalfOf  string    `json:"on_behalf_of,omitempty"`
}
