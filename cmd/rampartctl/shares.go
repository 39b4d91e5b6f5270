package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
)

func sharesCommand() *cli.Command {
	return &cli.Command{
		Name:        "shares",
		Summary:     "Deal and list sealed key shares.",
		Subcommands: []*cli.Command{sharesDealCommand(), sharesListCommand()},
	}
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func sharesDealCommand() *cli.Command {
	var configs multiFlag
	var validators, threshold int
	var acceptLowSafety bool
	var out string
	return &cli.Command{
		Name:    "deal",
		Summary: "Create validators by a trusted dealer and seal a share for every signer (development).",
		Description: `Generates --validators fresh validator keys, splits each --threshold-of-n
among the signers whose configuration files are given (--config, once per
signer: every signer of the cluster), seals each share with that signer's
own HSM sealing key, writes it into the signer's shares directory and
registers the key in the signer's slashing protection database (created
if missing). Run as root, the files it makes go to the owner of each
signer's data_dir (rampart-signer, as the unit's StateDirectory= makes
it); if that directory is root's, it prints the chown to run. Run it with
the signers stopped, on a machine that reaches
every signer's HSM and state directory: a development cluster on one host.

The whole keys exist in this process for a moment, and are zeroed as soon
as they are split: for production, create validators with distributed key
generation (rampartctl dkg), where no whole key ever exists.

Nothing is half-made: every share is staged first and the files appear
only once every signer's share of every validator is sealed and written.

It first prints what the threshold tolerates and asks for confirmation
when the safety tolerance is below 1 (--accept-low-safety answers without
asking).`,
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&configs, "config", "a signer's configuration `file` (repeat for every signer)")
			fs.IntVar(&validators, "validators", 1, "number of validators to create")
			fs.IntVar(&threshold, "threshold", 0, "signatures needed (more than half the signers)")
			fs.StringVar(&out, "out", "", "also write the composite public keys, one per line, to this `file`")
			registerAcceptLowSafety(fs, &acceptLowSafety)
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if len(configs) == 0 {
				return cli.Usagef("--config: give every signer's configuration file")
			}
			if validators < 1 || validators > 100000 {
				return cli.Usagef("--validators: %d is not between 1 and 100000", validators)
			}
			if err := checkThreshold(env, threshold, len(configs), acceptLowSafety); err != nil {
				return err
			}
			var cfgs []*appliance.Config
			for _, p := range configs {
				cfg, err := appliance.Load(p)
				if err != nil {
					return err
				}
				cfgs = append(cfgs, cfg)
			}
			keys, err := localcluster.Deal(ctx, cfgs, validators, threshold, rand.Reader)
			if err != nil {
				return err
			}
			var lines []string
			for _, k := range keys {
				lines = append(lines, k.String())
			}
			// Run as root, the shares and databases just made go to the
			// owner of each signer's data directory (rampart-signer).
			for _, cfg := range cfgs {
				paths := []string{cfg.Accounts.SharesDir, cfg.Slashing.Database}
				for _, k := range keys {
					paths = append(paths, filepath.Join(cfg.Accounts.SharesDir, k.String()+".share"))
				}
				note, err := giveToOwnerOf(cfg.DataDir, paths...)
				if err != nil {
					return err
				}
				if note != "" {
					fmt.Fprintln(env.Stderr, note)
				}
			}
			fmt.Fprintf(env.Stdout, "dealt %d validators %d-of-%d\n", len(keys), threshold, len(configs))
			if out != "" {
				if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
					return err
				}
			} else {
				for _, l := range lines {
					fmt.Fprintln(env.Stdout, l)
				}
			}
			return nil
		},
	}
}

func sharesListCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "list",
		Summary: "List the sealed shares in a directory (no HSM needed).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "/var/lib/rampart-signer/shares", "shares `directory`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			entries, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%-98s %-11s %-9s %-18s %s\n", "COMPOSITE PUBLIC KEY", "PARTICIPANT", "THRESHOLD", "MEMBERS", "FILE")
			for _, e := range entries {
				if e.IsDir() || !strings.HasSuffix(e.Name(), appliance.ShareFileExt) {
					continue
				}
				b, err := os.ReadFile(dir + "/" + e.Name())
				if err != nil {
					return err
				}
				info, err := hsm.ReadShareInfo(b)
				if err != nil {
					fmt.Fprintf(env.Stdout, "%-98s %-11s %-9s %-18s %s (%v)\n", "?", "?", "?", "?", e.Name(), err)
					continue
				}
				fmt.Fprintf(env.Stdout, "0x%x %-11d %-9d %-18s %s\n", info.CompositeKey, info.Participant, info.Threshold, shareMembers(info), e.Name())
			}
			return nil
		},
	}
}

// shareMembers names the configuration a sealed share belongs to: the
// cluster's participants, or the members it names and its generation.
func shareMembers(info hsm.ShareInfo) string {
	if info.Members == nil {
		return "cluster"
	}
	ids := make([]string, len(info.Members))
	for i, id := range info.Members {
		ids[i] = strconv.FormatUint(id, 10)
	}
	return fmt.Sprintf("%s (gen %d)", strings.Join(ids, ","), info.Generation)
}
