package tss

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-signer/rampart/internal/bls"
)

// ID is a participant id: the non-zero x-coordinate of its share, an
// unsigned 64-bit integer written in decimal on the wire. It is the
// number's value in Fr, never hashed and never an array index.
type ID uint64

// ParseID parses the canonical decimal form of a participant id: digits
// only, no sign, no leading zero, not zero, at most 2^64-1.
func ParseID(s string) (ID, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%w: %q has a leading zero", ErrInvalidID, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q is not a decimal number", ErrInvalidID, s)
		}
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q does not fit in 64 bits", ErrInvalidID, s)
	}
	if u == 0 {
		return 0, fmt.Errorf("%w: zero is the composite key's coordinate", ErrInvalidID)
	}
	return ID(u), nil
}

// String returns the decimal form.
func (id ID) String() string { return strconv.FormatUint(uint64(id), 10) }

// MarshalText returns the decimal form, so ids travel as JSON strings.
func (id ID) MarshalText() ([]byte, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: zero", ErrInvalidID)
	}
	return []byte(id.String()), nil
}

// UnmarshalText parses the canonical decimal form with [ParseID].
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// scalar returns the id as a field element.
func (id ID) scalar() bls.Scalar { return bls.ScalarFromUint64(uint64(id)) }

// CheckThreshold reports whether a t-of-n account is allowed: 1 <= t <= n
// and t > n/2. The majority rule is Rampart's (DESIGN.md section 3): with
// it, two conflicting messages can never both reach t honest signers.
func CheckThreshold(threshold, n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("%w: no participants", ErrThreshold)
	case threshold < 1:
		return fmt.Errorf("%w: threshold %d is below 1", ErrThreshold, threshold)
	case threshold > n:
		return fmt.Errorf("%w: threshold %d exceeds the %d participants", ErrThreshold, threshold, n)
	case 2*threshold <= n:
		return fmt.Errorf("%w: threshold %d of %d is not a majority (need more than %d)", ErrThreshold, threshold, n, n/2)
	}
	return nil
}

// CheckIDs reports whether ids is a non-empty list of distinct non-zero
// participant ids.
func CheckIDs(ids []ID) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: no participant ids", ErrInvalidInput)
	}
	seen := make(map[ID]struct{}, len(ids))
	for _, id := range ids {
		if id == 0 {
			return fmt.Errorf("%w: zero in participant list", ErrInvalidID)
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("%w: %s", ErrDuplicateID, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// sortedIDs returns a sorted copy.
func sortedIDs(ids []ID) []ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func joinIDs(ids []ID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ", ")
}

func itoa(i int) string { return strconv.Itoa(i) }
