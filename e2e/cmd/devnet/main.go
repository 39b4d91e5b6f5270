// Command devnet prepares, starts and stops the single-node Electra devnet
// of e2e/devnet: `make devnet-up` and `make devnet-down` run it. It only
// parses flags and calls the package.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-signer/rampart/e2e/devnet"
	"github.com/rampart-signer/rampart/internal/cli"
)

func main() {
	os.Exit(cli.Main("devnet", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

func root() *cli.Command {
	return &cli.Command{
		Name:        "devnet",
		Summary:     "Run a single-node Electra devnet (geth and Prysm) on 127.0.0.1 for tests and demos.",
		Subcommands: []*cli.Command{upCommand(), downCommand(), showCommand()},
	}
}

// dirFlag registers --dir, which every command takes.
func dirFlag(fs *flag.FlagSet, dir *string) {
	fs.StringVar(dir, "dir", "", "devnet `directory` (required; made absolute)")
}

func absDir(dir string) (string, error) {
	if dir == "" {
		return "", cli.Usagef("--dir is required")
	}
	return filepath.Abs(dir)
}

func upCommand() *cli.Command {
	cfg := devnet.DefaultConfig()
	var dir, bin string
	var basePort int
	return &cli.Command{
		Name:    "up",
		Summary: "Prepare a fresh devnet in --dir and start geth and beacon-chain in the background.",
		Description: `Wipes --dir if it holds a stopped devnet (refuses anything else), writes the
genesis, the network config and the interop validators' keystores, starts the
processes and records their ids. Prints where everything is.`,
		Flags: func(fs *flag.FlagSet) {
			dirFlag(fs, &dir)
			fs.StringVar(&bin, "bin", "", "`directory` with geth, beacon-chain, validator and prysmctl (make e2e-tools)")
			fs.IntVar(&cfg.Validators, "validators", cfg.Validators, "number of interop validators")
			fs.Uint64Var(&cfg.SlotsPerEpoch, "slots-per-epoch", cfg.SlotsPerEpoch, "SLOTS_PER_EPOCH: 8 (finality about 100 s after genesis) or 32")
			fs.Uint64Var(&cfg.SecondsPerSlot, "seconds-per-slot", cfg.SecondsPerSlot, "SECONDS_PER_SLOT")
			fs.DurationVar(&cfg.GenesisDelay, "genesis-delay", cfg.GenesisDelay, "time from now to genesis")
			fs.IntVar(&basePort, "base-port", devnet.DefaultBasePort, "first of the eleven consecutive ports the devnet listens on")
			fs.BoolVar(&cfg.PrysmValidator, "prysm-validator", false, "also run Prysm's validator client with the interop keys")
			fs.BoolVar(&cfg.Slasher, "slasher", false, "run beacon-chain's slasher")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			var err error
			if cfg.Dir, err = absDir(dir); err != nil {
				return err
			}
			if bin == "" {
				return cli.Usagef("--bin is required")
			}
			if cfg.BinDir, err = filepath.Abs(bin); err != nil {
				return err
			}
			cfg.Ports = devnet.DefaultPorts(basePort)
			if err := cfg.Validate(); err != nil {
				return cli.Usagef("%v", err)
			}
			d, err := devnet.Prepare(ctx, cfg)
			if err != nil {
				return err
			}
			if err := d.Start(ctx); err != nil {
				return err
			}
			return show(env.Stdout, d)
		},
	}
}

func downCommand() *cli.Command {
	return openCommand("down", "Stop the processes devnet up recorded in --dir (and nothing else).",
		func(ctx context.Context, env *cli.Env, d *devnet.Devnet) error {
			if err := d.Stop(ctx); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "devnet in %s stopped\n", d.Config.Dir)
			return nil
		})
}

func showCommand() *cli.Command {
	return openCommand("show", "Print where the devnet in --dir is and what runs.",
		func(_ context.Context, env *cli.Env, d *devnet.Devnet) error { return show(env.Stdout, d) })
}

// openCommand is a command that works on the devnet prepared in --dir.
func openCommand(name, summary string, run func(context.Context, *cli.Env, *devnet.Devnet) error) *cli.Command {
	var dir string
	return &cli.Command{
		Name:    name,
		Summary: summary,
		Flags:   func(fs *flag.FlagSet) { dirFlag(fs, &dir) },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			abs, err := absDir(dir)
			if err != nil {
				return err
			}
			d, err := devnet.Open(abs)
			if err != nil {
				return err
			}
			return run(ctx, env, d)
		},
	}
}

// show prints what a user of the devnet needs, in the form Rampart's flags
// take it.
func show(w io.Writer, d *devnet.Devnet) error {
	running, err := d.Running()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "directory                 %s\n", d.Config.Dir)
	fmt.Fprintf(w, "running                   %v\n", running)
	fmt.Fprintf(w, "genesis                   %s (%d validators, %d slots of %ds per epoch)\n",
		d.GenesisTime.UTC().Format(time.RFC3339), d.Config.Validators, d.Config.SlotsPerEpoch, d.Config.SecondsPerSlot)
	fmt.Fprintf(w, "beacon API                %s\n", d.BeaconAPI())
	fmt.Fprintf(w, "execution RPC             %s\n", d.ExecutionRPC())
	fmt.Fprintf(w, "--network-config          %s\n", d.NetworkConfigFile())
	fmt.Fprintf(w, "--genesis-validators-root %#x\n", d.GenesisValidatorsRoot[:])
	fmt.Fprintf(w, "keystores                 %s (password in %s)\n", d.KeystoreDir(), d.KeystorePasswordFile())
	fmt.Fprintf(w, "logs                      %s\n", filepath.Dir(d.LogFile("geth")))
	if _, err := d.Network(); err != nil {
		fmt.Fprintf(w, "note                      Rampart refuses this network config: %v\n", err)
	}
	return nil
}
