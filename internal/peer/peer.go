// Package peer is the one mutual-TLS HTTP client of one signer. The
// distributed-signing client (coordinator.HTTPParticipant) and the
// administrative client (appliance/adminapi) both wrap a *Client, so that
// a program holds one connection pool per signer and identity, and every
// call to a signer follows the same rules:
//
//   - the signer must present a certificate for its configured TLS name,
//     issued by the caller's roots, over TLS 1.3;
//   - dialling and the TLS handshake are bounded (DialTimeout,
//     HandshakeTimeout), whatever the caller's context allows;
//   - an answer is read up to a bound (DefaultMaxResponse unless the call
//     asks for more); a longer one is an error, never silently cut;
//   - a non-200 answer is a *StatusError carrying the status and the
//     signer's message, decoded in one place.
//
// # Security
//
// The package holds the caller's TLS configuration (its certificate, whose
// key may live in an HSM) and nothing secret of its own; request bodies may
// carry secrets (a share being staged) and are the caller's to zero.
package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// Bounds of every call.
const (
	// DialTimeout bounds the TCP connection.
	DialTimeout = 5 * time.Second
	// HandshakeTimeout bounds the TLS handshake.
	HandshakeTimeout = 10 * time.Second
	// DefaultMaxResponse bounds an answer unless the call asks for more:
	// a batch of 10,000 partial signatures is about 4 MB.
	DefaultMaxResponse = 16 << 20
	// idleTimeout closes a keep-alive connection nobody used for this long.
	idleTimeout = 90 * time.Second
	// maxIdlePerHost keeps enough idle connections for a slot's burst of
	// requests over HTTP/1.1 (HTTP/2 multiplexes over one).
	maxIdlePerHost = 16
)

// ErrResponseTooLarge is returned for an answer longer than the call's
// bound.
var ErrResponseTooLarge = errors.New("answer larger than the bound")

// StatusError is a signer's refusal with an HTTP status (400, 403, 404,
// 412, 503...) and the message of its JSON error body, if it had one.
type StatusError struct {
	Code    int
	Message string
	// Conflict is what the signer already signed, on a double-vote
	// refusal to a caller that asked (api.ConflictHeader).
	Conflict *api.Conflict
}

// FromAPI is the error an API error object stands for.
func FromAPI(e *api.Error) *StatusError {
	return &StatusError{Code: e.Code, Message: e.Message, Conflict: e.Conflict}
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("status %d", e.Code)
	}
	return fmt.Sprintf("status %d: %s", e.Code, e.Message)
}

// Status returns the HTTP status carried by err, or 0.
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// Client calls one signer over mutual TLS with keep-alive HTTP/2.
type Client struct {
	id       tss.ID
	endpoint string
	http     *http.Client
}

// New returns the client of signer id at endpoint (an https:// origin, no
// path). tlsConfig carries the caller's client certificate and the roots;
// its ServerName is set to serverName, so the signer must present a
// certificate for its configured TLS name whatever address it is reached
// at.
func New(id tss.ID, endpoint, serverName string, tlsConfig *tls.Config) (*Client, error) {
	if id == 0 {
		return nil, errors.New("peer: participant id must be non-zero")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("peer: participant %s: endpoint %q is not an https:// origin", id, endpoint)
	}
	if tlsConfig == nil {
		return nil, fmt.Errorf("peer: participant %s: mutual TLS configuration required", id)
	}
	tc := tlsConfig.Clone()
	tc.ServerName = serverName
	tc.MinVersion = tls.VersionTLS13
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     idleTimeout,
		TLSHandshakeTimeout: HandshakeTimeout,
		DialContext:         (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &Client{id: id, endpoint: u.Scheme + "://" + u.Host, http: &http.Client{Transport: tr}}, nil
}

// ID is the participant id the operator configured for this endpoint.
func (c *Client) ID() tss.ID { return c.id }

// Endpoint is the signer's origin.
func (c *Client) Endpoint() string { return c.endpoint }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Request is one call.
type Request struct {
	Method string
	// Path starts with "/".
	Path string
	// Body is sent as JSON when not nil.
	Body []byte
	// Header is added to the request (an administrative proof).
	Header http.Header
	// MaxResponse bounds the answer; DefaultMaxResponse when zero.
	MaxResponse int64
}

// Do sends r and returns the body of a 200 answer. Any other status is a
// *StatusError; an answer longer than the bound wraps
// ErrResponseTooLarge.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, error) {
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.endpoint+r.Path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := r.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("participant %s: reading the answer: %w", c.id, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("participant %s: %w of %d bytes", c.id, ErrResponseTooLarge, limit)
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Code: resp.StatusCode}
		if e, err := api.DecodeError(data); err == nil {
			se.Message, se.Conflict = e.Message, e.Conflict
		}
		return nil, se
	}
	return data, nil
}

// Stream sends r and copies the body of a 200 answer to w as it arrives,
// up to r.MaxResponse bytes (required: a stream has no default bound), and
// returns the number of bytes copied. An answer longer than the bound
// wraps ErrResponseTooLarge (w then holds the first MaxResponse bytes); any
// other status is a *StatusError and nothing is written. The caller's
// context bounds the whole transfer.
func (c *Client) Stream(ctx context.Context, r Request, w io.Writer) (int64, error) {
	if r.MaxResponse <= 0 {
		return 0, fmt.Errorf("participant %s: a stream needs a bound (MaxResponse)", c.id)
	}
	if r.Body != nil {
		return 0, fmt.Errorf("participant %s: a stream sends no body", c.id)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.endpoint+r.Path, nil)
	if err != nil {
		return 0, err
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxResponse))
		se := &StatusError{Code: resp.StatusCode}
		if e, err := api.DecodeError(data); err == nil {
			se.Message = e.Message
		}
		return 0, se
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, r.MaxResponse))
	if err != nil {
		return n, fmt.Errorf("participant %s: reading the answer: %w", c.id, err)
	}
	if n == r.MaxResponse {
		if m, _ := resp.Body.Read(make([]byte, 1)); m > 0 {
			return n, fmt.Errorf("participant %s: %w of %d bytes", c.id, ErrResponseTooLarge, r.MaxResponse)
		}
	}
	return n, nil
}
