// Command rampart-vc is the validator client: it performs duties for the
// cluster's validators against several beacon nodes and obtains threshold
// signatures from the signers. It only parses flags and wires packages
// together; the client itself is package vc.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/rampart-signer/rampart/internal/cli"
)

func main() {
	os.Exit(cli.Main("rampart-vc", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

func root() *cli.Command {
	var configPath string
	var checkOnly bool
	return &cli.Command{
		Name:    "rampart-vc",
		Summary: "Perform validator duties through a Rampart threshold signing cluster.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&configPath, "config", "/etc/rampart/vc.yaml", "configuration `file`")
			fs.BoolVar(&checkOnly, "check-config", false, "validate the configuration (and the cluster file and network it names) and exit")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return run(ctx, env, configPath, checkOnly)
		},
	}
}
