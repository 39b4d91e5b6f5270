// Command chaos runs Rampart's multi-site fault scenarios on a live devnet
// (package e2e/chaos): `make chaos` and `make chaos-full` run it as root.
// Its other subcommands are the harness's own helpers, run by itself on
// the simulated hosts: enter (start a program in a host's namespace and
// cgroup), wan (toxiproxy between the hosts), impostor (a signer that
// answers invalid partial signatures); cleanup removes what a crashed run
// left.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-signer/rampart/e2e/chaos"
	"github.com/rampart-signer/rampart/internal/cli"
)

func main() {
	os.Exit(cli.Main("chaos", root(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

func root() *cli.Command {
	return &cli.Command{
		Name:        "chaos",
		Summary:     "Fault scenarios on a simulated three-site deployment (root; network namespaces, cgroups, toxiproxy).",
		Subcommands: []*cli.Command{runCommand(), cleanupCommand(), enterCommand(), wanCommand(), impostorCommand()},
	}
}

func runCommand() *cli.Command {
	var (
		plan, dir, e2eBin, rampartBin, doc, only, commit, out, gate string
		keep                                                        bool
		genesisDelay                                                time.Duration
	)
	return &cli.Command{
		Name:    "run",
		Summary: "Bring the stack up, run the scenarios, judge them from the chain, write the report.",
		Description: `Exit status 0 when every scenario passed (no slashing, no lost approval,
at most 1% of duties missed within the cluster's tolerance), 1 otherwise.
Everything the run makes outside --dir (namespaces, cgroups, mounts,
processes) is removed before it exits.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&plan, "plan", "ci", "ci (one epoch per fault) or full (three epochs per fault)")
			fs.StringVar(&dir, "dir", "", "run `directory` (default: a new one under the temporary directory)")
			fs.StringVar(&e2eBin, "e2e-bin", "", "`directory` with geth, beacon-chain and prysmctl (make e2e-tools)")
			fs.StringVar(&rampartBin, "rampart-bin", "", "`directory` with rampart-signer, rampart-vc and rampartctl")
			fs.StringVar(&doc, "doc", "", "update this plan's section of this `file` (docs/reliability.md)")
			fs.StringVar(&out, "out", "", "write reliability-PLAN.md and .svg into this `directory` (default: beside --doc, else --dir)")
			fs.StringVar(&gate, "gate", "all", "what fails the run: all (any scenario's verdict, missed duties included) or safety (a slashing, a lost approval or a harness failure only; missed duties are reported)")
			fs.StringVar(&only, "only", "", "comma-separated scenario `names` to run (the baseline always runs)")
			fs.StringVar(&commit, "commit", "", "commit the report names")
			fs.BoolVar(&keep, "keep", false, "keep the run directory (logs) after a passing run")
			fs.DurationVar(&genesisDelay, "genesis-delay", 60*time.Second, "time from preparing the devnet to its genesis (covers starting the stack: about 30 s on an idle machine, 47 s at load 30; the two warm-up epochs absorb a late start)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			var p chaos.Plan
			switch plan {
			case "ci":
				p = chaos.CIPlan()
			case "full":
				p = chaos.FullPlan()
			default:
				return cli.Usagef("--plan %q: want ci or full", plan)
			}
			if only != "" {
				all := chaos.Scenarios(chaos.DefaultTopology())
				for _, n := range strings.Split(only, ",") {
					if _, ok := chaos.ScenarioByName(all, n); !ok {
						return cli.Usagef("--only: no scenario %q", n)
					}
					p.Only = append(p.Only, n)
				}
			}
			if gate != "all" && gate != "safety" {
				return cli.Usagef("--gate %q: want all or safety", gate)
			}
			if e2eBin == "" || rampartBin == "" {
				return cli.Usagef("--e2e-bin and --rampart-bin are required (make chaos sets them)")
			}
			if os.Geteuid() != 0 {
				return errors.New("chaos run needs root: it makes network namespaces, cgroups and a tmpfs")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "rampart-chaos-"); err != nil {
					return err
				}
			}
			for _, p := range []*string{&dir, &e2eBin, &rampartBin} {
				if *p, err = filepath.Abs(*p); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(env.Stdout, "chaos: %s plan in %s\n", p.Mode, dir)
			rep, runErr := chaos.Run(ctx, chaos.RunConfig{
				Options: chaos.Options{Dir: dir, E2EBin: e2eBin, RampartBin: rampartBin, Self: self, Log: env.Stdout, GenesisDelay: genesisDelay},
				Plan:    p, Commit: commit,
			})
			if rep != nil && len(rep.Results) > 0 {
				if err := writeReport(env, rep, doc, out, dir); err != nil {
					runErr = errors.Join(runErr, err)
				}
			}
			if runErr != nil {
				fmt.Fprintf(env.Stdout, "chaos: the run failed: %v\nlogs: %s\n", runErr, dir)
				return runErr
			}
			passed, failed := rep.Counts()
			fmt.Fprintf(env.Stdout, "chaos: %s plan took %s\n", p.Mode, rep.Duration.Round(time.Second))
			// The closing line CI's runner reads.
			fmt.Fprintf(env.Stdout, "chaos: %d passed, %d failed\n", passed, failed)
			switch {
			case !rep.SafetyHeld():
				fmt.Fprintf(env.Stdout, "logs: %s\n", dir)
				return errors.New("chaos: safety not shown: a slashing, a lost approval or a scenario the harness could not run")
			case !rep.Passed() && gate == "all":
				fmt.Fprintf(env.Stdout, "logs: %s\n", dir)
				return errors.New("chaos: some scenarios failed")
			case !rep.Passed():
				fmt.Fprintf(env.Stdout, "chaos: --gate safety: safety held; the scenarios that missed duties are reported above, not failed\n")
			}
			if !keep {
				os.RemoveAll(dir)
			}
			return nil
		},
	}
}

// writeReport writes the report and its chart, and updates the document.
func writeReport(env *cli.Env, rep *chaos.Report, doc, out, dir string) error {
	if out == "" {
		out = dir
		if doc != "" {
			out = filepath.Dir(doc)
		}
	}
	chartName := "reliability-" + rep.Mode + ".svg"
	if err := os.WriteFile(filepath.Join(out, chartName), []byte(rep.SVG()), 0o644); err != nil {
		return err
	}
	md := rep.Markdown(chartName)
	if err := os.WriteFile(filepath.Join(out, "reliability-"+rep.Mode+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\n%s\n", md)
	if doc != "" {
		if err := chaos.UpdateDoc(doc, rep.Mode, md); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "chaos: %s updated (%s plan section)\n", doc, rep.Mode)
	}
	return nil
}

func cleanupCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "cleanup",
		Summary: "Remove what a run whose harness died left behind (its record in --dir).",
		Flags:   func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", "", "the run's `directory` (required)") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" {
				return cli.Usagef("--dir is required")
			}
			return chaos.Cleanup(ctx, dir)
		},
	}
}

func enterCommand() *cli.Command {
	var s chaos.EnterSpec
	return &cli.Command{
		Name:    "enter",
		Summary: "Run a program on a simulated host (the harness's own helper).",
		Args:    "-- PROGRAM [ARG...]",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&s.Netns, "netns", "", "network namespace `file`")
			fs.StringVar(&s.Procs, "procs", "", "cgroup.procs `file` to join")
			fs.StringVar(&s.Hosts, "hosts", "", "`file` to bind over /etc/hosts")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if s.Netns == "" {
				return cli.Usagef("--netns is required")
			}
			s.Argv = args
			return chaos.Enter(s)
		},
	}
}

func wanCommand() *cli.Command {
	var addr string
	return &cli.Command{
		Name:    "wan",
		Summary: "Serve toxiproxy's API (the WAN between the hosts; the harness's own helper).",
		Flags:   func(fs *flag.FlagSet) { fs.StringVar(&addr, "api", "127.0.0.1:8474", "API `address`") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return chaos.RunWAN(addr)
		},
	}
}

func impostorCommand() *cli.Command {
	var config, accounts string
	return &cli.Command{
		Name:    "impostor",
		Summary: "Serve a signer's participant address, answering invalid partial signatures (the harness's own helper).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&config, "config", "", "the signer's configuration `file`")
			fs.StringVar(&accounts, "accounts", "", "the signer's discovery answer (`file`)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return chaos.RunImpostor(config, accounts)
		},
	}
}
