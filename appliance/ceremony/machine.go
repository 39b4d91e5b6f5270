package ceremony

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
	"github.com/rampart-signer/rampart/tss/reshare"
)

// machine is a batch's state machine: a key generation (tss/dkg) or a
// refresh (tss/reshare). Both run the same rounds with the same message
// kinds and the same wire header, so a batch carries either alike.
type machine interface {
	Deliver(from tss.ID, msg []byte) error
	// Snapshot is the state to seal; the caller zeroes it.
	Snapshot() []byte
	Outbox() []dkg.Message
	Waiting() []tss.ID
	Phase() dkg.Phase
	// Result is the finished batch: its transcript and, per validator,
	// the account and this participant's share.
	Result() (transcript [32]byte, validators []dkg.Validator, err error)
	Abort(reason string)
	Zero()
}

// aborted reports whether a state machine's error ended its batch.
func aborted(err error) bool {
	return errors.Is(err, dkg.ErrAborted) || errors.Is(err, reshare.ErrAborted)
}

type dkgMachine struct{ *dkg.Participant }

func (m dkgMachine) Deliver(from tss.ID, msg []byte) error {
	_, err := m.Participant.Deliver(from, msg)
	return err
}

func (m dkgMachine) Snapshot() []byte { return m.Participant.Snapshot() }

func (m dkgMachine) Result() ([32]byte, []dkg.Validator, error) {
	r, err := m.Participant.Result()
	if err != nil {
		return [32]byte{}, nil, err
	}
	return r.Transcript, r.Validators, nil
}

type reshareMachine struct{ *reshare.Participant }

func (m reshareMachine) Deliver(from tss.ID, msg []byte) error {
	_, err := m.Participant.Deliver(from, msg)
	return err
}

func (m reshareMachine) Snapshot() []byte { return m.Participant.Snapshot() }

func (m reshareMachine) Outbox() []dkg.Message {
	out := m.Participant.Outbox()
	msgs := make([]dkg.Message, len(out))
	for i, o := range out {
		msgs[i] = dkg.Message{To: o.To, Kind: o.Kind, Bytes: o.Bytes}
	}
	return msgs
}

func (m reshareMachine) Result() ([32]byte, []dkg.Validator, error) {
	r, err := m.Participant.Result()
	if err != nil {
		return [32]byte{}, nil, err
	}
	return r.Transcript, r.Validators, nil
}

// protocol is what a batch starts and resumes: the batch's state machine
// of its plan's kind, with its session id and size.
type protocol struct {
	validators int
	session    [32]byte
	dkg        dkg.Config
	reshare    *reshare.Config // a refresh
}

func newProtocol(p *plan, id [32]byte, i int) (protocol, error) {
	if p.reshares() {
		cfg, err := p.reshareConfig(id, i)
		if err != nil {
			return protocol{}, err
		}
		return protocol{validators: len(cfg.Accounts), session: cfg.SessionID(), reshare: &cfg}, nil
	}
	cfg := p.batchConfig(id, i)
	return protocol{validators: cfg.Validators, session: cfg.CeremonyID(), dkg: cfg}, nil
}

// start makes this participant's state machine for the batch; a dealer
// deals at once. A refresh deals this signer's current shares, copied
// from its accounts and zeroed once the state machine holds its own copy.
func (pr protocol) start(ctx context.Context, e *env, self tss.ID) (machine, error) {
	if pr.reshare == nil {
		p, err := dkg.New(pr.dkg, self, e.cfg.Rand)
		if err != nil {
			return nil, err
		}
		return dkgMachine{p}, nil
	}
	old, err := pr.held(ctx, e, self)
	if err != nil {
		return nil, err
	}
	defer zeroShares(old)
	p, err := reshare.New(*pr.reshare, self, old, e.cfg.Rand)
	if err != nil {
		return nil, err
	}
	return reshareMachine{p}, nil
}

// resume restores the batch's state machine from its snapshot.
func (pr protocol) resume(ctx context.Context, e *env, self tss.ID, snap []byte) (machine, error) {
	if pr.reshare == nil {
		p, err := dkg.Resume(snap, e.cfg.Rand)
		if err != nil {
			return nil, err
		}
		if p.CeremonyID() != pr.session {
			p.Zero()
			return nil, errors.New("the snapshot belongs to another batch")
		}
		return dkgMachine{p}, nil
	}
	old, err := pr.held(ctx, e, self)
	if err != nil {
		return nil, err
	}
	defer zeroShares(old)
	p, err := reshare.Resume(*pr.reshare, self, old, snap, e.cfg.Rand)
	if err != nil {
		return nil, err
	}
	return reshareMachine{p}, nil
}

// held copies this signer's current shares of the batch's accounts; the
// member a repair gives its shares holds none.
func (pr protocol) held(ctx context.Context, e *env, self tss.ID) ([]*tss.Share, error) {
	if pr.reshare.Mode != reshare.ModeRefresh && !slices.Contains(pr.reshare.Dealers, self) {
		return nil, nil // a repaired or joining member, or one that does not deal
	}
	if e.deps.Refreshes == nil {
		return nil, errors.New("this signer cannot reshare")
	}
	keys := make([]api.PublicKey, len(pr.reshare.Accounts))
	for i, a := range pr.reshare.Accounts {
		keys[i] = api.PublicKey(a.Composite.Bytes())
	}
	held, err := e.deps.Refreshes.Held(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("current shares: %w", err)
	}
	out := make([]*tss.Share, len(held))
	for i, h := range held {
		s, err := tss.NewShare(self, h.Secret)
		if err != nil {
			for _, x := range held[i:] {
				x.Secret.Zero()
			}
			zeroShares(out[:i])
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func zeroShares(s []*tss.Share) {
	for _, x := range s {
		if x != nil {
			x.Zero()
		}
	}
}
