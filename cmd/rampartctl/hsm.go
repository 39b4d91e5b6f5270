package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
)

// uriHelp explains the URI flags once for every command that takes one.
const uriHelp = `Keys are named by RFC 7512 PKCS#11 URIs, quoted for the shell:

  'pkcs11:token=LABEL;object=KEY?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/credentials/hsm-pin'

The user PIN is read from pin-source: an owner-only file (file:/path) or a
systemd credential (credential:NAME, from $CREDENTIALS_DIRECTORY). It is
never taken from the command line or the environment.`

func hsmCommand() *cli.Command {
	return &cli.Command{
		Name:        "hsm",
		Summary:     "Set up and check the HSM that seals key shares.",
		Subcommands: []*cli.Command{hsmInitCommand(), hsmStatusCommand()},
	}
}

func hsmInitCommand() *cli.Command {
	var key string
	return &cli.Command{
		Name:    "init",
		Summary: "Create the AES-256 sealing key in a token.",
		Description: `Creates the key that seals this signer's BLS key shares: an AES-256 token
object, private, sensitive, never extractable, not modifiable, usable with
AES-GCM only, labelled with the URI's object attribute (and id, if given;
a random 16-byte id otherwise). Refuses, changing nothing, when the token
already holds an object with that label or id.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", "", "PKCS#11 URI of the sealing key to create (required)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			uri, err := keyURI("--key", key, args, "secret-key")
			if err != nil {
				return err
			}
			tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
			if err != nil {
				return err
			}
			defer tok.Close()
			k, err := tok.CreateSealingKey(ctx, uri.ObjectRef())
			if err != nil {
				return err
			}
			o := k.Object()
			fmt.Fprintf(env.Stdout, "created sealing key %q (id %x) in token %q\n", o.Label, o.ID, tok.Label())
			fmt.Fprintln(env.Stdout, "  AES-256, private, sensitive, never extractable, not modifiable; allowed mechanisms: CKM_AES_GCM")
			return tok.Close()
		},
	}
}

func hsmStatusCommand() *cli.Command {
	var key, tlsKey string
	return &cli.Command{
		Name:    "status",
		Summary: "Check a token, its mechanisms and keys.",
		Description: `Opens the token named by --key, reports its information, checks the
mechanisms Rampart needs (AES-GCM, AES key generation, EC key generation,
ECDSA) and, when the URI names an object, checks the sealing key's
attributes and seals and unseals a random share in the HSM (nothing is
written). --tls-key also checks a TLS key of the same token. Exits with
status 1 when any check fails.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", "", "PKCS#11 URI of the token, and of the sealing key when it has an object attribute (required)")
			fs.StringVar(&tlsKey, "tls-key", "", "label of a TLS key in the same token to check")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if key == "" {
				return cli.Usagef("--key is required")
			}
			uri, err := hsm.ParseURI(key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
			if err != nil {
				return err
			}
			defer tok.Close()
			req := hsm.StatusRequest{SealingKey: uri.ObjectRef(), TLSKey: hsm.Object{Label: tlsKey}}
			st, err := tok.Status(ctx, req)
			if err != nil {
				return err
			}
			printStatus(env.Stdout, st)
			if err := tok.Close(); err != nil {
				return err
			}
			if !st.OK() {
				return errors.New("some checks failed")
			}
			return nil
		},
	}
}

func printStatus(w io.Writer, st *hsm.Status) {
	ti := st.Token
	fmt.Fprintf(w, "token %q: %s %s, serial %s, hardware %s, firmware %s\n",
		ti.Label, ti.Manufacturer, ti.Model, ti.Serial, ti.HardwareVersion, ti.FirmwareVersion)
	if ti.UserPINCountLow {
		fmt.Fprintln(w, "warn  a wrong user PIN was entered recently")
	}
	for _, c := range st.Checks {
		if c.Err != nil {
			fmt.Fprintf(w, "FAIL  %s: %v\n", c.Name, c.Err)
			continue
		}
		fmt.Fprintf(w, "ok    %s: %s\n", c.Name, c.Detail)
	}
}

// keyURI parses a required URI flag that must name an object, of the given
// type when the URI states one.
func keyURI(flagName, value string, args []string, objectType string) (*hsm.URI, error) {
	if len(args) > 0 {
		return nil, cli.Usagef("unexpected arguments %q", args)
	}
	if value == "" {
		return nil, cli.Usagef("%s is required", flagName)
	}
	uri, err := hsm.ParseURI(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	if uri.Object == "" {
		return nil, fmt.Errorf("%s: %w: name the key with ;object=LABEL", flagName, hsm.ErrInvalidURI)
	}
	if uri.Type != "" && uri.Type != objectType {
		return nil, fmt.Errorf("%s: %w: type=%s, but this key is type=%s", flagName, hsm.ErrInvalidURI, uri.Type, objectType)
	}
	return uri, nil
}
