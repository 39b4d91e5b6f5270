// Command rampartctl is the operator's tool for a Rampart cluster: HSM
// set-up, TLS identities, key generation and import, slashing-protection
// interchange and status. It only parses flags and wires packages together.
package main

import (
	"os"

	"github.com/rampart-signer/rampart/internal/cli"
)

func main() {
	os.Exit(cli.Main("rampartctl", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

// root is the command tree. Each group lives in its own file.
func root() *cli.Command {
	return &cli.Command{
		Name:    "rampartctl",
		Summary: "Operate a Rampart threshold signing cluster.",
		Subcommands: []*cli.Command{
			// Command groups are added here, one file each.
			hsmCommand(),
			tlsCommand(),
			slashingCommand(),
			backupCommand(),
			examplesCommand(),
			demoCommand(),
			devnetCommand(),
			networkCommand(),
			sharesCommand(),
			auditCommand(),
			importCommand(),
			dkgCommand(),
			reshareCommand(),
			exitCommand(),
			adminCommand(),
			accountsCommand(),
			benchCommand(),
			statusCommand(),
		},
	}
}
