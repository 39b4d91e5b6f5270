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

	"github.com/rampart-signer/rampart/internal/cli"
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

func slashingImportCommand() *cli.Command {
	var (
		db     dbFlags
		create bool
	)
	return &cli.Command{
		Name:    "import",
		Args:    "FILE",
		Summary: "Merge an EIP-3076 interchange file into the database.",
		Description: `
The whole file is checked before anything is written; an invalid file or one
for another network changes nothing. Importing only adds protection: records
are merged and watermarks only rise. FILE "-" reads standard input.`,
		Flags: func(fs *flag.FlagSet) {
			db.register(fs)
			fs.BoolVar(&create, "create", false, "create the database for the file's network if it does not exist (run as root, the new file is given to the owner of its directory: rampart-signer)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			if db.lockTimeout <= 0 {
				return cli.Usagef("--lock-timeout must be positive")
			}
			return slashingImport(ctx, env, db, create, args[0])
		},
	}
}

func slashingImport(ctx context.Context, env *cli.Env, f dbFlags, create bool, file string) error {
	raw, err := readInput(env, file)
	if err != nil {
		return err
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", file, err)
	}
	db, err := protect.Open(ctx, f.path, f.config())
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return fmt.Errorf("database %s does not exist; pass --create to create it for network %v", f.path, ic.GenesisValidatorsRoot)
		}
		db, err = protect.Create(ctx, f.path, ic.GenesisValidatorsRoot, f.config())
		if err == nil {
			err = giveToDirOwner(f.path)
			if err != nil {
				db.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	results, err := db.Import(ctx, ic)
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

// giveToDirOwner hands a database root just created to the owner of its
// directory (rampart-signer, for /var/lib/rampart-signer), so that the
// signer, which runs as that user, can open it: a root-owned database
// would keep the signer from starting.
func giveToDirOwner(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	if err := os.Chown(path, int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("giving %s to the owner of its directory (uid %d): %w", path, sys.Uid, err)
	}
	return nil
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
writes to standard output.`,
		Flags: func(fs *flag.FlagSet) {
			db.register(fs)
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
			return slashingExport(ctx, env, db, keys, force, args[0])
		},
	}
}

func slashingExport(ctx context.Context, env *cli.Env, f dbFlags, keys []protect.PublicKey, force bool, file string) error {
	// Checked early so the database is not opened for nothing; the final
	// link below re-checks atomically.
	if file != "-" && !force {
		if _, err := os.Lstat(file); err == nil {
			return fmt.Errorf("%s exists; pass --force to replace it", file)
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
	if err := writeFileAtomic(file, ic, force); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "exported history of %d validators to %s\n", len(ic.Data), file)
	return nil
}

// writeFileAtomic writes through a synced temporary file and a rename (or,
// without replace, a link that fails if FILE appeared meanwhile), so FILE is
// either absent, the old file, or the whole export.
func writeFileAtomic(file string, w io.WriterTo, replace bool) error {
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
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), file)
	} else if err = os.Link(tmp.Name(), file); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to replace it", file)
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
