package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
)

const (
	defaultCAName = "Rampart cluster CA"
	day           = 24 * time.Hour
)

func tlsCommand() *cli.Command {
	return &cli.Command{
		Name:        "tls",
		Summary:     "Create the cluster CA and node TLS identities, keys in HSMs.",
		Subcommands: []*cli.Command{tlsCACommand(), tlsCSRCommand(), tlsSignCommand(), tlsIssueCommand()},
	}
}

func tlsCACommand() *cli.Command {
	var key, out, name string
	var days int
	var reuse bool
	return &cli.Command{
		Name:    "ca",
		Summary: "Create the cluster CA: an ECDSA P-256 key in an HSM and a self-signed certificate.",
		Description: `Generates the CA key in the token named by --key (refusing if a key with
that label exists, unless --reuse-key renews the certificate of an existing
key) and writes the self-signed CA certificate to --out as PEM. The CA
signs node certificates only (path length 0). --out must not exist.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", "", "PKCS#11 URI of the CA key (required)")
			fs.StringVar(&out, "out", "", "file to write the CA certificate to, PEM (required)")
			fs.StringVar(&name, "name", defaultCAName, "common name of the CA")
			fs.IntVar(&days, "days", int(hsm.DefaultCAValidity/day), "validity in days")
			fs.BoolVar(&reuse, "reuse-key", false, "use the existing key with this label instead of generating one")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			uri, err := keyURI("--key", key, args, "private")
			if err != nil {
				return err
			}
			if err := checkOut(out); err != nil {
				return err
			}
			validity, err := daysFlag(days)
			if err != nil {
				return err
			}
			if err := hsm.CheckCA(name, validity); err != nil {
				return fmt.Errorf("--name: %w", err)
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
			ca, err := hsm.NewCACertificate(rand.Reader, signer, name, time.Now(), validity)
			if err != nil {
				return err
			}
			if err := writeNewFile(out, hsm.EncodeCertificatesPEM(ca)); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "CA %q: key %q in token %q, certificate %s (serial %x, valid until %s)\n",
				name, uri.Object, tok.Label(), out, ca.SerialNumber, ca.NotAfter.UTC().Format(time.DateOnly))
			return tok.Close()
		},
	}
}

func tlsIssueCommand() *cli.Command {
	var name, key, caKey, caCert, out string
	var days int
	var reuse bool
	return &cli.Command{
		Name:    "issue",
		Summary: "Lab shortcut for csr and sign: a node's TLS key and certificate, with both HSMs on one host.",
		Description: `The single-host shortcut of "tls csr" (on the node) and "tls sign" (on the
CA host), for labs and tests: the node's token and the CA's must both be
reachable from this host, so the CA is not offline. Certificates are the
same either way.

Generates the node's key in the token named by --key (refusing if a key
with that label exists, unless --reuse-key renews the certificate of an
existing key), and has the CA key (--ca-key, possibly in another token)
sign a certificate for it, valid for TLS server and client authentication,
with --name as common name and DNS subject alternative name (and IP address
SAN when --name is an IP address). --out must not exist.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "node identity: a lower-case DNS name or an IP address (required)")
			fs.StringVar(&key, "key", "", "PKCS#11 URI of the node's TLS key (required)")
			fs.StringVar(&caKey, "ca-key", "", "PKCS#11 URI of the CA key (required)")
			fs.StringVar(&caCert, "ca-cert", "", "CA certificate, PEM (required)")
			fs.StringVar(&out, "out", "", "file to write the node certificate to, PEM (required)")
			fs.IntVar(&days, "days", int(hsm.DefaultIdentityValidity/day), "validity in days")
			fs.BoolVar(&reuse, "reuse-key", false, "use the existing key with this label instead of generating one")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			uri, err := keyURI("--key", key, args, "private")
			if err != nil {
				return err
			}
			caURI, err := keyURI("--ca-key", caKey, nil, "private")
			if err != nil {
				return err
			}
			switch {
			case name == "":
				return cli.Usagef("--name is required")
			case caCert == "":
				return cli.Usagef("--ca-cert is required")
			}
			if _, err := hsm.ParseIdentityName(name); err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			if err := checkOut(out); err != nil {
				return err
			}
			validity, err := daysFlag(days)
			if err != nil {
				return err
			}
			ca, err := readCACert(caCert)
			if err != nil {
				return err
			}
			opts := hsm.DefaultOptions()
			tok, err := hsm.Open(ctx, uri, opts)
			if err != nil {
				return err
			}
			defer tok.Close()
			caTok := tok
			if !sameToken(uri, caURI) {
				if caTok, err = hsm.Open(ctx, caURI, opts); err != nil {
					return err
				}
				defer caTok.Close()
			}
			// Every check on the CA before the node's key is made, so a
			// refusal leaves the token as it was.
			now := time.Now()
			caSigner, err := caKeyFor(ctx, caTok, caURI, ca, now, validity)
			if err != nil {
				return err
			}
			signer, err := tlsSigner(ctx, tok, uri, reuse)
			if err != nil {
				return err
			}
			cert, err := issueTo(out, ca, caSigner, signer.Public(), name, now, validity)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "identity %q: key %q in token %q, certificate %s (serial %x, valid until %s, signed by %q)\n",
				name, uri.Object, tok.Label(), out, cert.SerialNumber, cert.NotAfter.UTC().Format(time.DateOnly), ca.Subject.CommonName)
			return errors.Join(caTok.Close(), tok.Close())
		},
	}
}

// readCACert reads the CA certificate (the first of the file) that
// --ca-cert names.
func readCACert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	chain, err := hsm.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert %s: %w", path, err)
	}
	return chain[0], nil
}

// caKeyFor finds the CA key caURI names in caTok and checks that it and
// the certificate ca can issue a certificate valid from now for validity.
func caKeyFor(ctx context.Context, caTok *hsm.Token, caURI *hsm.URI, ca *x509.Certificate, now time.Time, validity time.Duration) (crypto.Signer, error) {
	caSigner, err := caTok.TLSKey(ctx, caURI.ObjectRef())
	if err != nil {
		return nil, fmt.Errorf("--ca-key: %w", err)
	}
	if err := hsm.CheckIssuer(ca, caSigner.Public(), now, validity); err != nil {
		return nil, err
	}
	return caSigner, nil
}

// issueTo has the CA issue a node certificate for pub and name, as "tls
// issue" and "tls sign" both do, and writes it to out, which must not
// exist.
func issueTo(out string, ca *x509.Certificate, caSigner crypto.Signer, pub crypto.PublicKey, name string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	cert, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caSigner, pub, name, now, validity)
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(out, hsm.EncodeCertificatesPEM(cert)); err != nil {
		return nil, err
	}
	return cert, nil
}

// tlsSigner generates the key named by uri, or with reuse loads it.
func tlsSigner(ctx context.Context, tok *hsm.Token, uri *hsm.URI, reuse bool) (crypto.Signer, error) {
	if reuse {
		return tok.TLSKey(ctx, uri.ObjectRef())
	}
	s, err := tok.GenerateTLSKey(ctx, uri.ObjectRef())
	if errors.Is(err, hsm.ErrKeyExists) {
		return nil, fmt.Errorf("%w (to renew its certificate, add --reuse-key)", err)
	}
	return s, err
}

// sameToken reports whether two URIs open the same token the same way, so
// one login serves both.
func sameToken(a, b *hsm.URI) bool {
	return a.ModulePath == b.ModulePath && a.Token == b.Token && a.Serial == b.Serial &&
		a.Manufacturer == b.Manufacturer && a.Model == b.Model && a.PINSource == b.PINSource
}

func daysFlag(days int) (time.Duration, error) {
	if maxDays := int(hsm.MaxValidity / day); days < 1 || days > maxDays {
		return 0, fmt.Errorf("--days %d is outside 1..%d", days, maxDays)
	}
	return time.Duration(days) * day, nil
}

// checkOut refuses a missing or existing output file before any key is
// made.
func checkOut(path string) error {
	if path == "" {
		return cli.Usagef("--out is required")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return fmt.Errorf("--out %s already exists; certificates and requests are never overwritten (remove it or choose another file)", path)
		}
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// writeNewFile writes a certificate file that must not exist, durably.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
