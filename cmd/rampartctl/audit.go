package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/internal/cli"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:        "audit",
		Summary:     "Check a signer's audit log.",
		Subcommands: []*cli.Command{auditVerifyCommand()},
	}
}

func auditVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:    "verify",
		Args:    "FILE",
		Summary: "Verify every record of an audit log and its hash chain.",
		Description: `Reads the whole log (default location /var/lib/rampart-signer/audit.log) and
checks that every record parses, is numbered in sequence and chains to the
one before it by SHA-256. Prints the number of records and the hash of the
last one (keep it elsewhere to detect a rewrite of the whole file later).
Exits 1 at the first broken record, naming it. An incomplete last line (a
crash in the middle of a write, which the signer cuts off at its next
start) is reported but is not an error.`,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("give the audit log FILE")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := audit.Verify(f)
			if err != nil {
				if errors.Is(err, audit.ErrBroken) {
					return fmt.Errorf("%s: %w (the %d records before it are intact)", args[0], err, res.Records)
				}
				return err
			}
			fmt.Fprintf(env.Stdout, "%s: %d records, chain intact, last hash %s\n", args[0], res.Records, res.Head)
			if res.TornBytes > 0 {
				fmt.Fprintf(env.Stdout, "note: an incomplete last record of %d bytes (a write interrupted by a crash; the signer removes it at start)\n", res.TornBytes)
			}
			return nil
		},
	}
}
