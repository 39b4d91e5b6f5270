package coordinator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// HTTPParticipant talks to a participant's distributed endpoints over
// the signer's one mutual-TLS client (internal/peer), which it may share
// with the administrative client of the same signer.
type HTTPParticipant struct {
	c *peer.Client
}

// NewHTTPParticipant returns a participant at endpoint (an https:// origin,
// no path) with a client of its own. tlsConfig carries the client
// certificate and the cluster CA; its ServerName is set to serverName so
// the peer must present a certificate for the configured TLS name,
// whatever address it is reached at.
func NewHTTPParticipant(id tss.ID, endpoint, serverName string, tlsConfig *tls.Config) (*HTTPParticipant, error) {
	c, err := peer.New(id, endpoint, serverName, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	return Over(c), nil
}

// Over returns the participant reached through c.
func Over(c *peer.Client) *HTTPParticipant { return &HTTPParticipant{c: c} }

// ID implements Participant.
func (p *HTTPParticipant) ID() tss.ID { return p.c.ID() }

// Endpoint returns the participant's origin.
func (p *HTTPParticipant) Endpoint() string { return p.c.Endpoint() }

// Close drops idle connections.
func (p *HTTPParticipant) Close() { p.c.Close() }

// Accounts implements Participant.
func (p *HTTPParticipant) Accounts(ctx context.Context) ([]api.Account, error) {
	body, err := p.do(ctx, http.MethodGet, "/api/v1/eth2/distributed/accounts", nil)
	if err != nil {
		return nil, err
	}
	return api.DecodeAccounts(body)
}

// Healthcheck asks the participant's /healthcheck: nil when it answers
// 200 (it has unsealed its shares, opened its database and is ready to
// sign), else a *StatusError or the transport error.
func (p *HTTPParticipant) Healthcheck(ctx context.Context) error {
	_, err := p.do(ctx, http.MethodGet, "/healthcheck", nil)
	return err
}

// SignPartial implements Participant.
func (p *HTTPParticipant) SignPartial(ctx context.Context, identifier api.PublicKey, request []byte) (api.PartialSignature, error) {
	body, err := p.sign(ctx, "/api/v1/eth2/distributed/sign/"+identifier.String(), request)
	if err != nil {
		return api.PartialSignature{}, err
	}
	return api.DecodePartialSignature(body)
}

// SignPartialBatch implements Participant.
func (p *HTTPParticipant) SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error) {
	resp, err := p.sign(ctx, "/api/v1/eth2/distributed/sign", body)
	if err != nil {
		return nil, err
	}
	return api.DecodePartialBatchResults(resp)
}

func (p *HTTPParticipant) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return p.c.Do(ctx, peer.Request{Method: method, Path: path, Body: body})
}

// conflictWanted asks a signer to name what it already signed when it
// refuses a double vote (api.Conflict): the coordinator hands it to its
// caller, so that a second validator client signs the same data.
var conflictWanted = http.Header{api.ConflictHeader: {"1"}}

func (p *HTTPParticipant) sign(ctx context.Context, path string, body []byte) ([]byte, error) {
	return p.c.Do(ctx, peer.Request{Method: http.MethodPost, Path: path, Body: body, Header: conflictWanted})
}
