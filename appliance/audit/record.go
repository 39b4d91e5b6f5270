package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// Record is one audit line. Hash and Prev are filled in by the log.
type Record struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        Kind      `json:"kind"`
	Type        string    `json:"type"`
	PublicKey   string    `json:"public_key"`
	SigningRoot string    `json:"signing_root"`
	Client      string    `json:"client"`
	OnBehalfOf  string    `json:"on_behalf_of,omitempty"`
	Prev        string    `json:"prev"`
	Hash        string    `json:"hash"`
}

// genesisPrev is the predecessor of the first record of a new chain.
var genesisPrev = hex.EncodeToString(make([]byte, sha256.Size))

// digest is SHA-256 over the record's canonical JSON with Hash empty; Prev
// is inside, which is what chains the records.
func (r Record) digest() (string, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("audit: encoding record %d: %w", r.Seq, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
