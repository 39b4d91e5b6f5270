package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/cli"
)

func adminCommand() *cli.Command {
	return &cli.Command{
		Name:        "admin",
		Summary:     "Administrators' credentials.",
		Subcommands: []*cli.Command{adminTokenCommand()},
	}
}

func adminTokenCommand() *cli.Command {
	var out string
	return &cli.Command{
		Name:    "token",
		Summary: "Generate the administrative token and print its verifier.",
		Description: `Draws a random 256-bit administrative token and writes it in hex to --out
(a new file, mode 0600). Every administrative request (rampartctl import,
dkg, accounts; the keymanager API) carries it as a bearer token beside the
administrator's mTLS identity, and every signer checks it.

Prints the token's verifier, sha256:<hex>. Give each signer the verifier,
not the token, in an owner-only file named by its admin.token
(admin.token: file:/etc/rampart/admin-token.verifier) or in a systemd
credential (admin.token: credential:admin-token with LoadCredential=): a
signer's disk then does not give the token away. Name the token file in
the cluster file's admin entry (token: file:/path) for rampartctl.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "new `file` for the token (mode 0600; required)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if out == "" {
				return cli.Usagef("--out is required")
			}
			tok, err := adminapi.NewToken(rand.Reader)
			if err != nil {
				return err
			}
			defer tok.Zero()
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			_, err = f.WriteString(tok.Hex() + "\n")
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return fmt.Errorf("--out: %w", err)
			}
			fmt.Fprintln(env.Stdout, tok.Verifier())
			fmt.Fprintf(env.Stderr, "token written to %s (keep it with the admin identity); give every signer the verifier above in its admin.token\n", out)
			return nil
		},
	}
}
