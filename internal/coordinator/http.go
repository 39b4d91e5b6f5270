package coordinator

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

// maxResponse bounds what is read from a participant: a batch of 10,000
// results is about 4 MB.
const maxResponse = 16 << 20

// HTTPParticipant talks to a participant's distributed endpoints over
// mutual TLS with keep-alive HTTP/2.
type HTTPParticipant struct {
	id       tss.ID
	endpoint string
	client   *http.Client
}

// NewHTTPParticipant returns a participant at endpoint (an https:// origin,
// no path). tlsConfig carries the client certificate and the cluster CA;
// its ServerName is set to serverName so the peer must present a
// certificate for the configured TLS name, whatever address it is reached at.
func NewHTTPParticipant(id tss.ID, endpoint, serverName string, tlsConfig *tls.Config) (*HTTPParticipant, error) {
	if id == 0 {
		return nil, fmt.Errorf("coordinator: participant id must be non-zero")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("coordinator: participant %s: endpoint %q is not an https:// origin", id, endpoint)
	}
	if tlsConfig == nil {
		return nil, fmt.Errorf("coordinator: participant %s: mutual TLS configuration required", id)
	}
	tc := tlsConfig.Clone()
	tc.ServerName = serverName
	tc.MinVersion = tls.VersionTLS13
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &HTTPParticipant{
		id:       id,
		endpoint: u.Scheme + "://" + u.Host,
		client:   &http.Client{Transport: tr},
	}, nil
}

// ID implements Participant.
func (p *HTTPParticipant) ID() tss.ID { return p.id }

// Endpoint returns the participant's origin.
func (p *HTTPParticipant) Endpoint() string { return p.endpoint }

// Close drops idle connections.
func (p *HTTPParticipant) Close() { p.client.CloseIdleConnections() }

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
	body, err := p.do(ctx, http.MethodPost, "/api/v1/eth2/distributed/sign/"+identifier.String(), request)
	if err != nil {
		return api.PartialSignature{}, err
	}
	return api.DecodePartialSignature(body)
}

// SignPartialBatch implements Participant.
func (p *HTTPParticipant) SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error) {
	resp, err := p.do(ctx, http.MethodPost, "/api/v1/eth2/distributed/sign", body)
	if err != nil {
		return nil, err
	}
	return api.DecodePartialBatchResults(resp)
}

func (p *HTTPParticipant) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.endpoint+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(data) > maxResponse {
		return nil, errors.New("response larger than 16 MiB")
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Code: resp.StatusCode}
		if e, err := api.DecodeError(data); err == nil {
			se.Message = e.Message
		}
		return nil, se
	}
	return data, nil
}
