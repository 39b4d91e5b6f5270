package coordinator

import (
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// account is the coordinator's validated view of one distributed account.
type account struct {
	key       api.PublicKey
	composite *bls.PublicKey
	threshold int
	// members are the configured participants of the account, in id order.
	members []Participant
	// components are the component keys learned from each participant
	// itself; a participant not yet heard from has none and cannot
	// contribute until a later discovery.
	components map[tss.ID]*bls.PublicKey
	// raw are the same keys as the participants sent them, to notice a
	// change without decoding.
	raw map[tss.ID]api.PublicKey
}

// component returns the key a partial of participant id must verify under.
func (a *account) component(id tss.ID) (*bls.PublicKey, bool) {
	k, ok := a.components[id]
	return k, ok
}

// has reports whether id is a member.
func (a *account) has(id tss.ID) bool {
	for _, m := range a.members {
		if m.ID() == id {
			return true
		}
	}
	return false
}

// AccountInfo is the public view of one account, for listings and status.
type AccountInfo struct {
	PublicKey api.PublicKey
	Threshold int
	Members   []tss.ID
	// Known lists the members whose component key the coordinator holds.
	Known []tss.ID
	// Components holds the component key of each member in Known.
	Components map[tss.ID]api.PublicKey
}
