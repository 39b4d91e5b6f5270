package adminapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// maxAnswer bounds an administrative answer: the coordination status of a
// ceremony of MaxCeremonyValidators carries every deposit (about 80 MB),
// and a list of removed shares at its bound is about 50 MB.
const maxAnswer = 128 << 20

// Client is one signer's administrative API, over the signer's one
// mutual-TLS client (internal/peer), which a coordinator of the same
// identity may share. Calls carry the administrative proof given with
// WithToken or RelayFor.
type Client struct {
	c *peer.Client
	// proof is the administrative proof sent with every request.
	proof http.Header
}

// NewClient returns the administrative client of the signer c reaches.
func NewClient(c *peer.Client) *Client { return &Client{c: c} }

// ID is the participant id.
func (c *Client) ID() tss.ID { return c.c.ID() }

// Peer is the connection the client uses.
func (c *Client) Peer() *peer.Client { return c.c }

// WithToken returns the client sending the administrative token with every
// request (rampartctl, as an administrator). Both share one connection
// pool.
func (c *Client) WithToken(tok Token) *Client {
	return &Client{c: c.c, proof: proofHeader(tok, "")}
}

// RelayFor returns the client carrying administrator x's proof: its token
// and, since the caller is then a peer of the signer it calls, the
// administrator's name.
func (c *Client) RelayFor(x Actor) *Client {
	return &Client{c: c.c, proof: proofHeader(x.Token, x.Admin())}
}

// do sends in as JSON and decodes a 200 answer into out (when not nil).
// A refusal is a *peer.StatusError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		defer clear(b) // a stage request carries shares
		body = b
	}
	data, err := c.c.Do(ctx, peer.Request{Method: method, Path: path, Body: body, Header: c.proof, MaxResponse: maxAnswer})
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("participant %s: malformed answer: %w", c.ID(), err)
	}
	return nil
}

// Stage sends the signer its shares of new accounts.
func (c *Client) Stage(ctx context.Context, req *StageRequest) ([]api.PublicKey, error) {
	var resp StageResponse
	if err := c.do(ctx, http.MethodPost, PathAccounts, req, &resp); err != nil {
		return nil, err
	}
	if len(resp.ComponentPublicKeys) != len(req.Accounts) {
		return nil, fmt.Errorf("participant %s: %d component keys for %d accounts", c.ID(), len(resp.ComponentPublicKeys), len(req.Accounts))
	}
	return resp.ComponentPublicKeys, nil
}

// Activate makes staged accounts signable at the signer.
func (c *Client) Activate(ctx context.Context, keys []api.PublicKey) error {
	return c.do(ctx, http.MethodPost, PathAccounts+"/activate", KeysRequest{Keys: keys}, nil)
}

// Discard drops staged accounts at the signer.
func (c *Client) Discard(ctx context.Context, keys []api.PublicKey) error {
	return c.do(ctx, http.MethodPost, PathAccounts+"/discard", KeysRequest{Keys: keys}, nil)
}

// Remove takes an account off the signer and returns its slashing
// protection history and whether the signer held it.
func (c *Client) Remove(ctx context.Context, key api.PublicKey) (json.RawMessage, bool, error) {
	var resp RemoveResponse
	err := c.do(ctx, http.MethodDelete, PathAccounts+"/"+key.String(), nil, &resp)
	if peer.Status(err) == http.StatusNotFound {
		return nil, false, nil
	}
	return resp.SlashingProtection, resp.Removed, err
}

// Prove asks the signer for its proof of possession of each key.
func (c *Client) Prove(ctx context.Context, keys []api.PublicKey) ([]api.Signature, error) {
	var resp ProofResponse
	if err := c.do(ctx, http.MethodPost, PathAccounts+"/proof", KeysRequest{Keys: keys}, &resp); err != nil {
		return nil, err
	}
	if tss.ID(resp.ParticipantID) != c.ID() || len(resp.Signatures) != len(keys) {
		return nil, fmt.Errorf("participant %s: proof of participant %d with %d signatures for %d accounts", c.ID(), resp.ParticipantID, len(resp.Signatures), len(keys))
	}
	return resp.Signatures, nil
}

// Held returns the state of each account at the signer (AccountActive,
// AccountStaged or AccountAbsent), in order.
func (c *Client) Held(ctx context.Context, keys []api.PublicKey) ([]string, error) {
	var resp HeldResponse
	if err := c.do(ctx, http.MethodPost, PathAccounts+"/held", KeysRequest{Keys: keys}, &resp); err != nil {
		return nil, err
	}
	if len(resp.States) != len(keys) {
		return nil, fmt.Errorf("participant %s: %d states for %d accounts", c.ID(), len(resp.States), len(keys))
	}
	return resp.States, nil
}

// Removed lists the removed shares awaiting destruction at the signer.
func (c *Client) Removed(ctx context.Context) (*RemovedResponse, error) {
	var resp RemovedResponse
	if err := c.do(ctx, http.MethodGet, PathAccounts+"/removed", nil, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Restore brings back a removed account whose share the signer has not
// destroyed yet. A signer with nothing to restore answers 404 (matching
// [ErrNotPending]).
func (c *Client) Restore(ctx context.Context, key api.PublicKey) error {
	err := c.do(ctx, http.MethodPost, PathAccounts+"/"+key.String()+"/restore", struct{}{}, nil)
	if peer.Status(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotPending, err)
	}
	return err
}

// CeremonyID is a ceremony's id as it appears in paths and logs.
func CeremonyID(id [32]byte) string { return hex.EncodeToString(id[:]) }

// ParseCeremonyID parses a ceremony id (64 hex digits).
func ParseCeremonyID(s string) ([32]byte, error) {
	var id [32]byte
	if len(s) != 64 {
		return id, fmt.Errorf("ceremony id %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("ceremony id %q: not hexadecimal", s)
	}
	return id, nil
}

// StartCeremony asks the signer to coordinate a ceremony and returns its
// id.
func (c *Client) StartCeremony(ctx context.Context, req *StartCeremonyRequest) (string, error) {
	var resp StartCeremonyResponse
	if err := c.do(ctx, http.MethodPost, PathCeremonies, req, &resp); err != nil {
		return "", err
	}
	if _, err := ParseCeremonyID(resp.ID); err != nil {
		return "", fmt.Errorf("participant %s: %w", c.ID(), err)
	}
	return resp.ID, nil
}

// StartReshare asks the signer to coordinate a resharing of existing
// accounts and returns its ceremony id.
func (c *Client) StartReshare(ctx context.Context, req *StartReshareRequest) (string, error) {
	var resp StartCeremonyResponse
	if err := c.do(ctx, http.MethodPost, PathCeremonies+"/reshare", req, &resp); err != nil {
		return "", err
	}
	if _, err := ParseCeremonyID(resp.ID); err != nil {
		return "", fmt.Errorf("participant %s: %w", c.ID(), err)
	}
	return resp.ID, nil
}

// CeremonyStatus returns the signer's view of a ceremony (with the
// coordination, if it coordinates it). An unknown ceremony matches
// [ErrUnknownCeremony].
func (c *Client) CeremonyStatus(ctx context.Context, id string) (*CeremonyStatus, error) {
	var st CeremonyStatus
	if err := c.do(ctx, http.MethodGet, PathCeremonies+"/"+id, nil, &st); err != nil {
		return nil, ceremonyError(err)
	}
	return &st, nil
}

// WaitCeremony is CeremonyStatus once the status has moved past version
// after (CeremonyStatus.Version), or once wait has passed (the signer cuts
// it to its own bound), whichever comes first: the changes of a ceremony
// as they happen, without polling.
func (c *Client) WaitCeremony(ctx context.Context, id string, after uint64, wait time.Duration) (*CeremonyStatus, error) {
	var st CeremonyStatus
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "wait": {wait.String()}}
	if err := c.do(ctx, http.MethodGet, PathCeremonies+"/"+id+"?"+q.Encode(), nil, &st); err != nil {
		return nil, ceremonyError(err)
	}
	return &st, nil
}

// AbortCeremony ends a ceremony (everywhere, when the signer coordinates
// it).
func (c *Client) AbortCeremony(ctx context.Context, id, reason string) error {
	return ceremonyError(c.do(ctx, http.MethodPost, PathCeremonies+"/"+id+"/abort", AbortRequest{Reason: reason}, nil))
}

// JoinCeremony sends a participant the plan of a ceremony this signer
// coordinates (plan is its JSON), relaying the administrator's start.
func (c *Client) JoinCeremony(ctx context.Context, id [32]byte, plan json.RawMessage) error {
	return ceremonyError(c.do(ctx, http.MethodPut, PathCeremonies+"/"+CeremonyID(id), plan, nil))
}

// DeliverCeremonyMessage sends a participant one dkg message.
func (c *Client) DeliverCeremonyMessage(ctx context.Context, id [32]byte, msg []byte) error {
	return ceremonyError(c.do(ctx, http.MethodPost, PathCeremonies+"/"+CeremonyID(id)+"/messages", MessageRequest{Message: msg}, nil))
}

// ActivateCeremony asks a participant to activate the ceremony's accounts,
// whose transcript every participant reported.
func (c *Client) ActivateCeremony(ctx context.Context, id [32]byte, transcript string) error {
	return ceremonyError(c.do(ctx, http.MethodPost, PathCeremonies+"/"+CeremonyID(id)+"/activate", ActivateRequest{Transcript: transcript}, nil))
}

// CeremonyHistory asks a helper of a share repair, as the repaired
// participant, for the slashing protection history (an EIP-3076
// document) of one batch's accounts.
func (c *Client) CeremonyHistory(ctx context.Context, id [32]byte, batch int) ([]byte, error) {
	var doc json.RawMessage
	if err := c.do(ctx, http.MethodGet, PathCeremonies+"/"+CeremonyID(id)+"/history?batch="+strconv.Itoa(batch), nil, &doc); err != nil {
		return nil, ceremonyError(err)
	}
	return doc, nil
}

// FinalizeCeremony tells a participant the ceremony is complete.
func (c *Client) FinalizeCeremony(ctx context.Context, id [32]byte) error {
	return ceremonyError(c.do(ctx, http.MethodPost, PathCeremonies+"/"+CeremonyID(id)+"/finalize", struct{}{}, nil))
}

// ceremonyError adds to a signer's refusal the sentinel error the caller
// decides on; the refusal's status stays readable with peer.Status.
func ceremonyError(err error) error {
	switch peer.Status(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrUnknownCeremony, err)
	case http.StatusGone:
		return fmt.Errorf("%w: %w", ErrCeremonyAborted, err)
	}
	return err
}
