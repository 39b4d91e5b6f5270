package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/protect"
)

// defaultAuditDir is where rampart-signer keeps its audit log.
const defaultAuditDir = "/var/lib/rampart-signer/audit"

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:        "audit",
		Summary:     "Check a signer's audit log.",
		Subcommands: []*cli.Command{auditVerifyCommand(), auditAcknowledgeLossCommand()},
	}
}

// auditSources are where verify finds the log, its anchor and the key.
type auditSources struct {
	config     string
	db         string
	anchorURL  string
	anchor     string
	key        string
	noAnchor   bool
	lockWait   time.Duration
	httpClient *http.Client
}

func auditVerifyCommand() *cli.Command {
	var s auditSources
	return &cli.Command{
		Name:    "verify",
		Args:    "[DIR | FILE...]",
		Summary: "Verify an audit log: chain, anchor and HSM checkpoints.",
		Description: `Reads every file of the log in DIR (default: audit.dir of --config, else
` + defaultAuditDir + `), or the FILEs given in order (a shipped copy,
or a version 1 audit.log), and checks:

  - every line: in the exact form the signer writes, numbered in sequence,
    chained by SHA-256 to the one before it, files chained to each other;
  - the anchor: the log must reach the head the signer anchored in its
    slashing protection database, with the same hash (a cut end, an emptied
    or deleted file). From --anchor SEQ:HASH, --anchor-url (a running
    signer's operations listener, .../audit/anchor), or --slashing-db
    (read-only; the signer must be stopped, since it holds the file's lock).
    With --config: its database, or its operations listener on loopback when
    the signer runs;
  - checkpoints, with --key (the sealing key's URI, pin-source=file:...): the
    HSM tag of each, and that the chain has the hash each vouches for (a
    rewrite of the files with the chain recomputed).

Prints what it checked and how far the HSM checkpoints authenticate the log.
Exits 1 at the first problem, naming the file, line and record. An
incomplete last line (a write in progress, or cut by a crash, which the
signer removes at its next start) is reported but is not an error.

` + uriHelp,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&s.config, "config", "", "the signer's configuration `file`: audit.dir, slashing.database, listen.operations and hsm.sealing_key")
			fs.StringVar(&s.db, "slashing-db", "", "read the anchor from this slashing protection database `file` (signer stopped)")
			fs.StringVar(&s.anchorURL, "anchor-url", "", "read the anchor from a running signer: `URL` of its /audit/anchor")
			fs.StringVar(&s.anchor, "anchor", "", "the anchor, as `SEQ:HASH`")
			fs.BoolVar(&s.noAnchor, "no-anchor", false, "check no anchor (a shipped copy); a cut end then goes unseen")
			fs.StringVar(&s.key, "key", "", "PKCS#11 `URI` of the sealing key, to check checkpoint tags")
			fs.DurationVar(&s.lockWait, "lock-timeout", time.Second, "how long to wait for the slashing database's lock")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return auditVerify(ctx, env, s, args)
		},
	}
}

func auditVerify(ctx context.Context, env *cli.Env, s auditSources, args []string) error {
	var cfg *appliance.Config
	if s.config != "" {
		c, err := appliance.Load(s.config)
		if err != nil {
			return cli.Usagef("--config: %v", err)
		}
		cfg = c
	}
	dir, files := defaultAuditDir, []string(nil)
	if cfg != nil {
		dir = cfg.Audit.Dir
	}
	switch {
	case len(args) == 1:
		if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
			dir = args[0]
		} else {
			files = args
		}
	case len(args) > 1:
		files = args
	}
	anchor, from, err := resolveAnchor(ctx, s, cfg)
	if err != nil {
		return err
	}
	opts := audit.VerifyOptions{Anchor: anchor}
	if s.key != "" {
		uri, err := hsm.ParseURI(s.key)
		if err != nil {
			return cli.Usagef("--key: %v", err)
		}
		tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
		if err != nil {
			return err
		}
		defer tok.Close()
		k, err := tok.SealingKey(ctx, uri.ObjectRef())
		if err != nil {
			return err
		}
		opts.Tagger = k
	}
	var r *audit.Report
	where := dir
	if files != nil {
		r, err = audit.VerifyFiles(ctx, files, opts)
		where = fmt.Sprintf("%d files", len(files))
	} else {
		r, err = audit.VerifyDir(ctx, dir, opts)
	}
	printReport(env.Stdout, where, r, anchor, from, opts.Tagger != nil)
	if err != nil {
		var ae *audit.Error
		if errors.As(err, &ae) && r.LastSeq > 0 {
			return fmt.Errorf("%w (the records %d to %d before it verified)", err, r.FirstSeq, r.LastSeq)
		}
		return err
	}
	return nil
}

// resolveAnchor finds the anchor to check, and says where it came from.
func resolveAnchor(ctx context.Context, s auditSources, cfg *appliance.Config) (*audit.Anchor, string, error) {
	if s.noAnchor {
		return nil, "", nil
	}
	if s.anchor != "" {
		a, err := audit.ParseAnchor(s.anchor)
		if err != nil {
			return nil, "", cli.Usagef("--anchor: %v", err)
		}
		return &a, "--anchor", nil
	}
	if s.anchorURL != "" {
		a, err := fetchAnchor(ctx, s.httpClient, s.anchorURL)
		return a, s.anchorURL, err
	}
	db := s.db
	if db == "" && cfg != nil {
		db = cfg.Slashing.Database
	}
	if db == "" {
		return nil, "", cli.Usagef("say where the anchor is: --config, --slashing-db, --anchor-url or --anchor (or --no-anchor for a copy without one)")
	}
	pc := protect.DefaultConfig()
	pc.LockTimeout = s.lockWait
	v, ok, err := protect.ReadAnchor(ctx, db, audit.AnchorName, pc)
	if errors.Is(err, protect.ErrInUse) {
		if cfg != nil {
			if u, ok := operationsURL(cfg); ok {
				a, ferr := fetchAnchor(ctx, s.httpClient, u)
				return a, u + " (the signer runs)", ferr
			}
		}
		return nil, "", fmt.Errorf("%w: while the signer runs, give its operations listener: --anchor-url http://127.0.0.1:9200/audit/anchor", err)
	}
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, db + " (no anchor yet)", nil
	}
	a, err := audit.ParseAnchor(string(v))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", db, err)
	}
	if a.Lost != nil && a.Seq == 0 {
		return nil, db + " (a loss acknowledged; the signer has not started since)", nil
	}
	return &a, db, nil
}

// operationsURL is the anchor endpoint of a signer whose operations
// listener is plain HTTP on loopback.
func operationsURL(cfg *appliance.Config) (string, bool) {
	host, port, err := net.SplitHostPort(cfg.Listen.Operations)
	if err != nil {
		return "", false
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", false
	}
	return "http://" + net.JoinHostPort(host, port) + "/audit/anchor", true
}

func fetchAnchor(ctx context.Context, c *http.Client, url string) (*audit.Anchor, error) {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, cli.Usagef("--anchor-url: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the signer for the anchor: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("asking the signer for the anchor: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("asking the signer for the anchor: %s: %s", resp.Status, body)
	}
	var out struct {
		Durable audit.Anchor `json:"durable"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the signer's anchor: %w", err)
	}
	return &out.Durable, nil
}

func printReport(w io.Writer, where string, r *audit.Report, anchor *audit.Anchor, from string, tagged bool) {
	for _, f := range r.Files {
		fmt.Fprintf(w, "%s  records %d to %d  %d bytes\n", f.Name, f.FirstSeq, f.LastSeq, f.Bytes)
	}
	fmt.Fprintf(w, "%s: %d files, records %d to %d (%d signatures and other records), last hash %s\n", where, len(r.Files), r.FirstSeq, r.LastSeq, r.Records, r.Head)
	if r.Continues {
		fmt.Fprintf(w, "chain: starts at record %d, continuing records no longer here (deleted by retention: %d files listed in the log)\n", r.FirstSeq, len(r.Deleted))
	}
	switch {
	case !tagged:
		fmt.Fprintf(w, "checkpoints: %d, their hashes agree with the chain; tags not checked (give --key)\n", r.Checkpoints)
	case r.AuthenticatedTo == 0:
		fmt.Fprintf(w, "checkpoints: %d tagged by the HSM; WARNING: no record is authenticated by a checkpoint\n", r.Tagged)
	default:
		fmt.Fprintf(w, "checkpoints: %d tagged by the HSM; records %d to %d authenticated", r.Tagged, r.FirstSeq, r.AuthenticatedTo)
		if r.AuthenticatedTo < r.LastSeq {
			fmt.Fprintf(w, "; records %d to %d chained and anchored only", r.AuthenticatedTo+1, r.LastSeq)
		}
		fmt.Fprintln(w)
	}
	switch {
	case anchor == nil && from == "":
		fmt.Fprintln(w, "anchor: not checked (a cut end would go unseen)")
	case anchor == nil:
		fmt.Fprintf(w, "anchor: none in %s\n", from)
	case r.AnchorChecked:
		fmt.Fprintf(w, "anchor: record %d from %s matches\n", anchor.Seq, from)
	case anchor.Seq <= r.LastSeq:
		fmt.Fprintf(w, "anchor: record %d from %s is before the first record kept; not compared\n", anchor.Seq, from)
	}
	for _, x := range r.Resets {
		fmt.Fprintf(w, "reset: %s\n", x)
	}
	for _, x := range r.Recoveries {
		fmt.Fprintf(w, "recovery: %s\n", x)
	}
	if r.TornBytes > 0 {
		fmt.Fprintf(w, "note: an incomplete last line of %d bytes (a write in progress, or cut by a crash; the signer removes it at start)\n", r.TornBytes)
	}
}

func auditAcknowledgeLossCommand() *cli.Command {
	var config, db string
	var lockWait time.Duration
	return &cli.Command{
		Name:    "acknowledge-loss",
		Summary: "Let a stopped signer start after its audit log lost anchored records.",
		Description: `A signer refuses to start when its audit log ends before, or disagrees
with, the anchor in its slashing protection database (records cut off, a
file emptied or deleted, the log rewritten), and leaves the log as it
found it. Once you have kept a copy of the audit directory as evidence and
found the cause, this command replaces the anchor with a note of what it
was; the next start writes a "reset" record naming the lost records into
the log (continuing what is left, or a new log if you moved the directory
away), and anchors the log again. The signer must be stopped.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&config, "config", "", "the signer's configuration `file` (for slashing.database)")
			fs.StringVar(&db, "slashing-db", "", "the slashing protection database `file`")
			fs.DurationVar(&lockWait, "lock-timeout", time.Second, "how long to wait for the database's lock")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			pc := protect.DefaultConfig()
			pc.LockTimeout = lockWait
			if config != "" {
				cfg, err := appliance.Load(config)
				if err != nil {
					return cli.Usagef("--config: %v", err)
				}
				if db == "" {
					db = cfg.Slashing.Database
				}
				pc.HistoryEpochs = cfg.Slashing.HistoryEpochs
			}
			if db == "" {
				return cli.Usagef("give --config or --slashing-db")
			}
			return acknowledgeLoss(ctx, env, db, pc)
		},
	}
}

func acknowledgeLoss(ctx context.Context, env *cli.Env, path string, pc protect.Config) error {
	d, err := protect.Open(ctx, path, pc)
	if err != nil {
		return err
	}
	defer d.Close()
	v, ok := d.Anchor(audit.AnchorName)
	if !ok {
		return fmt.Errorf("%s holds no audit anchor: nothing to acknowledge", path)
	}
	a, err := audit.ParseAnchor(string(v))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if a.Seq == 0 && a.Lost != nil {
		return fmt.Errorf("%s: the loss of records up to %d is already acknowledged; start the signer", path, a.Lost.Seq)
	}
	lost := audit.Anchor{Lost: &audit.Anchor{Seq: a.Seq, Head: a.Head, Checkpoint: a.Checkpoint}}
	b, err := lost.MarshalJSON()
	if err != nil {
		return err
	}
	if err := d.SetAnchor(audit.AnchorName, b); err != nil {
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: acknowledged the loss of audit records up to %d (hash %s); the signer notes it in the log at its next start\n", filepath.Base(path), a.Seq, a.Head)
	return nil
}
