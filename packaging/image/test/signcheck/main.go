// Command signcheck is the image boot test's signing check (test images
// only, never packaged): it sends one RANDAO_REVEAL request for the current
// epoch to a Rampart signer's Remote Signing API over mutual TLS, with a
// client identity whose key is in a PKCS#11 token, and verifies the
// returned signature against the validator's public key and the signing
// root it computes itself. It exits 0 only for a valid signature.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

type config struct {
	url, caFile, certFile, keyURI, pubkey, network string
	timeout                                        time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "https://127.0.0.1:9000", "signer's Remote Signing API base URL")
	flag.StringVar(&c.caFile, "ca", "", "cluster CA certificate, PEM")
	flag.StringVar(&c.certFile, "cert", "", "client certificate, PEM")
	flag.StringVar(&c.keyURI, "key", "", "PKCS#11 URI of the client's TLS key")
	flag.StringVar(&c.pubkey, "pubkey", "", "validator (composite) public key, 0x-hex")
	flag.StringVar(&c.network, "network", "mainnet", "built-in network the signer is configured for")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline for the whole check")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	sig, err := run(ctx, c, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "signcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("signature %s verifies for %s\n", sig, c.pubkey)
}

func run(ctx context.Context, c config, now time.Time) (string, error) {
	pk, err := parsePublicKey(c.pubkey)
	if err != nil {
		return "", err
	}
	n, err := network.Builtin(c.network)
	if err != nil {
		return "", fmt.Errorf("--network: %w", err)
	}
	req, err := randaoRequest(n, now)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	client, err := mtlsClient(ctx, c)
	if err != nil {
		return "", err
	}
	url := strings.TrimSuffix(c.url, "/") + "/api/v1/eth2/sign/" + c.pubkey
	resp, err := post(ctx, client, url, body)
	if err != nil {
		return "", err
	}
	return resp, verify(n, body, pk, resp)
}

// randaoRequest builds a RANDAO_REVEAL for the epoch now falls in, with the
// fork in effect then: a request any correctly configured signer signs and
// that no slashing rule concerns.
func randaoRequest(n *network.Network, now time.Time) (*signing.Request, error) {
	if n.GenesisTime().IsZero() || now.Before(n.GenesisTime()) {
		return nil, fmt.Errorf("network %s has no genesis before %s", n.Name(), now.UTC().Format(time.RFC3339))
	}
	slot := phase0.Slot(now.Sub(n.GenesisTime()) / n.SlotDuration())
	epoch := n.EpochAtSlot(slot)
	f := n.ForkAtEpoch(epoch)
	return &signing.Request{
		Type: signing.TypeRandaoReveal,
		ForkInfo: &signing.ForkInfo{
			Fork:                  phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch},
			GenesisValidatorsRoot: n.GenesisValidatorsRoot(),
		},
		RandaoReveal: &signing.RandaoReveal{Epoch: epoch},
	}, nil
}

func parsePublicKey(s string) (*bls.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	pk, err := bls.PublicKeyFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	return pk, nil
}

// mtlsClient presents the client certificate with its key in the token
// named by --key, and trusts only the cluster CA.
func mtlsClient(ctx context.Context, c config) (*http.Client, error) {
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--ca: %s holds no PEM certificate", c.caFile)
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	certs, err := hsm.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	uri, err := hsm.ParseURI(c.keyURI)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	// The token stays open for the life of this short process.
	tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
	if err != nil {
		return nil, err
	}
	key, err := tok.TLSKey(ctx, uri.ObjectRef())
	if err != nil {
		return nil, err
	}
	chain := make([][]byte, len(certs))
	for i, cert := range certs {
		chain[i] = cert.Raw
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      roots,
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key, Leaf: certs[0]}},
	}}}, nil
}

func post(ctx context.Context, client *http.Client, url string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	return signatureFromResponse(resp.Header.Get("Content-Type"), data)
}

// signatureFromResponse accepts both forms the Remote Signing API allows:
// {"signature": "0x..."} as JSON, or the bare hex as text/plain.
func signatureFromResponse(contentType string, data []byte) (string, error) {
	if strings.HasPrefix(contentType, "application/json") {
		var r struct {
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return "", fmt.Errorf("response: %w", err)
		}
		return r.Signature, nil
	}
	return strings.TrimSpace(string(data)), nil
}

var errBadSignature = errors.New("signature does not verify")

// verify recomputes the signing root from the request as sent and checks
// the signature against the validator key.
func verify(n *network.Network, body []byte, pk *bls.PublicKey, sigHex string) error {
	req, err := signing.ParseRequest(body)
	if err != nil {
		return err
	}
	root, err := req.SigningRoot(n)
	if err != nil {
		return err
	}
	b, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil {
		return fmt.Errorf("response signature: %w", err)
	}
	sig, err := bls.SignatureFromBytes(b)
	if err != nil {
		return fmt.Errorf("response signature: %w", err)
	}
	// Policy: a signer answering infinity is broken, whatever the key;
	// say so rather than report a signature that merely does not verify.
	if sig.IsInfinity() {
		return fmt.Errorf("response signature: %w", bls.ErrInfinity)
	}
	if !sig.Verify(pk, root) {
		return errBadSignature
	}
	return nil
}
