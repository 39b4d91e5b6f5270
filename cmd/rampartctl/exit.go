package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/vc"
)

func exitCommand() *cli.Command {
	var clusterPath string
	var nodes, validators multiFlag
	var epoch uint64
	var yes bool
	return &cli.Command{
		Name:    "exit",
		Summary: "Sign a validator's voluntary exit through the cluster and publish it.",
		Description: `Checks that the cluster holds each --validator, that the beacon chain
knows it and that it is active and not exiting, then prints the exit it
would sign (epoch: --epoch, default the current one). With --yes it signs
the VOLUNTARY_EXIT through the cluster (the cluster file's client
identity, as a validator client) and publishes it to every --beacon-node.
An exit cannot be undone: the validator stops earning and its stake is
withdrawn to its withdrawal credentials once the chain lets it go.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&clusterPath, "cluster", "cluster.yaml", "cluster `file`")
			fs.Var(&nodes, "beacon-node", "beacon node REST API `URL` (repeatable; required)")
			fs.Var(&validators, "validator", "composite public `key` of a validator to exit (repeatable; required)")
			fs.Uint64Var(&epoch, "epoch", 0, "exit `epoch` (default: the current epoch)")
			fs.BoolVar(&yes, "yes", false, "sign and publish; without it, only show what would be signed")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if len(nodes) == 0 || len(validators) == 0 {
				return cli.Usagef("--beacon-node and --validator are required")
			}
			keys := make([]phase0.BLSPubKey, len(validators))
			for i, v := range validators {
				k, err := api.ParsePublicKey(v)
				if err != nil {
					return cli.Usagef("--validator %q: %v", v, err)
				}
				keys[i] = phase0.BLSPubKey(k)
			}
			return runExit(ctx, env, clusterPath, nodes, keys, phase0.Epoch(epoch), yes)
		},
	}
}

func runExit(ctx context.Context, env *cli.Env, clusterPath string, nodes []string, keys []phase0.BLSPubKey, epoch phase0.Epoch, yes bool) error {
	cf, err := adminapi.LoadClusterFile(clusterPath)
	if err != nil {
		return err
	}
	netw, err := cf.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	_, coord, closeFn, err := cf.Connect(ctx, cf.Client)
	if err != nil {
		return err
	}
	defer closeFn()
	bcfg := beacon.DefaultConfig()
	bcfg.Network = netw
	for i, u := range nodes {
		bcfg.Nodes = append(bcfg.Nodes, beacon.NodeConfig{Name: fmt.Sprintf("node-%d", i+1), URL: u})
	}
	bn, err := beacon.New(bcfg)
	if err != nil {
		return cli.Usagef("--beacon-node: %v", err)
	}
	bctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = bn.Run(bctx) }()
	defer func() { stop(); <-done }()
	select {
	case <-bn.Ready():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("no answer from the beacon nodes within a minute")
	}

	x := &vc.Exiter{Network: netw, Beacon: bn, Signer: coord}
	var plans []*vc.PlannedExit
	for _, k := range keys {
		p, err := x.Prepare(ctx, k, epoch)
		if err != nil {
			return fmt.Errorf("validator %s: %w", k, err)
		}
		fmt.Fprintf(env.Stdout, "validator %d (%s), %s, balance %d gwei: exit at epoch %d\n", p.Validator.Index, k, p.Validator.Status, p.Validator.Balance, p.Exit.Epoch)
		plans = append(plans, p)
	}
	if !yes {
		fmt.Fprintln(env.Stdout, "nothing signed: add --yes to sign and publish (an exit cannot be undone)")
		return nil
	}
	for _, p := range plans {
		signed, err := x.Exit(ctx, p)
		if err != nil {
			return fmt.Errorf("validator %d: %w", p.Exit.ValidatorIndex, err)
		}
		out, _ := json.Marshal(signed)
		fmt.Fprintf(env.Stdout, "published: %s\n", out)
	}
	return nil
}
