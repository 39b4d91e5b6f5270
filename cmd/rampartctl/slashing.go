package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// defaultSlashingDB is where rampart-signer keeps its database with the
// packaged configuration: data_dir /var/lib/rampart-signer (the unit's
// StateDirectory=rampart-signer) and slashing.database left to its default.
// TestDefaultPathsMatchThePackages keeps the three in step.
const defaultSlashingDB = "/var/lib/rampart-signer/slashing-protection.db"

// slashingCommand is the "slashing" group: EIP-3076 import and export on a
// stopped signer's database.
func slashingCommand() *cli.Command {
	return &cli.Command{
		Name:    "slashing",
		Summary: "Import and export slashing protection history (EIP-3076).",
		Description: `
Both commands open the signer's database directly, so the signer must be
stopped: while rampart-signer holds the database they fail after
--lock-timeout instead of waiting.`,
		Subcommands: []*cli.Command{slashingImportCommand(), slashingExportCommand()},
	}
}

// dbFlags are the flags both commands share.
type dbFlags struct {
	path        string
	lockTimeout time.Duration
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "db", defaultSlashingDB, "slashing protection database `file`")
	fs.DurationVar(&f.lockTimeout, "lock-timeout", time.Second, "how long to wait for a running signer to release the database")
}

func (f *dbFlags) config() protect.Config {
	c := protect.DefaultConfig()
	c.LockTimeout = f.lockTimeout
	return c
}

// importFlags are slashing import's own flags: the network, whose clock
// bounds the records, and the allowance beyond its current epoch.
type importFlags struct {
	create       bool
	raise        bool
	net          network.Flags
	futureEpochs uint64
}

// maxFutureEpochs is rampart-signer's bound on slashing.future_epochs.
const maxFutureEpochs = 1024

func slashingImportCommand() *cli.Command {
	var (
		db  dbFlags
		imp importFlags
	)
	return &cli.Command{
		Name:    "import",
		Args:    "FILE",
		Summary: "Merge an EIP-3076 interchange file into the database.",
		Description: `
The whole file is checked before anything is written; an invalid file, one
for another network, or one holding a block, source or target beyond the
network's current epoch plus --future-epochs (as rampart-signer's
slashing.future_epochs) changes nothing. Importing only adds protection:
records are kept, and a key's first import sets its watermarks to the
file's minima (EIP-3076, complete strategy: later files add records). With
--raise-watermarks every file's minima raise them: give it for a file that
may leave out what was signed below its minima, such as a healthy peer's
export when restoring this signer from a backup, or a minimal export. FILE
"-" reads standard input.

The network is found from the file's genesis validators root when it is a
built-in one; for a custom network give it with --network-config and
--genesis-validators-root (and --genesis-time if its genesis is not
MIN_GENESIS_TIME + GENESIS_DELAY), as in the signer's configuration.`,
		Flags: func(fs *flag.FlagSet) {
			db.register(fs)
			fs.BoolVar(&imp.create, "create", false, "create the database for the file's network if it does not exist (run as root, the new file is given to the owner of its directory: rampart-signer)")
			fs.BoolVar(&imp.raise, "raise-watermarks", false, "raise the watermarks to the file's minima even for keys imported before (a pruned or minimal file, such as a peer's export after a restore)")
			imp.net.Register(fs)
			fs.Uint64Var(&imp.futureEpochs, "future-epochs", 1, "refuse records more than `N` epochs beyond the network's current epoch (1 to 1024)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			if db.lockTimeout <= 0 {
				return cli.Usagef("--lock-timeout must be positive")
			}
			if imp.futureEpochs == 0 || imp.futureEpochs > maxFutureEpochs {
				return cli.Usagef("--future-epochs %d is not between 1 and %d", imp.futureEpochs, maxFutureEpochs)
			}
			return slashingImport(ctx, env, db, imp, args[0])
		},
	}
}

// importNetwork is the network whose clock bounds the file's records: the
// one the flags select, else the built-in network with the file's root.
func importNetwork(ctx context.Context, imp importFlags, file string, gvr protect.Root) (*network.Network, error) {
	var n *network.Network
	if imp.net.Given() {
		var err error
		if n, err = imp.net.Load(ctx); err != nil {
			return nil, err
		}
		if protect.Root(n.GenesisValidatorsRoot()) != gvr {
			return nil, fmt.Errorf("%s: %w: the file is for %v, network %s has %v (nothing was imported)", file, protect.ErrWrongNetwork, gvr, n.Name(), protect.Root(n.GenesisValidatorsRoot()))
		}
	} else {
		var ok bool
		if n, ok = network.BuiltinByGenesisValidatorsRoot(phase0.Root(gvr)); !ok {
			return nil, cli.Usagef("%s is for genesis validators root %v, not a built-in network: give it with --network-config FILE --genesis-validators-root %v (and --genesis-time if its genesis is not MIN_GENESIS_TIME + GENESIS_DELAY), so that records beyond its current epoch can be refused", file, gvr, gvr)
		}
	}
	if n.EarliestGenesisTime().IsZero() {
		return nil, cli.Usagef("network %s: the config gives neither MIN_GENESIS_TIME nor GENESIS_DELAY, so its current epoch is unknown: give --genesis-time", n.Name())
	}
	return n, nil
}

func slashingImport(ctx context.Context, env *cli.Env, f dbFlags, imp importFlags, file string) error {
	raw, err := readInput(env, file)
	if err != nil {
		return err
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", file, err)
	}
	n, err := importNetwork(ctx, imp, file, ic.GenesisValidatorsRoot)
	if err != nil {
		return err
	}
	cfg := f.config()
	cfg.SlotsPerEpoch = n.Preset().SlotsPerEpoch
	cfg.Limit = func() protect.Limit {
		h, err := signing.HorizonAt(n, time.Now(), imp.futureEpochs)
		if err != nil { // unreachable: importNetwork checked the genesis time
			return protect.Limit{Epoch: 0, Why: err.Error()}
		}
		return protect.Limit{Epoch: uint64(h.Last()), Why: h.String() + " (--future-epochs)"}
	}
	db, err := protect.Open(ctx, f.path, cfg)
	if errors.Is(err, fs.ErrNotExist) {
		if !imp.create {
			return fmt.Errorf("database %s does not exist; pass --create to create it for network %v", f.path, ic.GenesisValidatorsRoot)
		}
		db, err = protect.Create(ctx, f.path, ic.GenesisValidatorsRoot, cfg)
		if err == nil {
			var note string
			note, err = giveToOwnerOf(filepath.Dir(f.path), f.path)
			if err != nil {
				db.Close()
			} else if note != "" {
				fmt.Fprintln(env.Stderr, note)
			}
		}
	}
	if err != nil {
		return err
	}
	var opts []protect.ImportOption
	if imp.raise {
		opts = append(opts, protect.RaiseWatermarks())
	}
	results, err := db.Import(ctx, ic, opts...)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("importing %s: %w", file, err)
	}
	conflicts := 0
	fmt.Fprintf(env.Stdout, "%-98s  %-8s  %6s  %12s  %9s\n", "VALIDATOR", "STATUS", "BLOCKS", "ATTESTATIONS", "CONFLICTS")
	for _, r := range results {
		status := "merged"
		if r.New {
			status = "new"
		}
		fmt.Fprintf(env.Stdout, "%-98s  %-8s  %6d  %12d  %9d\n", r.Key, status, r.Blocks, r.Attestations, r.Conflicts)
		conflicts += r.Conflicts
	}
	fmt.Fprintf(env.Stdout, "imported history of %d validators into %s\n", len(results), f.path)
	if conflicts > 0 {
		fmt.Fprintf(env.Stdout, "warning: %d records conflict with each other or with earlier history; they were kept and refuse everything they conflict with\n", conflicts)
	}
	return nil
}

// giveToDirOwner hands a file root just created to the owner of its
// directory (rampart-signer, for /var/lib/rampart-signer), so that the
// signer, which runs as that user, can open it: a root-owned database or
// share would keep the signer from starting.
func giveToDirOwner(path string) error {
	_, err := giveToOwnerOf(filepath.Dir(path), path)
	return err
}

// giveToOwnerOf gives paths that root owns to the owner of ref, when run
// as root: the files a command just made in a signer's state directory.
// If ref is root's too (a directory made by hand, not by the unit's
// StateDirectory=), it changes nothing and returns the chown command the
// operator must run, to be printed.
func giveToOwnerOf(ref string, paths ...string) (note string, err error) {
	if os.Geteuid() != 0 || len(paths) == 0 {
		return "", nil
	}
	st, err := os.Stat(ref)
	if err != nil {
		return "", err
	}
	owner, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", nil
	}
	if owner.Uid == 0 {
		return fmt.Sprintf("note: %s is root's, so the files just made there stay root's; if rampart-signer runs as its own user, run: chown -R rampart-signer:rampart-signer %s", ref, ref), nil
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if sys, ok := fi.Sys().(*syscall.Stat_t); !ok || sys.Uid != 0 {
			continue // not made by us: left alone
		}
		if err := os.Lchown(p, int(owner.Uid), int(owner.Gid)); err != nil {
			return "", fmt.Errorf("giving %s to the owner of %s (uid %d): %w", p, ref, owner.Uid, err)
		}
	}
	return "", nil
}

func readInput(env *cli.Env, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(env.Stdin)
	}
	return os.ReadFile(file)
}

// keyList is a repeatable, comma-separated --key flag.
type keyList []protect.PublicKey

func (k *keyList) String() string {
	s := make([]string, len(*k))
	for i, key := range *k {
		s[i] = key.String()
	}
	return strings.Join(s, ",")
}

func (k *keyList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		key, err := protect.ParsePublicKey(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("public key %q: %v", s, err)
		}
		*k = append(*k, key)
	}
	return nil
}

func slashingExportCommand() *cli.Command {
	var (
		db    dbFlags
		nf    nodeFlags
		keys  keyList
		force bool
	)
	return &cli.Command{
		Name:    "export",
		Args:    "FILE",
		Summary: "Write the database's history as an EIP-3076 interchange file.",
		Description: `
Exports every validator, or those named with --key. The file is written
atomically and an existing file is only replaced with --force. FILE "-"
writes to standard output.

With --cluster and --node the running signer exports its own history
through its administrative API (admin identity and token of the cluster
file): no need to stop it, and no loss of redundancy. Without them the
command opens --db directly, which needs the signer stopped.`,
		Flags: func(fs *flag.FlagSet) {
			db.register(fs)
			nf.register(fs, 5*time.Minute)
			fs.Var(&keys, "key", "validator public `key` to export (repeatable or comma-separated; default all)")
			fs.BoolVar(&force, "force", false, "replace FILE if it exists")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			if db.lockTimeout <= 0 {
				return cli.Usagef("--lock-timeout must be positive")
			}
			if nf.cluster != "" {
				return slashingExportOnline(ctx, env, nf, keys, force, args[0])
			}
			return slashingExport(ctx, env, db, keys, force, args[0])
		},
	}
}

func slashingExport(ctx context.Context, env *cli.Env, f dbFlags, keys []protect.PublicKey, force bool, file string) error {
	// Checked early so the database is not opened for nothing; the final
	// link below re-checks atomically.
	if file != "-" && !force {
		if err := refuseExisting(file); err != nil {
			return err
		}
	}
	db, err := protect.Open(ctx, f.path, f.config())
	if err != nil {
		return err
	}
	ic, err := db.Export(ctx, keys...)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if file == "-" {
		_, err := ic.WriteTo(env.Stdout)
		return err
	}
	if err := writeFileAtomic(file, ic, 0o644, force, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "exported history of %d validators to %s\n", len(ic.Data), file)
	return nil
}

// writeFileAtomic writes through a synced temporary file and a rename (or,
// without replace, a link that fails if FILE appeared meanwhile), so FILE is
// either absent, the old file, or the whole export. check, when not nil,
// inspects the temporary file before it becomes FILE; its error leaves
// FILE as it was.
func writeFileAtomic(file string, w io.WriterTo, mode os.FileMode, replace bool, check func(tmp string) error) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = w.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), file)
	} else if err = os.Link(tmp.Name(), file); errors.Is(err, fs.ErrExist) {
		return errExists(file)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// refuseExisting is the early check of a command that writes FILE only
// with --force when it exists: it spares the work that would end in
// writeFileAtomic's link failing.
func refuseExisting(file string) error {
	if _, err := os.Lstat(file); err == nil {
		return errExists(file)
	}
	return nil
}

func errExists(file string) error {
	return fmt.Errorf("%s exists; pass --force to replace it", file)
}

// slashingExportOnline asks a running signer for its history.
func slashingExportOnline(ctx context.Context, env *cli.Env, nf nodeFlags, keys []protect.PublicKey, force bool, file string) error {
	if file != "-" && !force {
		if err := refuseExisting(file); err != nil {
			return err
		}
	}
	c, release, err := nf.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, nf.timeout)
	defer cancel()
	want := make([]api.PublicKey, len(keys))
	for i, k := range keys {
		want[i] = api.PublicKey(k)
	}
	raw, err := c.ExportSlashing(ctx, want)
	if err != nil {
		return fmt.Errorf("participant %s: %w", c.ID(), err)
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil {
		return fmt.Errorf("participant %s: its export: %w", c.ID(), err)
	}
	if file == "-" {
		_, err := ic.WriteTo(env.Stdout)
		return err
	}
	if err := writeFileAtomic(file, ic, 0o644, force, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "exported history of %d validators from participant %s to %s\n", len(ic.Data), c.ID(), file)
	return nil
}
