// Command rampart-signer is the signing appliance daemon: it holds one BLS
// key share per validator, applies slashing protection and serves the
// Remote Signing API over mutual TLS. It only parses flags and wires
// packages together; the daemon itself is package appliance.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/rampart-signer/rampart/internal/cli"
)

func main() {
	os.Exit(cli.Main("rampart-signer", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

func root() *cli.Command {
	var configPath string
	var checkOnly bool
	return &cli.Command{
		Name:    "rampart-signer",
		Summary: "Serve threshold BLS signing with local slashing protection.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&configPath, "config", "/etc/rampart/signer.yaml", "configuration `file`")
			fs.BoolVar(&checkOnly, "check-config", false, "check the configuration as start-up would (PIN files, one login per token, keys, certificate, CA and name, administrative token, paths, free ports) and exit; run it with the signer stopped")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return run(ctx, env, configPath, checkOnly)
		},
	}
}
