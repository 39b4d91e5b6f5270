// Command signcheck is the image boot test's signing check (test images
// only, never packaged): it sends one signing request to a Rampart signer's
// Remote Signing API over mutual TLS, with a client identity whose key is
// in a PKCS#11 token, and verifies the returned signature against the
// validator's public key and the signing root it computes itself. It exits
// 0 only for a valid signature.
//
// -type RANDAO_REVEAL (the default) asks for the current epoch's reveal
// plus -epoch-offset; -type ATTESTATION for an attestation of the current
// epoch (source the epoch before), with a random block root. -save FILE
// keeps the request that was signed. -twin-of FILE instead sends the
// conflicting twin of the attestation saved there (same source and
// target, another block root: a double vote) and exits 0 only if the
// signer refuses it with 412 Precondition Failed.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
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
	reqType, save, twinOf                          string
	epochOffset                                    uint64
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
	flag.StringVar(&c.reqType, "type", string(signing.TypeRandaoReveal), "request type: RANDAO_REVEAL or ATTESTATION")
	flag.Uint64Var(&c.epochOffset, "epoch-offset", 0, "RANDAO_REVEAL: sign for the current epoch plus this many")
	flag.StringVar(&c.save, "save", "", "write the request that was signed to this `file`")
	flag.StringVar(&c.twinOf, "twin-of", "", "send the conflicting twin of the ATTESTATION saved in this `file` and expect 412")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline for the whole check")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	msg, err := run(ctx, c, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "signcheck:", err)
		os.Exit(1)
	}
	fmt.Println(msg)
}

// run performs the check c asks for and describes its success.
func run(ctx context.Context, c config, now time.Time) (string, error) {
	pk, err := parsePublicKey(c.pubkey)
	if err != nil {
		return "", err
	}
	n, err := network.Builtin(c.network)
	if err != nil {
		return "", fmt.Errorf("--network: %w", err)
	}
	var body []byte
	if c.twinOf != "" {
		body, err = twinRequest(c.twinOf)
	} else {
		body, err = newRequest(n, signing.Type(c.reqType), c.epochOffset, now)
	}
	if err != nil {
		return "", err
	}
	client, err := mtlsClient(ctx, c)
	if err != nil {
		return "", err
	}
	url := strings.TrimSuffix(c.url, "/") + "/api/v1/eth2/sign/" + c.pubkey
	status, resp, err := post(ctx, client, url, body)
	if err != nil {
		return "", err
	}
	if c.twinOf != "" {
		return refused(c.twinOf, url, status, resp)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d %s: %s", url, status, http.StatusText(status), bytes.TrimSpace(resp.body))
	}
	sig, err := signatureFromResponse(resp.contentType, resp.body)
	if err != nil {
		return "", err
	}
	if err := verify(n, body, pk, sig); err != nil {
		return "", err
	}
	if c.save != "" {
		if err := os.WriteFile(c.save, body, 0o644); err != nil {
			return "", fmt.Errorf("--save: %w", err)
		}
	}
	return fmt.Sprintf("%s: signature %s verifies for %s", describe(body), sig, c.pubkey), nil
}

// refused is the verdict on the twin of the attestation saved in file:
// only 412 Precondition Failed (slashing protection) passes.
func refused(file, url string, status int, resp *response) (string, error) {
	switch status {
	case http.StatusPreconditionFailed:
		return fmt.Sprintf("the conflicting twin of the attestation in %s was refused: %d %s: %s", file, status, http.StatusText(status), bytes.TrimSpace(resp.body)), nil
	case http.StatusOK:
		return "", fmt.Errorf("the signer SIGNED the conflicting twin of the attestation in %s (a double vote): its slashing protection moved backwards", file)
	}
	return "", fmt.Errorf("POST %s: %d %s: %s (want 412 Precondition Failed for a double vote)", url, status, http.StatusText(status), bytes.TrimSpace(resp.body))
}

// newRequest builds a request of type t for the current epoch.
func newRequest(n *network.Network, t signing.Type, epochOffset uint64, now time.Time) ([]byte, error) {
	var (
		req *signing.Request
		err error
	)
	switch t {
	case signing.TypeRandaoReveal:
		req, err = randaoRequest(n, now, epochOffset)
	case signing.TypeAttestation:
		if epochOffset != 0 {
			return nil, errors.New("--epoch-offset is for RANDAO_REVEAL only: an attestation beyond the current epoch is refused as a future message")
		}
		var root phase0.Root
		if _, err := rand.Read(root[:]); err != nil {
			return nil, err
		}
		req, err = attestationRequest(n, now, root)
	default:
		return nil, fmt.Errorf("--type %q: want %s or %s", t, signing.TypeRandaoReveal, signing.TypeAttestation)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(req)
}

// currentEpoch is the epoch now falls in.
func currentEpoch(n *network.Network, now time.Time) (phase0.Epoch, error) {
	if n.GenesisTime().IsZero() || now.Before(n.GenesisTime()) {
		return 0, fmt.Errorf("network %s has no genesis before %s", n.Name(), now.UTC().Format(time.RFC3339))
	}
	return n.EpochAtSlot(phase0.Slot(now.Sub(n.GenesisTime()) / n.SlotDuration())), nil
}

// forkInfo is the fork in effect at epoch.
func forkInfo(n *network.Network, epoch phase0.Epoch) *signing.ForkInfo {
	f := n.ForkAtEpoch(epoch)
	return &signing.ForkInfo{
		Fork:                  phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch},
		GenesisValidatorsRoot: n.GenesisValidatorsRoot(),
	}
}

// attestationRequest builds an attestation for the first slot of the
// epoch now falls in, with the epoch before as its source and root as the
// block voted for: within the signer's horizon, and a double vote of any
// other attestation of the same target with another root.
func attestationRequest(n *network.Network, now time.Time, root phase0.Root) (*signing.Request, error) {
	epoch, err := currentEpoch(n, now)
	if err != nil {
		return nil, err
	}
	if epoch == 0 {
		return nil, fmt.Errorf("network %s is in epoch 0: an attestation needs a source epoch before its target", n.Name())
	}
	return &signing.Request{
		Type:     signing.TypeAttestation,
		ForkInfo: forkInfo(n, epoch),
		Attestation: &phase0.AttestationData{
			Slot:            phase0.Slot(uint64(epoch) * n.Preset().SlotsPerEpoch),
			BeaconBlockRoot: root,
			Source:          &phase0.Checkpoint{Epoch: epoch - 1, Root: phase0.Root{0x01}},
			Target:          &phase0.Checkpoint{Epoch: epoch, Root: phase0.Root{0x02}},
		},
	}, nil
}

// twinRequest reads the attestation request saved in file and returns its
// conflicting twin: the same slot, source and target, another block root.
func twinRequest(file string) ([]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--twin-of: %w", err)
	}
	saved, err := signing.ParseRequest(raw)
	if err != nil {
		return nil, fmt.Errorf("--twin-of %s: %w", file, err)
	}
	if saved.Type != signing.TypeAttestation {
		return nil, fmt.Errorf("--twin-of %s: a %s request; want an ATTESTATION (saved by -type ATTESTATION -save)", file, saved.Type)
	}
	data := *saved.Attestation
	for i := range data.BeaconBlockRoot {
		data.BeaconBlockRoot[i] ^= 0xff
	}
	fi := *saved.ForkInfo
	return json.Marshal(&signing.Request{Type: signing.TypeAttestation, ForkInfo: &fi, Attestation: &data})
}

// describe names the request in body for the check's output.
func describe(body []byte) string {
	req, err := signing.ParseRequest(body)
	if err != nil {
		return "request"
	}
	switch {
	case req.RandaoReveal != nil:
		return fmt.Sprintf("RANDAO_REVEAL for epoch %d", req.RandaoReveal.Epoch)
	case req.Attestation != nil:
		a := req.Attestation
		return fmt.Sprintf("ATTESTATION source %d target %d root %#x", a.Source.Epoch, a.Target.Epoch, a.BeaconBlockRoot[:4])
	}
	return string(req.Type)
}

// randaoRequest builds a RANDAO_REVEAL for the epoch now falls in plus
// offset, with the fork in effect then: a request any correctly configured
// signer signs and that no slashing rule concerns.
func randaoRequest(n *network.Network, now time.Time, offset uint64) (*signing.Request, error) {
	epoch, err := currentEpoch(n, now)
	if err != nil {
		return nil, err
	}
	epoch += phase0.Epoch(offset)
	return &signing.Request{
		Type:         signing.TypeRandaoReveal,
		ForkInfo:     forkInfo(n, epoch),
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

// response is an answer's content type and (bounded) body.
type response struct {
	contentType string
	body        []byte
}

// post sends body and returns the answer's status and content, whatever
// the status.
func post(ctx context.Context, client *http.Client, url string, body []byte) (int, *response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, &response{contentType: resp.Header.Get("Content-Type"), body: data}, nil
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
