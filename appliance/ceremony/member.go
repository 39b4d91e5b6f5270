package ceremony

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
)

// member is one participant as the coordinator drives it: over mutual
// TLS, or this signer itself in process. Both answer alike: a refusal is a
// *peer.StatusError with the status the endpoint would have sent.
type member interface {
	memberID() tss.ID
	join(ctx context.Context, p *plan) error
	status(ctx context.Context, id [32]byte) (adminapi.CeremonyStatus, error)
	activate(ctx context.Context, id [32]byte, transcript string) error
	finalize(ctx context.Context, id [32]byte) error
	abort(ctx context.Context, id [32]byte, reason string) error
}

type remoteMember struct {
	id tss.ID
	p  Peer
}

func (r remoteMember) memberID() tss.ID { return r.id }

func (r remoteMember) join(ctx context.Context, p *plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return r.p.JoinCeremony(ctx, p.ID(), b)
}

func (r remoteMember) status(ctx context.Context, id [32]byte) (adminapi.CeremonyStatus, error) {
	st, err := r.p.CeremonyStatus(ctx, adminapi.CeremonyID(id))
	if err != nil {
		return adminapi.CeremonyStatus{}, err
	}
	return *st, nil
}

func (r remoteMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	return r.p.ActivateCeremony(ctx, id, transcript)
}

func (r remoteMember) finalize(ctx context.Context, id [32]byte) error {
	return r.p.FinalizeCeremony(ctx, id)
}

func (r remoteMember) abort(ctx context.Context, id [32]byte, reason string) error {
	return r.p.AbortCeremony(ctx, adminapi.CeremonyID(id), reason)
}

// localMember is the coordinator's own participant.
type localMember struct{ s *Service }

func (l localMember) memberID() tss.ID { return l.s.env.cfg.Self }

func (l localMember) join(_ context.Context, p *plan) error {
	_, e := l.s.join(p)
	return web.AsStatusError(e)
}

func (l localMember) ceremony(id [32]byte) (*ceremony, error) {
	c, ok := l.s.get(id)
	if !ok {
		return nil, web.AsStatusError(web.Refuse(http.StatusNotFound, "unknown_ceremony", "%v", adminapi.ErrUnknownCeremony))
	}
	return c, nil
}

func (l localMember) status(_ context.Context, id [32]byte) (adminapi.CeremonyStatus, error) {
	c, err := l.ceremony(id)
	if err != nil {
		return adminapi.CeremonyStatus{}, err
	}
	return c.status(), nil
}

func (l localMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	c, err := l.ceremony(id)
	if err != nil {
		return err
	}
	var t [32]byte
	if err := deposit.LowerHex(transcript, t[:]); err != nil {
		return web.AsStatusError(web.Refuse(http.StatusBadRequest, "bad_request", "transcript: %v", err))
	}
	return web.AsStatusError(c.activate(ctx, t))
}

func (l localMember) finalize(ctx context.Context, id [32]byte) error {
	c, err := l.ceremony(id)
	if err != nil {
		return err
	}
	return web.AsStatusError(c.finalize(ctx))
}

func (l localMember) abort(ctx context.Context, id [32]byte, reason string) error {
	c, ok := l.s.get(id)
	if !ok {
		return web.AsStatusError(l.s.tombstone(id, reason))
	}
	c.abort(ctx, reason)
	return nil
}
