package reshare

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/rampart-signer/rampart/tss"
)

// Limits of one resharing. They bound every message a member must accept.
const (
	// MaxMembers is the largest number of old or new members.
	MaxMembers = 64
	// MaxValidators is the largest number of validators one session
	// reshares.
	MaxValidators = 10000
	// MaxContext is the largest Context in bytes.
	MaxContext = 1024
)

// Mode is what a resharing does.
type Mode uint8

const (
	// ModeRedistribute gives the validators' keys to a new set of members
	// with a new threshold (replace a member, change n and t): dealers
	// sub-share their current shares, new members combine the sub-shares
	// with Lagrange coefficients over the qualified dealers.
	ModeRedistribute Mode = 1
	// ModeRefresh changes every share of the same members, at the same
	// threshold, and no key (proactive secret sharing): dealers share zero,
	// and each member adds the sub-shares to its current share. Shares
	// stolen before a refresh do not combine with shares stolen after it.
	ModeRefresh Mode = 2
	// ModeRepair gives one current member (NewMembers, a single id) its
	// shares again, for its existing index, without any other member's
	// share changing (Herzberg, Jarecki, Krawczyk, Yung 1995, share
	// recovery): each dealer (helper) shares a random polynomial that is
	// zero at the repaired index, and sends the repaired member its share
	// masked by the sum of those polynomials; the repaired member
	// interpolates the masked shares at its index.
	ModeRepair Mode = 3
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeRedistribute:
		return "redistribute"
	case ModeRefresh:
		return "refresh"
	case ModeRepair:
		return "repair"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Config describes one resharing session. Every member must be given the
// same Config: the session id is its hash, every message carries the id,
// and members configured differently refuse each other's messages.
type Config struct {
	// Nonce makes the session unique; the coordinator draws it at random,
	// so that no message of one session is accepted in another.
	Nonce [32]byte
	// Mode is redistribution or refresh.
	Mode Mode
	// OldThreshold is the current threshold: every account's.
	OldThreshold int
	// Dealers lists, ascending, the current members that sub-share their
	// shares: at least OldThreshold of them, each a component of every
	// account.
	Dealers []tss.ID
	// NewMembers lists, ascending, the members of the new configuration.
	// For a refresh, every account's members.
	NewMembers []tss.ID
	// NewThreshold is the new configuration's threshold, a majority of
	// NewMembers. For a refresh, OldThreshold.
	NewThreshold int
	// Accounts is the current public configuration of every validator:
	// composite key, threshold and component keys. Each dealer's
	// commitments must have its component key as constant term.
	Accounts []tss.Account
	// Context is application data every member must agree on (the
	// network, the cutover epoch), bound into the session id.
	Context []byte
}

// Validate reports the first field that is wrong.
func (c *Config) Validate() error {
	if c.Nonce == [32]byte{} {
		return fmt.Errorf("%w: Nonce is zero; draw a random one per session", ErrConfig)
	}
	if c.Mode != ModeRedistribute && c.Mode != ModeRefresh && c.Mode != ModeRepair {
		return fmt.Errorf("%w: Mode %d is none of redistribute (1), refresh (2), repair (3)", ErrConfig, c.Mode)
	}
	if err := checkMembers("Dealers", c.Dealers); err != nil {
		return err
	}
	if err := checkMembers("NewMembers", c.NewMembers); err != nil {
		return err
	}
	if c.Mode != ModeRepair {
		if err := tss.CheckThreshold(c.NewThreshold, len(c.NewMembers)); err != nil {
			return fmt.Errorf("%w: NewThreshold: %w", ErrConfig, err)
		}
	}
	if len(c.Accounts) < 1 || len(c.Accounts) > MaxValidators {
		return fmt.Errorf("%w: Accounts has %d entries, want 1 to %d", ErrConfig, len(c.Accounts), MaxValidators)
	}
	if len(c.Context) > MaxContext {
		return fmt.Errorf("%w: Context has %d bytes, at most %d", ErrConfig, len(c.Context), MaxContext)
	}
	// A downgraded old threshold would let fewer dealers than the key
	// needs "reshare" it: the threshold must be every account's, and each
	// account's components must lie on a polynomial of that degree.
	if len(c.Dealers) < c.OldThreshold || c.OldThreshold < 1 {
		return fmt.Errorf("%w: %d Dealers, but the old threshold is %d: at least that many current members must deal", ErrConfig, len(c.Dealers), c.OldThreshold)
	}
	old := c.Accounts[0].IDs()
	for v := range c.Accounts {
		a := &c.Accounts[v]
		if a.Threshold != c.OldThreshold {
			return fmt.Errorf("%w: Accounts[%d] has threshold %d, OldThreshold is %d", ErrConfig, v, a.Threshold, c.OldThreshold)
		}
		if err := a.Validate(); err != nil {
			return fmt.Errorf("%w: Accounts[%d]: %w", ErrConfig, v, err)
		}
		if !slices.Equal(a.IDs(), old) {
			return fmt.Errorf("%w: Accounts[%d] has other members than Accounts[0]", ErrConfig, v)
		}
	}
	for _, d := range c.Dealers {
		if _, ok := slices.BinarySearch(old, d); !ok {
			return fmt.Errorf("%w: dealer %s is not a current member (%s)", ErrConfig, d, joinIDs(old))
		}
	}
	if c.Mode == ModeRefresh {
		if !slices.Equal(c.NewMembers, old) || c.NewThreshold != c.OldThreshold {
			return fmt.Errorf("%w: a refresh keeps the members and the threshold: NewMembers %s, NewThreshold %d; current members %s, threshold %d",
				ErrConfig, joinIDs(c.NewMembers), c.NewThreshold, joinIDs(old), c.OldThreshold)
		}
		if c.OldThreshold < 2 {
			return fmt.Errorf("%w: a refresh at threshold 1 shares zero with a constant polynomial and changes nothing", ErrConfig)
		}
	}
	if c.Mode == ModeRepair {
		if len(c.NewMembers) != 1 || c.NewThreshold != c.OldThreshold {
			return fmt.Errorf("%w: a repair names one member in NewMembers (%d named) and keeps the threshold (NewThreshold %d, OldThreshold %d)", ErrConfig, len(c.NewMembers), c.NewThreshold, c.OldThreshold)
		}
		r := c.NewMembers[0]
		if _, ok := slices.BinarySearch(old, r); !ok {
			return fmt.Errorf("%w: repaired member %s is not a current member (%s): a repair restores an existing index", ErrConfig, r, joinIDs(old))
		}
		if _, ok := slices.BinarySearch(c.Dealers, r); ok {
			return fmt.Errorf("%w: repaired member %s cannot help repair itself", ErrConfig, r)
		}
		if c.OldThreshold < 2 {
			return fmt.Errorf("%w: a repair at threshold 1 would hand the key itself to the repaired member's helpers' masks; copy the share instead", ErrConfig)
		}
	}
	return nil
}

func checkMembers(field string, ids []tss.ID) error {
	if len(ids) == 0 || len(ids) > MaxMembers {
		return fmt.Errorf("%w: %s has %d entries, want 1 to %d", ErrConfig, field, len(ids), MaxMembers)
	}
	for i, id := range ids {
		if id == 0 {
			return fmt.Errorf("%w: %s[%d] is zero", ErrConfig, field, i)
		}
		if i > 0 && id <= ids[i-1] {
			return fmt.Errorf("%w: %s[%d] = %s is not above %s: ids must be distinct and ascending", ErrConfig, field, i, id, ids[i-1])
		}
	}
	return nil
}

func joinIDs(ids []tss.ID) string {
	b := make([]byte, 0, 4*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, id.String()...)
	}
	return string(b)
}

// SessionID returns the session's identifier: a hash of the whole
// configuration, every account's keys included. Call it on a valid Config.
func (c *Config) SessionID() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagSession))
	b := append([]byte(nil), c.Nonce[:]...)
	b = append(b, byte(c.Mode))
	b = binary.BigEndian.AppendUint16(b, uint16(c.OldThreshold))
	b = appendIDs(b, c.Dealers)
	b = binary.BigEndian.AppendUint16(b, uint16(c.NewThreshold))
	b = appendIDs(b, c.NewMembers)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Context)))
	b = append(b, c.Context...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Accounts)))
	h.Write(b)
	for _, a := range c.Accounts {
		k := a.Composite.Bytes()
		h.Write(k[:])
		h.Write(appendIDs(nil, a.IDs()))
		for _, comp := range a.Components {
			k := comp.PublicKey.Bytes()
			h.Write(k[:])
		}
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

func appendIDs(b []byte, ids []tss.ID) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	return b
}

// Domain-separation tags of every hash and signed message.
const (
	tagSession       = "rampart/reshare/session/v1"
	tagTranscript    = "rampart/reshare/transcript/v1"
	tagConfiguration = "rampart/reshare/configuration/v1"
	tagConfirm       = "rampart/reshare/confirmation/v1"
)
