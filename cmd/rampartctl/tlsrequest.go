package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
)

// The CSR flow keeps the cluster CA's HSM on its own offline host: the
// node's key is made and used in the node's HSM ("tls csr"), and only the
// request, which holds no secret, travels to the CA host ("tls sign").

func tlsCSRCommand() *cli.Command {
	var name, key, out string
	var reuse bool
	return &cli.Command{
		Name:    "csr",
		Summary: "On a node: make its TLS key in its HSM and a certificate signing request for the CA.",
		Description: `Generates the node's ECDSA P-256 key in the token named by --key (refusing
if a key with that label exists, unless --reuse-key renews the certificate
of an existing key) and writes to --out a PEM certificate signing request,
signed by that key in the HSM, for --name: the common name and the subject
alternative names (DNS, and IP address when --name is one) the certificate
will carry. --out must not exist.

Carry the request to the CA host and run "rampartctl tls sign" there. The
request holds no secret, but check that the CA signs the key made here:
this command prints the key's SHA-256 fingerprint, and "tls sign" prints
the fingerprint of the key it certifies (or refuses another with
--key-fingerprint).

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "node identity: a lower-case DNS name or an IP address (required)")
			fs.StringVar(&key, "key", "", "PKCS#11 URI of the node's TLS key (required)")
			fs.StringVar(&out, "out", "", "file to write the request to, PEM (required)")
			fs.BoolVar(&reuse, "reuse-key", false, "use the existing key with this label instead of generating one")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			uri, err := keyURI("--key", key, args, "private")
			if err != nil {
				return err
			}
			if name == "" {
				return cli.Usagef("--name is required")
			}
			if _, err := hsm.ParseIdentityName(name); err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			if err := checkOut(out); err != nil {
				return err
			}
			tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
			if err != nil {
				return err
			}
			defer tok.Close()
			signer, err := tlsSigner(ctx, tok, uri, reuse)
			if err != nil {
				return err
			}
			csr, err := hsm.NewIdentityRequest(rand.Reader, signer, name)
			if err != nil {
				return err
			}
			fp, err := hsm.PublicKeyFingerprint(signer.Public())
			if err != nil {
				return err
			}
			if err := writeNewFile(out, csr); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "request %q: key %q in token %q, request %s\npublic key %s\n",
				name, uri.Object, tok.Label(), out, fp)
			return tok.Close()
		},
	}
}

func tlsSignCommand() *cli.Command {
	var csrPath, caKey, caCert, out, name, fingerprint string
	var days int
	return &cli.Command{
		Name:    "sign",
		Summary: "On the CA host: sign a node's certificate signing request with the CA key in its HSM.",
		Description: `Reads the request "rampartctl tls csr" made (--csr: one PEM CERTIFICATE
REQUEST), checks it and has the CA key (--ca-key) sign a certificate for
the request's key, exactly as "tls issue" would: valid for TLS server and
client authentication, the request's name as common name and subject
alternative names. The request must be signed by its own key, hold an
ECDSA P-256 key and name one identity and nothing else: a request asking
for other names, any extension or to be a CA is refused, because the CA
decides what a certificate says. --out must not exist.

Give --name, the node you expect the request from: a request naming
another is refused. --key-fingerprint (the "public key" line "tls csr"
printed on the node, passed on by a channel you trust) refuses a request
for any other key; without it, compare the fingerprint printed here with
the node's before installing the certificate.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&csrPath, "csr", "", "the node's certificate signing request, PEM (required)")
			fs.StringVar(&caKey, "ca-key", "", "PKCS#11 URI of the CA key (required)")
			fs.StringVar(&caCert, "ca-cert", "", "CA certificate, PEM (required)")
			fs.StringVar(&out, "out", "", "file to write the node certificate to, PEM (required)")
			fs.StringVar(&name, "name", "", "node identity the request must name (recommended)")
			fs.StringVar(&fingerprint, "key-fingerprint", "", `fingerprint the request's key must have, "sha256:HEX" as "tls csr" printed it`)
			fs.IntVar(&days, "days", int(hsm.DefaultIdentityValidity/day), "validity in days")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			caURI, err := keyURI("--ca-key", caKey, args, "private")
			if err != nil {
				return err
			}
			switch {
			case csrPath == "":
				return cli.Usagef("--csr is required")
			case caCert == "":
				return cli.Usagef("--ca-cert is required")
			}
			if name != "" {
				if _, err := hsm.ParseIdentityName(name); err != nil {
					return fmt.Errorf("--name: %w", err)
				}
			}
			if fingerprint != "" && !isFingerprint(fingerprint) {
				return fmt.Errorf(`--key-fingerprint %q is not "sha256:" and 64 hex digits, as "tls csr" prints it`, fingerprint)
			}
			if err := checkOut(out); err != nil {
				return err
			}
			validity, err := daysFlag(days)
			if err != nil {
				return err
			}
			req, fp, err := readRequest(csrPath)
			if err != nil {
				return err
			}
			if name != "" && req.Name != name {
				return fmt.Errorf("--csr %s asks for %q, not --name %q: check which node made it", csrPath, req.Name, name)
			}
			if fingerprint != "" && !strings.EqualFold(fingerprint, fp) {
				return fmt.Errorf("--csr %s is for key %s, not --key-fingerprint %s: it is not the request the node made", csrPath, fp, fingerprint)
			}
			ca, err := readCACert(caCert)
			if err != nil {
				return err
			}
			caTok, err := hsm.Open(ctx, caURI, hsm.DefaultOptions())
			if err != nil {
				return err
			}
			defer caTok.Close()
			now := time.Now()
			caSigner, err := caKeyFor(ctx, caTok, caURI, ca, now, validity)
			if err != nil {
				return err
			}
			cert, err := issueTo(out, ca, caSigner, req.PublicKey, req.Name, now, validity)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "identity %q: certificate %s (serial %x, valid until %s, signed by %q)\npublic key %s\n",
				req.Name, out, cert.SerialNumber, cert.NotAfter.UTC().Format(time.DateOnly), ca.Subject.CommonName, fp)
			return caTok.Close()
		},
	}
}

// isFingerprint reports whether s has the form of PublicKeyFingerprint's
// output (either case of hex digits).
func isFingerprint(s string) bool {
	digits, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if !ok || len(digits) != 64 {
		return false
	}
	_, err := hex.DecodeString(digits)
	return err == nil
}

// readRequest reads and checks the request --csr names, reading no more
// than a request may hold, and returns it with its key's fingerprint.
func readRequest(path string) (*hsm.IdentityRequest, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("--csr: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, hsm.MaxRequestPEM+1))
	if err != nil {
		return nil, "", fmt.Errorf("--csr: %w", err)
	}
	req, err := hsm.ParseIdentityRequestPEM(data)
	if err != nil {
		return nil, "", fmt.Errorf("--csr %s: %w", path, err)
	}
	fp, err := hsm.PublicKeyFingerprint(req.PublicKey)
	if err != nil {
		return nil, "", err
	}
	return req, fp, nil
}
