package appliance

import (
	"context"
	"errors"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// approval is what slashing protection decided for signing one request
// with some accounts (DESIGN.md section 4, step 6).
type approval struct {
	// permits holds one permit per account for a slashable request, and
	// is nil for a request that is not slashable (signed with the share
	// directly).
	permits []protect.Permit
	// refused says, per account, why it may not sign (nil: it may).
	refused []error
	// pend are the audit records of what passed the rules, written as the
	// rules decided, so that their fsync overlaps the slashing commit's.
	pend    audit.Pending
	written bool
}

// errBlocksOneAtATime: a block proposal is approved for one account at a
// time (ParseBatch refuses block types; this holds whatever becomes
// batchable).
var errBlocksOneAtATime = errors.New("block proposals are approved one account at a time")

// approve is the one routing of requests to slashing protection: a block
// proposal gets a durable permit for its one account, an attestation a
// durable permit per account (a slot burst in one commit), and any other
// request none. nil accounts are skipped. The error is for the request as
// a whole; refusals of single accounts are in the approval.
func (p *participant) approve(ctx context.Context, client string, sg *signing.Signable, accs []*account) (ap *approval, err error) {
	defer func() { p.watchDB(ap, err) }()
	ap = &approval{refused: make([]error, len(accs))}
	if sg.Proposal == nil && sg.Vote == nil {
		return ap, nil
	}
	ap.permits = make([]protect.Permit, len(accs))
	var live []int
	for i, acc := range accs {
		if acc != nil {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return ap, nil
	}
	// The records are written once the rules passed, so that their fsync
	// runs while the slashing commit's does (the audit log's syncer starts
	// it).
	decided := protect.WhenDecided(func(ok []bool) {
		var passed []*account
		for k, yes := range ok {
			if yes {
				passed = append(passed, accs[live[k]])
			}
		}
		if len(passed) > 0 {
			ap.pend, ap.written = p.audit.Write(p.auditRecords(client, sg, passed)...), true
		}
	})
	start := p.now()
	defer func() { p.metrics.approve.Observe(p.now().Sub(start).Seconds()) }()
	if b := sg.Proposal; b != nil {
		if len(live) != 1 {
			return nil, errBlocksOneAtATime
		}
		i := live[0]
		ap.permits[i], ap.refused[i] = p.db.ApproveBlock(ctx, p.gvr, protect.PublicKey(accs[i].key),
			protect.Block{Slot: uint64(b.Slot), SigningRoot: protect.Root(b.SigningRoot)}, decided)
		return ap, nil
	}
	v := sg.Vote
	reqs := make([]protect.AttestationRequest, len(live))
	for k, i := range live {
		reqs[k] = protect.AttestationRequest{Key: protect.PublicKey(accs[i].key), Attestation: protect.Attestation{
			Source: uint64(v.SourceEpoch), Target: uint64(v.TargetEpoch), SigningRoot: protect.Root(v.SigningRoot)}}
	}
	verdicts, err := p.db.ApproveAttestations(ctx, p.gvr, reqs, decided)
	if err != nil {
		return nil, err
	}
	for k, vd := range verdicts {
		ap.permits[live[k]], ap.refused[live[k]] = vd.Permit, vd.Err
	}
	return ap, nil
}

// watchDB takes the slashing_db health check down as soon as a request
// finds the database failed (protect.ErrFailed: a write failed, a restart
// is required), not at the checkpoint loop's next look, up to its 30 s
// interval later. Until then /healthcheck said UP while every slashable
// request was refused (seen in the chaos run's disk-full scenario: with
// the space freed the signer looked healthy, and went down for good only
// after the harness had moved on).
func (p *participant) watchDB(ap *approval, err error) {
	if p.dbFailed == nil {
		return
	}
	if errors.Is(err, protect.ErrFailed) {
		p.dbFailed(err)
		return
	}
	if ap == nil {
		return
	}
	for _, e := range ap.refused {
		if errors.Is(e, protect.ErrFailed) {
			p.dbFailed(e)
			return
		}
	}
}

// sign makes account i's partial signature of root: through its permit for
// a slashable request (which must be for the account's key), with the
// share directly otherwise.
func (ap *approval) sign(i int, acc *account, root [32]byte) (*bls.Signature, error) {
	if ap.permits == nil {
		return acc.sign(root)
	}
	return acc.signPermitted(ap.permits[i])
}

// release makes the records of the n partials released durable before
// they leave: those written as the rules decided, or, for a request that
// is not slashable, released now.
func (p *participant) release(client string, sg *signing.Signable, ap *approval, released []*account) *apiError {
	if ap.written {
		return p.durable(ap.pend, len(released))
	}
	return p.record(client, sg, released)
}
