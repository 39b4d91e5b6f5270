// Command rampart-gateway serves the Remote Signing API to a validator
// client on its own host and obtains every signature from a threshold of
// the cluster's signers, with its own mutual-TLS identity. It only parses
// flags and wires packages together; the gateway itself is package
// gateway.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/rampart-signer/rampart/internal/cli"
)

// defaultConfig is where the package installs the configuration.
const defaultConfig = "/etc/rampart/gateway.yaml"

func main() {
	os.Exit(cli.Main("rampart-gateway", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

func root() *cli.Command {
	var configPath string
	var checkOnly bool
	return &cli.Command{
		Name:    "rampart-gateway",
		Summary: "Serve the Remote Signing API to a local validator client through a Rampart threshold signing cluster.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&configPath, "config", defaultConfig, "configuration `file`")
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
