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
	"syscall"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/backup"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:    "backup",
		Summary: "Back up a running signer; verify a backup; restore one.",
		Description: `
A backup holds a consistent copy of the signer's slashing protection
database, the same history as EIP-3076, its sealed shares, its
configuration and its audit head, with a manifest of SHA-256 checksums.

The sealed shares are worth nothing without the signer's HSM sealing key,
which never leaves the HSM: keep a backup or clone of the HSM key (the
HSM's own backup procedure), or plan to recover a lost share by share
repair from the other signers. See docs/operations.md.`,
		Subcommands: []*cli.Command{backupCreateCommand(), backupVerifyCommand(), backupRestoreCommand()},
	}
}

// nodeFlags select one signer of the cluster file.
type nodeFlags struct {
	cluster string
	node    uint64
	timeout time.Duration
}

func (f *nodeFlags) register(fs *flag.FlagSet, timeout time.Duration) {
	fs.StringVar(&f.cluster, "cluster", "", "cluster `file`: reach the running signer through its administrative API (admin identity and token)")
	fs.Uint64Var(&f.node, "node", 0, "the signer's participant `id` in the cluster file (required with --cluster)")
	fs.DurationVar(&f.timeout, "timeout", timeout, "how long the transfer may take")
}

// client returns the administrative client of the selected signer.
func (f *nodeFlags) client(ctx context.Context) (*adminapi.Client, func(), error) {
	if f.node == 0 {
		return nil, nil, cli.Usagef("--node is required with --cluster")
	}
	peers, release, err := loadAdminPeers(ctx, f.cluster)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range peers {
		if p.ID() == tss.ID(f.node) {
			return p, release, nil
		}
	}
	release()
	return nil, nil, cli.Usagef("--node %d: the cluster file %s has no such participant", f.node, f.cluster)
}

func backupCreateCommand() *cli.Command {
	var (
		nf    nodeFlags
		force bool
	)
	return &cli.Command{
		Name:    "create",
		Args:    "FILE",
		Summary: "Take a backup of a running signer through its administrative API.",
		Description: `
Asks signer --node of the cluster file for its backup while it keeps
signing: the slashing database is copied in one read transaction. The
archive is written to a temporary file beside FILE, verified (every
member's SHA-256 against the manifest) and only then linked to FILE, so
FILE is either absent or a whole, verified backup; an existing FILE is
only replaced with --force.`,
		Flags: func(fs *flag.FlagSet) {
			nf.register(fs, 30*time.Minute)
			fs.Lookup("cluster").Usage += " (required)"
			fs.BoolVar(&force, "force", false, "replace FILE if it exists")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			if nf.cluster == "" {
				return cli.Usagef("--cluster is required")
			}
			return backupCreate(ctx, env, nf, args[0], force)
		},
	}
}

func backupCreate(ctx context.Context, env *cli.Env, nf nodeFlags, file string, force bool) error {
	if !force {
		if err := refuseExisting(file); err != nil {
			return err
		}
	}
	c, release, err := nf.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, nf.timeout)
	defer cancel()
	var m *backup.Manifest
	err = writeFileAtomic(file, writerFunc(func(w io.Writer) (int64, error) {
		n, err := c.Backup(ctx, w)
		if err != nil {
			return n, fmt.Errorf("participant %s: %w", c.ID(), err)
		}
		return n, nil
	}), 0o600, force, func(tmp string) error {
		a, err := verifyArchive(tmp, file)
		if err == nil {
			m = &a.Manifest
		}
		return err
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(env.Stdout, "backup of node %d of cluster %q written to %s: %d validators, %d shares, audit head %d, %d members verified (took %.1f s)\n",
		m.Node, m.Cluster, file, m.Validators, m.Shares, m.Audit.Seq, len(m.Members), took.Seconds())
	return nil
}

// writerFunc is an io.WriterTo from a function.
type writerFunc func(io.Writer) (int64, error)

func (f writerFunc) WriteTo(w io.Writer) (int64, error) { return f(w) }

// verifyArchive opens the archive at path (named name) into a temporary
// directory, verifying it, and removes the directory.
func verifyArchive(path, name string) (*backup.Archive, error) {
	dir, err := os.MkdirTemp("", "rampart-backup-verify-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	return openArchive(path, name, dir)
}

func openArchive(path, name, dir string) (*backup.Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return backup.Open(f, name, dir)
}

func backupVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:    "verify",
		Args:    "FILE",
		Summary: "Check a backup's checksums and print its manifest.",
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			a, err := verifyArchive(args[0], args[0])
			if err != nil {
				return err
			}
			m := a.Manifest
			fmt.Fprintf(env.Stdout, "%s: backup of node %d of cluster %q, network %s, taken %s\n", args[0], m.Node, m.Cluster, m.GenesisValidatorsRoot, m.Created.Format(time.RFC3339))
			fmt.Fprintf(env.Stdout, "%d validators, %d sealed shares, audit head %d:%s; %d members, every SHA-256 matches\n", m.Validators, m.Shares, m.Audit.Seq, m.Audit.Head, len(m.Members))
			return nil
		},
	}
}

func backupRestoreCommand() *cli.Command {
	var (
		config   string
		merges   []string
		lockWait time.Duration
		nf       nodeFlags
	)
	return &cli.Command{
		Name:    "restore",
		Args:    "FILE",
		Summary: "Restore a backup; slashing protection never moves backwards.",
		Description: `
With --config (the signer stopped): checks the backup's checksums and that
it is this signer's (cluster.id, node.id, network), then

  - writes the sealed shares missing from accounts.shares_dir (a share on
    disk that differs from the backup's is an error naming the account);
  - puts the backup's database in place if slashing.database is missing,
    else merges the backup's history into it, record by record;
  - merges every --merge FILE (EIP-3076, such as each healthy peer's
    "rampartctl slashing export --cluster ... --node N" after this signer
    lost its disk), for the accounts this signer holds;
  - raises every account's low watermarks to the network's current epoch
    by the wall clock plus slashing.future_epochs: whatever the signer
    signed after the backup was taken cannot be contradicted. It resumes
    attesting once the chain's justified checkpoint passes that epoch
    (two to three epochs).

If the configuration file does not exist, the backup's is written there
first (a rebuilt disk). If the audit log is gone too, the database notes
the loss of the records the backup anchors, as rampartctl audit
acknowledge-loss does. Run as root, the files and directories created in
the state directory are given to its owner (rampart-signer), and a
configuration written is root's in that owner's group, mode 0640.

With --cluster and --node instead (the signer running): merges the
backup's history into the running signer's database and raises its
watermarks likewise; shares and configuration are not restored online.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&config, "config", "", "the stopped signer's configuration `file` (e.g. /etc/rampart/signer.yaml)")
			fs.Func("merge", "EIP-3076 `file` to merge as well (repeatable): a peer's export", func(s string) error { merges = append(merges, s); return nil })
			fs.DurationVar(&lockWait, "lock-timeout", time.Second, "how long to wait for a running signer to release the database")
			nf.register(fs, 10*time.Minute)
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want exactly one FILE, got %d arguments", len(args))
			}
			switch {
			case config != "" && nf.cluster != "":
				return cli.Usagef("give --config (signer stopped) or --cluster and --node (signer running), not both")
			case nf.cluster != "":
				if len(merges) > 0 {
					return cli.Usagef("--merge is for a stopped signer; merge a peer's export online with another restore, or stop the signer")
				}
				return backupRestoreOnline(ctx, env, nf, args[0])
			case config == "":
				return cli.Usagef("give --config (signer stopped) or --cluster and --node (signer running)")
			}
			return backupRestore(ctx, env, args[0], config, merges, lockWait)
		},
	}
}

func backupRestore(ctx context.Context, env *cli.Env, file, config string, merges []string, lockWait time.Duration) error {
	var peers []*protect.Interchange
	for _, m := range merges {
		raw, err := os.ReadFile(m)
		if err != nil {
			return fmt.Errorf("--merge: %w", err)
		}
		ic, err := protect.ParseInterchange(raw)
		if err != nil {
			return fmt.Errorf("--merge %s: %w (nothing was restored)", m, err)
		}
		peers = append(peers, ic)
	}
	dir, err := os.MkdirTemp("", "rampart-restore-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := openArchive(file, file, dir)
	if err != nil {
		return fmt.Errorf("%w (nothing was restored)", err)
	}
	configRestored := false
	if _, err := os.Stat(config); errors.Is(err, fs.ErrNotExist) {
		if !a.Has(backup.ConfigName) {
			return fmt.Errorf("--config %s does not exist and the backup holds no configuration", config)
		}
		data, err := os.ReadFile(a.Path(backup.ConfigName))
		if err != nil {
			return err
		}
		if err := writeFileAtomic(config, writerFunc(func(w io.Writer) (int64, error) {
			n, err := w.Write(data)
			return int64(n), err
		}), 0o640, false, nil); err != nil {
			return fmt.Errorf("writing the backup's configuration to %s: %w", config, err)
		}
		configRestored = true
		fmt.Fprintf(env.Stdout, "configuration restored to %s\n", config)
	}
	cfg, err := appliance.Load(config)
	if err != nil {
		return cli.Usagef("--config: %v", err)
	}
	if configRestored {
		note, err := giveConfigToService(config, cfg.DataDir)
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintln(env.Stderr, note)
		}
	}
	n, err := cfg.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	t, err := cfg.RestoreTarget(n, time.Now(), lockWait)
	if err != nil {
		return err
	}
	t.Merge, t.Own = peers, giveToDirOwner
	rep, err := backup.Restore(ctx, a, t)
	if errors.Is(err, protect.ErrInUse) {
		return fmt.Errorf("%w: the signer is running; stop it, or restore online with --cluster and --node", err)
	}
	if err != nil {
		return err
	}
	if rep.DatabaseCreated {
		fmt.Fprintf(env.Stdout, "slashing database restored to %s from the backup of %s\n", cfg.Slashing.Database, a.Manifest.Created.Format(time.RFC3339))
	} else {
		fmt.Fprintf(env.Stdout, "the backup's history merged into %s\n", cfg.Slashing.Database)
	}
	fmt.Fprintf(env.Stdout, "sealed shares: %d restored, %d already present\n", rep.SharesRestored, rep.SharesKept)
	if len(peers) > 0 {
		fmt.Fprintf(env.Stdout, "merged the history of %d validators from %d further files\n", rep.MergedFromPeers, len(peers))
	}
	if rep.AuditLossAcknowledged != nil {
		fmt.Fprintf(env.Stdout, "the audit log is gone: the loss of its records up to %d (hash %s) is noted; the signer writes a reset record at its next start\n", rep.AuditLossAcknowledged.Seq, rep.AuditLossAcknowledged.Head)
	}
	fmt.Fprintf(env.Stdout, "watermarks of %d validators raised to epoch %d: the signer may start\n", rep.Validators, rep.FloorEpoch)
	return nil
}

// giveConfigToService makes a configuration file the restore wrote, when
// run as root, what the package makes /etc/rampart/signer.yaml: root's,
// mode 0640, in the group of the signer's state directory (rampart-signer,
// as the unit's StateDirectory= made it), so that the signer, running as
// that user, can read it. The directory holding the configuration is
// root's (/etc/rampart), so its owner is no guide. If the state directory
// is root's too (a new disk the unit never started on), it changes nothing
// and returns the command the operator must run, to be printed.
func giveConfigToService(config, dataDir string) (note string, err error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	st, err := os.Stat(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var gid uint32
	if err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			gid = sys.Gid
		}
	}
	if gid == 0 {
		return fmt.Sprintf("note: the configuration restored to %s is root's (mode 0640) and %s gives no service group; if rampart-signer runs as its own user, run: chgrp rampart-signer %s", config, dataDir, config), nil
	}
	if err := os.Lchown(config, 0, int(gid)); err != nil {
		return "", fmt.Errorf("giving %s to the group of %s (gid %d): %w", config, dataDir, gid, err)
	}
	return "", nil
}

// mergeChunk is the number of validators per online merge request, well
// inside the signer's 8 MiB body bound for pruned histories.
const mergeChunk = 1000

func backupRestoreOnline(ctx context.Context, env *cli.Env, nf nodeFlags, file string) error {
	a, err := readVerified(file)
	if err != nil {
		return err
	}
	c, release, err := nf.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	if uint64(c.ID()) != a.manifest.Node {
		return fmt.Errorf("%w: the backup is of node %d, --node is %d", backup.ErrWrongSigner, a.manifest.Node, nf.node)
	}
	ctx, cancel := context.WithTimeout(ctx, nf.timeout)
	defer cancel()
	merged := 0
	for i := 0; i < len(a.history.Data); i += mergeChunk {
		part := &protect.Interchange{GenesisValidatorsRoot: a.history.GenesisValidatorsRoot, Data: a.history.Data[i:min(i+mergeChunk, len(a.history.Data))]}
		raw, err := part.Marshal()
		if err != nil {
			return err
		}
		resp, err := c.MergeSlashing(ctx, &adminapi.MergeRequest{SlashingProtection: raw})
		if err != nil {
			return fmt.Errorf("participant %s: merging validators %d to %d: %w", c.ID(), i, i+len(part.Data)-1, err)
		}
		merged += resp.Validators
	}
	resp, err := c.MergeSlashing(ctx, &adminapi.MergeRequest{RaiseToCurrentEpoch: true})
	if err != nil {
		return fmt.Errorf("participant %s: raising the watermarks: %w", c.ID(), err)
	}
	fmt.Fprintf(env.Stdout, "participant %s: history of %d validators merged; watermarks raised to epoch %d\n", c.ID(), merged, uint64(*resp.RaisedTo))
	return nil
}

// verified is a backup's manifest and history, read and verified.
type verified struct {
	manifest backup.Manifest
	history  *protect.Interchange
}

func readVerified(file string) (*verified, error) {
	dir, err := os.MkdirTemp("", "rampart-backup-verify-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	a, err := openArchive(file, file, dir)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, backup.InterchangeNm))
	if err != nil {
		return nil, err
	}
	ic, err := protect.ParseInterchange(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, backup.InterchangeNm, err)
	}
	return &verified{manifest: a.Manifest, history: ic}, nil
}
