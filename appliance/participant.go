package appliance

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/parallel"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// participant is the signing path of DESIGN.md section 4 for this signer's
// shares. Every partial signature leaves through signOne or signBatch, after
// authorisation, strict decoding, the network check, the recomputed signing
// root and, for blocks and attestations, a durable slashing record.
type participant struct {
	id       tss.ID
	net      *network.Network
	gvr      protect.Root
	accounts *accounts
	db       *protect.DB
	z        *authz
	audit    *audit.Log
	members  []api.Participant
	metrics  *metrics
	log      *slog.Logger
	now      func() time.Time
	// futureEpochs is slashing.future_epochs: how many epochs beyond the
	// clock's current one blocks, attestations and aggregates may be.
	futureEpochs uint64
	// dbFailed is told when a request finds the slashing database failed
	// (it takes the slashing_db health check down).
	dbFailed func(error)
	// votes is the attestation data recently signed, named by a refused
	// double vote (conflict.go).
	votes *signedVotes
}

// lookup applies account authorisation (authz.partialAccount) and finds
// the share: 404 for an unknown one.
func (p *participant) lookup(client string, key api.PublicKey, t signing.Type) (*account, *apiError) {
	if e := p.z.partialAccount(client, key, t); e != nil {
		return nil, e
	}
	acc, ok := p.accounts.get(key)
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key)
	}
	return acc, nil
}

// verify runs steps 3 to 5 on a decoded, authorised request
// (verifyRequest).
func (p *participant) verify(req *signing.Request) (*signing.Signable, *apiError) {
	return verifyRequest(p.net, p.now(), p.futureEpochs, req)
}

// signOne handles POST /api/v1/eth2/distributed/sign/{identifier}.
func (p *participant) signOne(ctx context.Context, client string, key api.PublicKey, body []byte) (api.PartialSignature, signing.Type, *apiError) {
	if e := p.z.partialCaller(client); e != nil {
		return api.PartialSignature{}, "", e
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		return api.PartialSignature{}, "", requestError(err)
	}
	granted, aerr := p.z.partialRequest(client, key, req)
	if aerr != nil {
		return api.PartialSignature{}, req.Type, aerr
	}
	sg, aerr := p.verify(req)
	if aerr != nil {
		return api.PartialSignature{}, req.Type, aerr
	}
	lookupAs := client
	if granted {
		lookupAs = selfClient // a ceremony's account, granted above
	}
	acc, aerr := p.lookup(lookupAs, key, req.Type)
	if aerr != nil {
		return api.PartialSignature{}, req.Type, aerr
	}
	sig, aerr := p.sign(ctx, client, acc, sg)
	if aerr != nil {
		return api.PartialSignature{}, req.Type, aerr
	}
	return api.PartialSignature{ParticipantID: api.Uint64(p.id), SigningRoot: api.Root(sg.SigningRoot), Signature: sig.Bytes()}, req.Type, nil
}

// sign makes one partial signature, through a durable slashing permit
// for blocks and attestations (approve), and returns it once its audit
// record is durable too.
func (p *participant) sign(ctx context.Context, client string, acc *account, sg *signing.Signable) (*bls.Signature, *apiError) {
	ap, err := p.approve(ctx, client, sg, []*account{acc})
	if err == nil {
		err = ap.refused[0]
	}
	if err != nil {
		return nil, p.refusal(ctx, err)
	}
	sig, err := ap.sign(0, acc, sg.SigningRoot)
	if errors.Is(err, errRemoved) {
		return nil, refuse(http.StatusNotFound, "unknown_account", "%v", err)
	}
	if err != nil {
		return nil, protectError(err)
	}
	if aerr := p.release(client, sg, ap, []*account{acc}); aerr != nil {
		return nil, aerr
	}
	p.votes.add(sg.Vote)
	return sig, nil
}

// auditRecords are the records of partials made for accs.
func (p *participant) auditRecords(client string, sg *signing.Signable, accs []*account) []audit.Record {
	recs := make([]audit.Record, len(accs))
	now := p.now().UTC()
	for i, a := range accs {
		recs[i] = audit.Record{Time: now, Kind: audit.KindPartial, Type: string(sg.Type), PublicKey: a.key.String(), SigningRoot: api.Root(sg.SigningRoot).String(), Client: client}
	}
	return recs
}

// record appends audit records for released partials; on failure nothing
// may be released.
func (p *participant) record(client string, sg *signing.Signable, accs []*account) *apiError {
	return p.durable(p.audit.Write(p.auditRecords(client, sg, accs)...), len(accs))
}

// durable waits until records written are on disk and counts the n
// partials they release; on failure nothing may be released. A record
// written for a partial that is then not released (the slashing commit
// failed, the account was removed meanwhile) stays in the log: a record
// means a partial was made available, never less.
func (p *participant) durable(pend audit.Pending, n int) *apiError {
	if err := pend.Wait(); err != nil {
		p.log.Error("audit log write failed; signatures withheld", "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
	}
	p.metrics.signatures.WithLabelValues("partial").Add(float64(n))
	return nil
}

// signBatch handles POST /api/v1/eth2/distributed/sign. Errors common to
// the batch (who is asking, the body, the shared request) fail it whole;
// everything per key (authorisation, account, slashing protection) is
// answered per item, with the status the single request would get.
func (p *participant) signBatch(ctx context.Context, client string, body []byte) ([]api.PartialBatchResult, signing.Type, *apiError) {
	if e := p.z.partialCaller(client); e != nil {
		return nil, "", e
	}
	b, err := signing.ParseBatch(body)
	if err != nil {
		return nil, "", requestError(err)
	}
	out := make([]api.PartialBatchResult, len(b.Identifiers))
	_, aerr := p.z.partialRequest(client, api.PublicKey{}, b.Request)
	var sg *signing.Signable
	if aerr == nil {
		sg, aerr = p.verify(b.Request)
	}
	if aerr != nil {
		if aerr.Code == http.StatusForbidden {
			for i, id := range b.Identifiers {
				out[i] = api.PartialBatchResult{Identifier: api.PublicKey(id), Error: &api.Error{Code: aerr.Code, Message: aerr.Msg}}
			}
			p.metrics.refusals.WithLabelValues(aerr.Reason).Add(float64(len(out)))
			return out, b.Request.Type, nil
		}
		return nil, b.Request.Type, aerr
	}
	if sg.Proposal != nil {
		// Only attestations are approved below as a burst; a block signed
		// here would skip slashing protection. ParseBatch refuses block
		// types, so this holds whatever becomes batchable.
		return nil, b.Request.Type, refuse(http.StatusBadRequest, "bad_request", "%s requests cannot be batched", b.Request.Type)
	}
	accs := make([]*account, len(b.Identifiers))
	fail := func(i int, e *apiError) {
		out[i].Error = e.APIError()
		p.metrics.refusals.WithLabelValues(e.Reason).Inc()
	}
	for i, id := range b.Identifiers {
		out[i].Identifier = api.PublicKey(id)
		acc, aerr := p.lookup(client, api.PublicKey(id), b.Request.Type)
		if aerr != nil {
			fail(i, aerr)
			continue
		}
		accs[i] = acc
	}

	// Slashing protection for the whole slot burst in one durable commit.
	ap, err := p.approve(ctx, client, sg, accs)
	if err != nil {
		return nil, b.Request.Type, protectError(err)
	}
	for i, err := range ap.refused {
		if err != nil && accs[i] != nil {
			fail(i, p.refusal(ctx, err))
			accs[i] = nil
		}
	}
	sigs := make([]*bls.Signature, len(accs))
	errs := make([]error, len(accs))
	parallel.For(len(accs), func(i int) {
		if acc := accs[i]; acc != nil {
			sigs[i], errs[i] = ap.sign(i, acc, sg.SigningRoot)
		}
	})
	var released []*account
	for i, acc := range accs {
		if acc == nil {
			continue
		}
		if errors.Is(errs[i], errRemoved) {
			fail(i, refuse(http.StatusNotFound, "unknown_account", "%v", errs[i]))
			accs[i] = nil
			continue
		}
		if errs[i] != nil {
			fail(i, protectError(errs[i]))
			accs[i] = nil
			continue
		}
		released = append(released, acc)
	}
	if len(released) > 0 {
		if aerr := p.release(client, sg, ap, released); aerr != nil {
			return nil, b.Request.Type, aerr
		}
		p.votes.add(sg.Vote)
	}
	id := api.Uint64(p.id)
	root := api.Root(sg.SigningRoot)
	for i, acc := range accs {
		if acc == nil {
			continue
		}
		s := api.Signature(sigs[i].Bytes())
		out[i].ParticipantID, out[i].SigningRoot, out[i].Signature = &id, &root, &s
	}
	return out, b.Request.Type, nil
}

// accountViews lists the accounts client may see, in the distributed
// profile's shape.
func (p *participant) accountViews(client string) []api.Account {
	var out []api.Account
	for _, k := range p.accounts.keys() {
		if !p.z.sees(client, k) {
			continue
		}
		acc, ok := p.accounts.get(k)
		if !ok {
			continue
		}
		out = append(out, p.view(acc))
	}
	if out == nil {
		out = []api.Account{}
	}
	return out
}

func (p *participant) view(acc *account) api.Account {
	return api.Account{
		ParticipantID:      api.Uint64(p.id),
		PublicKey:          api.PublicKey(acc.component.Bytes()),
		CompositePublicKey: acc.key,
		SigningThreshold:   api.Uint64(acc.threshold),
		Participants:       p.membersOf(acc),
	}
}

// membersOf lists the account's members with their endpoints.
func (p *participant) membersOf(acc *account) []api.Participant {
	if len(acc.members) == len(p.members) {
		return p.members // every participant (members are all in the cluster)
	}
	out := make([]api.Participant, 0, len(acc.members))
	for _, m := range p.members {
		if slices.Contains(acc.members, uint64(m.ID)) {
			out = append(out, m)
		}
	}
	return out
}

// local adapts the participant for the signer's own coordinator.
type local struct{ p *participant }

func (l local) ID() tss.ID { return l.p.id }

func (l local) Accounts(context.Context) ([]api.Account, error) {
	return l.p.accountViews(selfClient), nil
}

func (l local) SignPartial(ctx context.Context, key api.PublicKey, request []byte) (api.PartialSignature, error) {
	ps, _, aerr := l.p.signOne(withConflicts(ctx), selfClient, key, request)
	if aerr != nil {
		return ps, web.AsStatusError(aerr)
	}
	return ps, nil
}

func (l local) SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error) {
	rs, _, aerr := l.p.signBatch(withConflicts(ctx), selfClient, body)
	if aerr != nil {
		return nil, web.AsStatusError(aerr)
	}
	return rs, nil
}
