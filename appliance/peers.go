package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/tss"
)

// Peer is one signer's administrative API, reached over mutual TLS by
// rampartctl or by another signer. Administrative calls carry the
// administrative token given with WithAdminToken.
type Peer struct {
	id       tss.ID
	endpoint string
	client   *http.Client
	// token and onBehalfOf are the administrative proof sent with every
	// request: the bearer token and, when a signer relays an
	// administrator's request, the administrator's name.
	token      AdminToken
	onBehalfOf string
}

// ID is the participant id.
func (p *Peer) ID() tss.ID { return p.id }

// NewPeer returns the administrative client of one participant. tlsConfig
// carries the caller's client certificate and the cluster CA; the peer
// must present a certificate for tlsName.
func NewPeer(p ParticipantConfig, tlsConfig *tls.Config) *Peer {
	tc := tlsConfig.Clone()
	tc.ServerName = p.TLSName
	tc.MinVersion = tls.VersionTLS13
	return &Peer{
		id:       tss.ID(p.ID),
		endpoint: p.Endpoint,
		client:   &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, IdleConnTimeout: time.Minute}},
	}
}

// WithAdminToken returns the peer sending the administrative token with
// every request (rampartctl, as an administrator). The peers share one
// connection pool.
func (p *Peer) WithAdminToken(tok AdminToken) *Peer {
	return p.withAdminProof(tok, "")
}

// withAdminProof returns the peer sending the token and, when onBehalfOf
// is set, the administrator a signer relays for.
func (p *Peer) withAdminProof(tok AdminToken, onBehalfOf string) *Peer {
	q := *p
	q.token, q.onBehalfOf = tok, onBehalfOf
	return &q
}

// Participant returns the peer as a coordinator participant (for signing
// through the distributed endpoints with the same identity).
func (p *Peer) Participant(tlsName string, tlsConfig *tls.Config) (*coordinator.HTTPParticipant, error) {
	return coordinator.NewHTTPParticipant(p.id, p.endpoint, tlsName, tlsConfig)
}

// Do sends a JSON request and decodes a JSON answer into out (when not
// nil). A non-200 answer is a *coordinator.StatusError.
func (p *Peer) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		defer clear(b)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.endpoint+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if !p.token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+p.token.Hex())
	}
	if p.onBehalfOf != "" {
		req.Header.Set(HeaderOnBehalfOf, p.onBehalfOf)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		se := &coordinator.StatusError{Code: resp.StatusCode}
		if e, err := api.DecodeError(data); err == nil {
			se.Message = e.Message
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("participant %s: malformed answer: %w", p.id, err)
	}
	return nil
}

// Stage sends this participant its shares of new accounts.
func (p *Peer) Stage(ctx context.Context, req *StageRequest) ([]api.PublicKey, error) {
	var resp StageResponse
	if err := p.Do(ctx, http.MethodPost, pathAccounts, req, &resp); err != nil {
		return nil, err
	}
	if len(resp.ComponentPublicKeys) != len(req.Accounts) {
		return nil, fmt.Errorf("participant %s: %d component keys for %d accounts", p.id, len(resp.ComponentPublicKeys), len(req.Accounts))
	}
	return resp.ComponentPublicKeys, nil
}

// Activate makes staged accounts signable at this participant.
func (p *Peer) Activate(ctx context.Context, keys []api.PublicKey) error {
	return p.Do(ctx, http.MethodPost, pathAccounts+"/activate", KeysRequest{Keys: keys}, nil)
}

// Discard drops staged accounts at this participant.
func (p *Peer) Discard(ctx context.Context, keys []api.PublicKey) error {
	return p.Do(ctx, http.MethodPost, pathAccounts+"/discard", KeysRequest{Keys: keys}, nil)
}

// Remove takes an account off this participant and returns its slashing
// protection history.
func (p *Peer) Remove(ctx context.Context, key api.PublicKey) (json.RawMessage, bool, error) {
	var resp RemoveResponse
	err := p.Do(ctx, http.MethodDelete, pathAccounts+"/"+key.String(), nil, &resp)
	if coordinator.Status(err) == http.StatusNotFound {
		return nil, false, nil
	}
	return resp.SlashingProtection, resp.Removed, err
}

// Prove asks this participant for its proof of possession of each key.
func (p *Peer) Prove(ctx context.Context, keys []api.PublicKey) ([]api.Signature, error) {
	var resp ProofResponse
	if err := p.Do(ctx, http.MethodPost, pathAccounts+"/proof", KeysRequest{Keys: keys}, &resp); err != nil {
		return nil, err
	}
	if tss.ID(resp.ParticipantID) != p.id || len(resp.Signatures) != len(keys) {
		return nil, fmt.Errorf("participant %s: proof of participant %d with %d signatures for %d accounts", p.id, resp.ParticipantID, len(resp.Signatures), len(keys))
	}
	return resp.Signatures, nil
}

// Removed lists the removed shares awaiting destruction at this
// participant.
func (p *Peer) Removed(ctx context.Context) (*RemovedResponse, error) {
	var resp RemovedResponse
	if err := p.Do(ctx, http.MethodGet, pathAccounts+"/removed", nil, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Restore brings back a removed account whose share this participant has
// not destroyed yet. A participant with nothing to restore answers 404
// (matching [ErrNotPending]).
func (p *Peer) Restore(ctx context.Context, key api.PublicKey) error {
	err := p.Do(ctx, http.MethodPost, pathAccounts+"/"+key.String()+"/restore", struct{}{}, nil)
	if coordinator.Status(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotPending, err)
	}
	return err
}
