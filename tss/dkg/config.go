package dkg

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/rampart-signer/rampart/tss"
)

// Limits of one ceremony. They bound every message a participant must
// accept (the largest commitments message is about 32 MiB).
const (
	// MaxParticipants is the largest number of participants.
	MaxParticipants = 64
	// MaxValidators is the largest number of validators one ceremony
	// creates.
	MaxValidators = 10000
	// MaxContext is the largest Context in bytes.
	MaxContext = 1024
)

// Config describes one ceremony. Every participant must be given the same
// Config: the ceremony id is its hash, and every message carries the id, so
// participants configured differently refuse each other's messages.
type Config struct {
	// Nonce makes the ceremony unique. The coordinator draws it at random
	// for each ceremony, so that no message of one ceremony is ever
	// accepted in another.
	Nonce [32]byte
	// Participants lists every participant id, ascending.
	Participants []tss.ID
	// Threshold is the number of shares a signature needs; it must be a
	// majority of the participants.
	Threshold int
	// Validators is the number of validator keys the ceremony creates.
	Validators int
	// Context is application data every participant must agree on, bound
	// into the ceremony id: for example the withdrawal credentials and
	// deposit amount of the validators being created, and the network.
	Context []byte
}

// Validate reports the first field that is wrong.
func (c *Config) Validate() error {
	if c.Nonce == [32]byte{} {
		return fmt.Errorf("%w: Nonce is zero; draw a random one per ceremony", ErrConfig)
	}
	n := len(c.Participants)
	if n == 0 || n > MaxParticipants {
		return fmt.Errorf("%w: Participants has %d entries, want 1 to %d", ErrConfig, n, MaxParticipants)
	}
	for i, id := range c.Participants {
		if id == 0 {
			return fmt.Errorf("%w: Participants[%d] is zero", ErrConfig, i)
		}
		if i > 0 && id <= c.Participants[i-1] {
			return fmt.Errorf("%w: Participants[%d] = %s is not above %s: ids must be distinct and ascending", ErrConfig, i, id, c.Participants[i-1])
		}
	}
	if err := tss.CheckThreshold(c.Threshold, n); err != nil {
		return fmt.Errorf("%w: Threshold: %w", ErrConfig, err)
	}
	if c.Validators < 1 || c.Validators > MaxValidators {
		return fmt.Errorf("%w: Validators is %d, want 1 to %d", ErrConfig, c.Validators, MaxValidators)
	}
	if len(c.Context) > MaxContext {
		return fmt.Errorf("%w: Context has %d bytes, at most %d", ErrConfig, len(c.Context), MaxContext)
	}
	return nil
}

// CeremonyID returns the ceremony's identifier: a hash of the whole
// configuration. Call it on a valid Config.
func (c *Config) CeremonyID() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagCeremony))
	h.Write(c.appendTo(nil))
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// appendTo appends the canonical encoding of the configuration, used for
// the ceremony id and in snapshots.
func (c *Config) appendTo(b []byte) []byte {
	b = append(b, c.Nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(c.Threshold))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Participants)))
	for _, id := range c.Participants {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(c.Validators))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Context)))
	return append(b, c.Context...)
}

// readConfig decodes what appendTo wrote and validates it.
func readConfig(r *reader) (Config, error) {
	var c Config
	copy(c.Nonce[:], r.Bytes(32, "config nonce"))
	c.Threshold = int(r.U16("config threshold"))
	n := int(r.U16("config participant count"))
	if n > MaxParticipants {
		return c, fmt.Errorf("%w: config has %d participants, at most %d", ErrMalformed, n, MaxParticipants)
	}
	for i := 0; i < n && r.Err == nil; i++ {
		c.Participants = append(c.Participants, tss.ID(r.U64("config participant id")))
	}
	c.Validators = int(r.U32("config validator count"))
	c.Context = append([]byte(nil), r.Bytes(int(r.U16("config context length")), "config context")...)
	if r.Err != nil {
		return c, r.Err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}

// Domain-separation tags of every hash and signed message.
const (
	tagCeremony   = "rampart/dkg/ceremony/v1"
	tagPoP        = "rampart/dkg/proof-of-possession/v1"
	tagTranscript = "rampart/dkg/transcript/v1"
	tagConfirm    = "rampart/dkg/confirmation/v1"
)
