package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/network"
)

// networkCommand is the "network" group: what Rampart knows of networks.
func networkCommand() *cli.Command {
	var flags network.Flags
	return &cli.Command{
		Name:    "network",
		Summary: "Inspect the networks Rampart signs for.",
		Subcommands: []*cli.Command{{
			Name:    "show",
			Summary: "Print a network's parameters and fork schedule.",
			Description: "Selects the network with --network NAME (" + strings.Join(network.BuiltinNames(), ", ") +
				") or --network-config FILE --genesis-validators-root HEX, as every command does.",
			Flags: flags.Register,
			Run: func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected arguments %q", args)
				}
				n, err := flags.Load(ctx)
				if err != nil {
					return err
				}
				return showNetwork(env.Stdout, n, time.Now())
			},
		}},
	}
}

// showNetwork prints n, marking the fork in effect at now.
func showNetwork(w io.Writer, n *network.Network, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kind := "custom"
	if n.Builtin() {
		kind = "built-in"
	}
	p := n.Preset()
	fmt.Fprintf(tw, "network\t%s (%s)\n", n.Name(), kind)
	fmt.Fprintf(tw, "preset\t%s (%d slots per epoch)\n", p.Name, p.SlotsPerEpoch)
	fmt.Fprintf(tw, "slot duration\t%s\n", n.SlotDuration())
	genesis := "unknown (the config gives no MIN_GENESIS_TIME)"
	if !n.GenesisTime().IsZero() {
		genesis = n.GenesisTime().UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "genesis time\t%s\n", genesis)
	fmt.Fprintf(tw, "genesis validators root\t%#x\n", n.GenesisValidatorsRoot())
	if chainID, addr, ok := n.DepositContract(); ok {
		fmt.Fprintf(tw, "deposit contract\t%s on chain %d\n", addr, chainID)
	}
	fmt.Fprintf(tw, "\nfork\tversion\tepoch\tstarts (UTC)\t\n")
	current := n.ForkAtEpoch(currentEpoch(n, now))
	for _, f := range n.Forks() {
		mark := ""
		if f == current && !n.GenesisTime().IsZero() {
			mark = "<- in effect now"
		}
		fmt.Fprintf(tw, "%s\t%#x\t%d\t%s\t%s\n", strings.ToUpper(f.Name.String()), f.Version, f.Epoch, forkStart(n, f.Epoch), mark)
	}
	return tw.Flush()
}

// epochDuration is the length of an epoch of n.
func epochDuration(n *network.Network) time.Duration {
	return time.Duration(n.Preset().SlotsPerEpoch) * n.SlotDuration()
}

// currentEpoch is the epoch at now (0 before genesis or when unknown).
func currentEpoch(n *network.Network, now time.Time) phase0.Epoch {
	if n.GenesisTime().IsZero() || now.Before(n.GenesisTime()) {
		return 0
	}
	return phase0.Epoch(now.Sub(n.GenesisTime()) / epochDuration(n))
}

// forkStart is when epoch begins, or "-" when the genesis time is unknown
// or the epoch lies beyond what a time.Duration spans.
func forkStart(n *network.Network, epoch phase0.Epoch) string {
	d := epochDuration(n)
	if n.GenesisTime().IsZero() || d <= 0 || uint64(epoch) > uint64((1<<63-1)/d) {
		return "-"
	}
	return n.GenesisTime().Add(time.Duration(epoch) * d).UTC().Format(time.RFC3339)
}
