package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// A refused double vote names what this signer already signed for the
// target (api.Conflict), to a caller that asks for it (api.ConflictHeader:
// Rampart's coordinators do): the signing root from the slashing database
// and, while this signer still remembers it, the attestation data behind
// it. Two instances of a validator client that read different attestation
// data for a slot then converge on the one the signers signed first,
// instead of splitting the signers between two data neither of which gets
// a threshold of signatures (docs/reliability.md). Naming what was signed
// reveals nothing: the data is public once attested, and only a caller
// authorised to ask for the validator's attestations is answered.

// maxSignedVotes bounds the attestation data remembered: since Electra a
// slot's attestations share one data, before it one per committee (at
// most 64 a slot); 4,096 entries cover two mainnet epochs of every
// committee, at about 400 bytes each (1.6 MB). The oldest entry goes
// first; a refusal whose data was forgotten still names its root.
const maxSignedVotes = 4096

// signedVotes remembers the attestation data of the most recent signing
// roots this signer signed attestations for.
type signedVotes struct {
	mu   sync.Mutex
	data map[[32]byte][]byte
	ring [][32]byte // insertion order, used as a circular buffer
	next int
}

func newSignedVotes(n int) *signedVotes {
	return &signedVotes{data: make(map[[32]byte][]byte, n), ring: make([][32]byte, 0, n)}
}

// add remembers the data of a vote just signed.
func (s *signedVotes) add(v *signing.Vote) {
	if v == nil || v.Data == nil {
		return
	}
	root := [32]byte(v.SigningRoot)
	s.mu.Lock()
	_, ok := s.data[root]
	s.mu.Unlock()
	if ok {
		return
	}
	raw, err := json.Marshal(v.Data)
	if err != nil || len(raw) > api.MaxConflictData {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[root]; ok {
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, root)
	} else {
		delete(s.data, s.ring[s.next])
		s.ring[s.next] = root
		s.next = (s.next + 1) % len(s.ring)
	}
	s.data[root] = raw
}

// get returns the data remembered for root, or nil.
func (s *signedVotes) get(root [32]byte) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[root]
}

// len is the number of entries remembered.
func (s *signedVotes) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

type conflictKey struct{}

// withConflicts marks a request whose caller wants double votes' conflicts
// named.
func withConflicts(ctx context.Context) context.Context {
	return context.WithValue(ctx, conflictKey{}, true)
}

func wantsConflicts(ctx context.Context) bool {
	v, _ := ctx.Value(conflictKey{}).(bool)
	return v
}

// conflictAware marks the requests that carry api.ConflictHeader.
func conflictAware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(api.ConflictHeader) == "1" {
			r = r.WithContext(withConflicts(r.Context()))
		}
		h.ServeHTTP(w, r)
	})
}

// refusal maps a slashing-protection error to its answer (protectError)
// and, for a double vote to a caller that asked, names what was signed.
func (p *participant) refusal(ctx context.Context, err error) *apiError {
	e := protectError(err)
	var re *protect.RefusalError
	if wantsConflicts(ctx) && errors.As(err, &re) && re.Signed != nil && errors.Is(re.Reason, protect.ErrDoubleVote) {
		e.Conflict = &api.Conflict{SigningRoot: api.Root(*re.Signed), AttestationData: p.votes.get(*re.Signed)}
	}
	return e
}
