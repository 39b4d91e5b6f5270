package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/devnet"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/network"
)

func devnetCommand() *cli.Command {
	return &cli.Command{
		Name:        "devnet",
		Summary:     "Run a local development cluster of signer processes.",
		Subcommands: []*cli.Command{devnetUpCommand(), devnetStatusCommand(), devnetDownCommand(), devnetStopCommand(), devnetStartCommand(), devnetReplaceCommand()},
	}
}

// upOptions are devnet up's flags, shared with the demo.
type upOptions struct {
	dir                       string
	signers, threshold, count int
	keystores, passwordFile   string
	coordinatorHTTP           string
	dealer                    bool
	withdrawal                string
	hedge                     time.Duration
	acceptLowSafety           bool
	futureEpochs              uint64
	net                       network.Flags
}

func (o *upOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "dir", "", "devnet `directory` (must not exist or be empty; required)")
	fs.IntVar(&o.signers, "signers", 5, "number of signers")
	fs.IntVar(&o.threshold, "threshold", 3, "signatures needed")
	fs.IntVar(&o.count, "validators", 64, "validators to create by distributed key generation")
	fs.StringVar(&o.keystores, "keystores", "", "import these EIP-2335 keystores instead (`directory`)")
	fs.StringVar(&o.passwordFile, "password-file", "", "password of --keystores (`file`)")
	fs.StringVar(&o.coordinatorHTTP, "coordinator-http", "", "open signer 1's coordinator API without TLS on this loopback `address` (e.g. 127.0.0.1:9000)")
	fs.BoolVar(&o.dealer, "dealer", false, "create validators with a trusted dealer instead of key generation (faster; whole keys exist briefly)")
	fs.StringVar(&o.withdrawal, "withdrawal-address", "0x5241d0000000000000000000000000000000d000", "execution `address` of the validators' withdrawal credentials")
	fs.DurationVar(&o.hedge, "hedge-delay", 500*time.Millisecond, "signers' cluster.hedge_delay (all share this host's CPUs)")
	registerAcceptLowSafety(fs, &o.acceptLowSafety)
	fs.Uint64Var(&o.futureEpochs, "future-epochs", 0, "signers' slashing.future_epochs (0: the default, 1; a devnet for rampartctl bench needs more, e.g. 1024)")
	o.net.Register(fs)
}

// networkConfig turns the network flags into the configuration form,
// defaulting to hoodi for a devnet.
func (o *upOptions) networkConfig(fs *flag.FlagSet) (appliance.NetworkConfig, error) {
	var nc appliance.NetworkConfig
	name, cfg, gvr := fs.Lookup("network").Value.String(), fs.Lookup("network-config").Value.String(), fs.Lookup("genesis-validators-root").Value.String()
	switch {
	case cfg != "":
		abs, err := filepath.Abs(cfg)
		if err != nil {
			return nc, err
		}
		nc.Config, nc.GenesisValidatorsRoot = abs, gvr
		nc.GenesisTime = o.net.Selection().GenesisTime
	case o.net.Selection().GenesisTime != 0:
		return nc, cli.Usagef("--genesis-time is only for a custom network (--network-config)")
	case name != "":
		nc.Name = name
	default:
		nc.Name = "hoodi"
	}
	return nc, nil
}

func devnetUpCommand() *cli.Command {
	var o upOptions
	var fs *flag.FlagSet
	return &cli.Command{
		Name:    "up",
		Summary: "Provision and start a local cluster, and create its validators.",
		Description: `Creates a SoftHSM token per signer, the cluster CA and every TLS identity,
writes each signer's configuration, starts the signers as background
processes on loopback ports (process ids recorded in DIR/devnet.json), then
creates the validators: by distributed key generation, or by importing
--keystores, or with --dealer by a trusted dealer. Writes DIR/cluster.yaml:
endpoints, CA, the client certificate of a validator client (vc-1), the
operator's admin identity and the account list. Network flags as
everywhere (default hoodi).

It first prints what the threshold tolerates (n-t signers down; 2t-n-1
compromised signers that cannot get a slashable message signed) and asks
for confirmation when the safety tolerance is below 1, as the default
3-of-5 is (--accept-low-safety answers without asking).

An up that fails stops the signers it started and removes what it wrote,
so the same command can be run again. A directory that holds a devnet
already is refused: devnet start --dir starts a stopped devnet again.`,
		Flags: func(f *flag.FlagSet) { fs = f; o.register(f) },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			st, err := devnetUp(ctx, env, &o, fs)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "devnet up: %s/cluster.yaml; stop it with: rampartctl devnet down --dir %s\n", st.Dir, st.Dir)
			return nil
		},
	}
}

func devnetUp(ctx context.Context, env *cli.Env, o *upOptions, fs *flag.FlagSet) (*devnet.State, error) {
	if o.dir == "" {
		return nil, cli.Usagef("--dir is required")
	}
	if (o.keystores == "") != (o.passwordFile == "") {
		return nil, cli.Usagef("--keystores and --password-file go together")
	}
	nc, err := o.networkConfig(fs)
	if err != nil {
		return nil, err
	}
	if err := checkThreshold(env, o.threshold, o.signers, o.acceptLowSafety); err != nil {
		return nil, err
	}
	bin, err := siblingBinary("rampart-signer")
	if err != nil {
		return nil, err
	}
	st, err := devnet.Up(ctx, devnet.Options{Dir: o.dir, SignerBin: bin, Signers: o.signers, Threshold: o.threshold, Network: nc, CoordinatorHTTP: o.coordinatorHTTP, HedgeDelay: o.hedge, FutureEpochs: o.futureEpochs, Log: env.Stdout})
	if err != nil {
		return nil, err
	}
	// A devnet without its validators is not what was asked for: undo
	// it, so that the same command can simply be run again.
	fail := func(err error) (*devnet.State, error) {
		if derr := st.Discard(context.WithoutCancel(ctx)); derr != nil {
			return nil, errors.Join(err, derr)
		}
		fmt.Fprintf(env.Stdout, "devnet up failed; its signers were stopped and what it wrote in %s removed\n", st.Dir)
		return nil, err
	}
	clusterPath := filepath.Join(st.Dir, "cluster.yaml")
	switch {
	case o.keystores != "":
		if err := cli.Run(ctx, "rampartctl", root(), []string{"import", "--cluster", clusterPath, "--keystores", o.keystores, "--password-file", o.passwordFile, "--" + acceptLowSafetyFlag}, env); err != 0 {
			return fail(errors.New("devnet: importing keystores failed"))
		}
	case o.dealer:
		if err := dealValidators(ctx, env, clusterPath, o.count, o.threshold); err != nil {
			return fail(err)
		}
	default:
		if err := generateValidators(ctx, env, clusterPath, o); err != nil {
			return fail(err)
		}
	}
	return st, nil
}

// dealValidators imports freshly generated keys: a trusted dealer.
func dealValidators(ctx context.Context, env *cli.Env, clusterPath string, count, threshold int) error {
	cf, err := adminapi.LoadClusterFile(clusterPath)
	if err != nil {
		return err
	}
	n, err := cf.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	im, closeFn, err := clusterImporter(ctx, cf, n, threshold)
	if err != nil {
		return err
	}
	defer closeFn()
	var all []api.PublicKey
	for done := 0; done < count; {
		batch := min(100, count-done)
		keys := make([]adminapi.ImportKey, batch)
		for i := range keys {
			sk, err := bls.GenerateSecretKey(rand.Reader)
			if err != nil {
				return err
			}
			keys[i].Secret = sk
		}
		pubs, err := im.Import(ctx, keys)
		for _, k := range keys {
			k.Secret.Zero()
		}
		if err != nil {
			return err
		}
		all = append(all, pubs...)
		done += batch
		fmt.Fprintf(env.Stdout, "dealt %d/%d validators\n", done, count)
	}
	_, err = clusterfile.AddAccounts(clusterPath, keyStrings(all))
	return err
}

// siblingBinary finds a program installed next to rampartctl, or on PATH.
func siblingBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, d := range strings.Split(os.Getenv("PATH"), ":") {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found next to rampartctl or on PATH (make build)", name)
}

func devnetStatusCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "status",
		Summary: "Show the devnet's signer processes and their health.",
		Description: `One line per signer: its recorded process id, its state (running; stopped
by devnet stop or down; exited, when its recorded process ended on its own;
unrecorded, when no recorded process runs but its operations port answers:
a signer started by hand, which devnet down does not stop) and the health
its operations port reports. Exits 1 unless every signer is running.`,
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", "", "devnet `directory` (required)") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" {
				return cli.Usagef("--dir is required")
			}
			st, err := devnet.Load(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SIGNER\tPID\tSTATE\tHEALTH")
			down := 0
			for _, s := range st.Status(ctx) {
				pid := "-"
				if s.PID != 0 {
					pid = strconv.Itoa(s.PID)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, pid, s.State, s.Health)
				if !s.Running {
					down++
				}
			}
			tw.Flush()
			if cf, err := st.ClusterFile(); err == nil {
				fmt.Fprintf(env.Stdout, "%d accounts, threshold %d, cluster file %s/cluster.yaml\n", len(cf.Accounts), cf.Threshold, st.Dir)
			}
			if down > 0 {
				return fmt.Errorf("%d signers not running", down)
			}
			return nil
		},
	}
}

func devnetDownCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "down",
		Summary: "Stop the signer processes the devnet started.",
		Description: `Stops every signer process the devnet recorded, signers started again with
devnet start included, and nothing else. A signer started by hand is
reported and left running. The files are kept: devnet start starts the
devnet again.`,
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", "", "devnet `directory` (required)") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" {
				return cli.Usagef("--dir is required")
			}
			st, err := devnet.Load(dir)
			if err != nil {
				return err
			}
			if err := st.Down(ctx); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "devnet in %s stopped (its files are kept; start it again with rampartctl devnet start --dir %s)\n", st.Dir, st.Dir)
			return nil
		},
	}
}

func devnetStopCommand() *cli.Command {
	var dir string
	var id uint64
	return &cli.Command{
		Name:    "stop",
		Summary: "Stop one signer of the devnet.",
		Description: `Stops the recorded process of signer --signer (SIGTERM, SIGKILL after 30 s)
and clears its record. The cluster keeps signing while a threshold of the
others runs. devnet start --signer N starts it again; devnet down stops all.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "devnet `directory` (required)")
			fs.Uint64Var(&id, "signer", 0, "participant `id` of the signer to stop (required; devnet down stops all)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" || id == 0 {
				return cli.Usagef("--dir and --signer are required")
			}
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			st, err := devnet.Load(dir)
			if err != nil {
				return err
			}
			switch err := st.Stop(ctx, id); {
			case errors.Is(err, devnet.ErrNotRunning):
				fmt.Fprintf(env.Stdout, "signer %d was not running\n", id)
			case err != nil:
				return err
			default:
				fmt.Fprintf(env.Stdout, "signer %d stopped\n", id)
			}
			return nil
		},
	}
}

func devnetStartCommand() *cli.Command {
	var dir string
	var id uint64
	var timeout time.Duration
	return &cli.Command{
		Name:    "start",
		Summary: "Start one stopped signer of the devnet, or every stopped one.",
		Description: `Starts signer --signer, or without it every signer that is not running (a
devnet stopped by devnet down starts again), records each process for
devnet status and down, and waits until each answers /healthcheck. A signer
that does not become healthy within --timeout is stopped again and its
log's last lines are shown. A signer whose process runs is left alone; one
whose operations port answers without a recorded process (started by hand)
is refused: stop that process first.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "devnet `directory` (required)")
			fs.Uint64Var(&id, "signer", 0, "participant `id` of the signer to start (default: every stopped signer)")
			fs.DurationVar(&timeout, "timeout", time.Minute, "how long each signer may take to become healthy")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" {
				return cli.Usagef("--dir is required")
			}
			st, err := loadDevnetToWait(dir, args, timeout)
			if err != nil {
				return err
			}
			ids := []uint64{id}
			if id == 0 {
				ids = nil
				for _, s := range st.Status(ctx) {
					if !s.Running {
						ids = append(ids, s.ID)
					}
				}
				if len(ids) == 0 {
					fmt.Fprintln(env.Stdout, "every signer runs already")
					return nil
				}
			}
			for _, i := range ids {
				if err := startSigner(ctx, st, i, timeout); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "signer %d started (pid %d) and healthy\n", i, pidOf(st, i))
			}
			return nil
		},
	}
}

func devnetReplaceCommand() *cli.Command {
	var dir string
	var id uint64
	var timeout time.Duration
	return &cli.Command{
		Name:    "replace",
		Summary: "Replace one signer by a new server: new HSM token and TLS identity, empty disk.",
		Description: `Rehearses the loss of a server with its HSM: signer --signer is stopped if it
runs, its SoftHSM token is destroyed with its sealing key and TLS key (its
sealed shares can never be opened again), its data directory is emptied
(shares, slashing history, audit log), and it gets what a new server has:
a new token with a new sealing key and a new TLS key, whose certificate the
devnet's CA issues for the same name, and the same configuration. It is
started again, holding no shares; the command prints the reshare repair
that gives it its shares back from the others. The cluster keeps signing
meanwhile while a threshold of the other signers runs.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "devnet `directory` (required)")
			fs.Uint64Var(&id, "signer", 0, "participant `id` of the signer to replace (required)")
			fs.DurationVar(&timeout, "timeout", time.Minute, "how long the new server may take to become healthy")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if dir == "" || id == 0 {
				return cli.Usagef("--dir and --signer are required")
			}
			st, err := loadDevnetToWait(dir, args, timeout)
			if err != nil {
				return err
			}
			if err := replaceSigner(ctx, st, id, timeout); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "signer %d replaced: a new token (new sealing and TLS keys), an empty disk; started (pid %d), holding no shares\n", id, pidOf(st, id))
			fmt.Fprintf(env.Stdout, "give it its shares back: rampartctl reshare repair --cluster %s --participant %d\n", filepath.Join(st.Dir, "cluster.yaml"), id)
			return nil
		},
	}
}

// loadDevnetToWait checks what the commands that start signers and wait
// for them share (no arguments, a positive --timeout) and loads the devnet
// in dir.
func loadDevnetToWait(dir string, args []string, timeout time.Duration) (*devnet.State, error) {
	if len(args) > 0 {
		return nil, cli.Usagef("unexpected arguments %q", args)
	}
	if timeout <= 0 {
		return nil, cli.Usagef("--timeout must be positive")
	}
	return devnet.Load(dir)
}

// replaceSigner replaces signer id by a new server and starts it.
func replaceSigner(ctx context.Context, st *devnet.State, id uint64, timeout time.Duration) error {
	if err := st.Replace(ctx, id); err != nil {
		return err
	}
	return startSigner(ctx, st, id, timeout)
}

// startSigner starts one signer and waits until it is healthy; one that
// does not become healthy is stopped again, so no half-started process is
// left recorded as running.
func startSigner(ctx context.Context, st *devnet.State, id uint64, timeout time.Duration) error {
	if err := st.Start(id); err != nil {
		return err
	}
	if err := st.WaitSignerHealthy(ctx, id, timeout); err != nil {
		if serr := st.Stop(context.WithoutCancel(ctx), id); serr != nil && !errors.Is(serr, devnet.ErrNotRunning) {
			err = errors.Join(err, serr)
		}
		return err
	}
	return nil
}

func pidOf(st *devnet.State, id uint64) int {
	for _, s := range st.Signers {
		if s.ID == id {
			return s.PID
		}
	}
	return 0
}

// generateValidators runs distributed key generation through rampartctl dkg.
func generateValidators(ctx context.Context, env *cli.Env, clusterPath string, o *upOptions) error {
	args := []string{"dkg", "--cluster", clusterPath, "--validators", strconv.Itoa(o.count), "--threshold", strconv.Itoa(o.threshold),
		"--withdrawal-address", o.withdrawal, "--out", filepath.Dir(clusterPath),
		// devnet up checked the threshold (and asked) already.
		"--" + acceptLowSafetyFlag}
	if code := cli.Run(ctx, "rampartctl", root(), args, env); code != 0 {
		return errors.New("devnet: distributed key generation failed")
	}
	return nil
}
