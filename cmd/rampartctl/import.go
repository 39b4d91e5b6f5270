package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/parallel"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss/keystore"
)

func importCommand() *cli.Command {
	var clusterPath, dir, passwordFile, history string
	var threshold, chunk int
	var acceptLowSafety bool
	return &cli.Command{
		Name:    "import",
		Summary: "Import EIP-2335 keystores into the cluster, split t-of-n.",
		Description: `Decrypts every keystore (*.json) in --keystores with the password in
--password-file, checks each decrypted key against its keystore's public
key, splits it --threshold-of-n and delivers each share over mutual TLS
(the admin identity of the cluster file, with the administrative token of
its admin.token) to its signer, which seals it in its HSM. The keys'
EIP-3076 history (--slashing-protection) is imported at every signer
before any account becomes signable. Every signer then proves it holds
its share (a partial signature of one fixed Rampart message), the proofs
must recover the original key's signature, and only then are the accounts
activated. A failure removes the batch's accounts from every signer. Whole keys are zeroed as soon as they are
imported. Keys go in batches of --batch; a failure stops the import and
leaves earlier batches fully imported.

Running it again after an interruption finishes the job: a key every
signer holds already is skipped and said so, once every signer's proof of
possession shows the shares are of that key (a different share under the
same key is an error naming it); a key an interrupted import left staged
at some signers and active at the others is activated where staged; a key
only some signers hold is an error naming them.

It first prints what the threshold tolerates and asks for confirmation
when the safety tolerance is below 1 (--accept-low-safety answers without
asking).`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&clusterPath, "cluster", "cluster.yaml", "cluster `file`")
			fs.StringVar(&dir, "keystores", "", "`directory` of EIP-2335 keystores (required)")
			fs.StringVar(&passwordFile, "password-file", "", "`file` holding the keystores' password (required)")
			fs.StringVar(&history, "slashing-protection", "", "EIP-3076 interchange `file` with the keys' history")
			fs.IntVar(&threshold, "threshold", 0, "signatures needed (default: the cluster file's threshold)")
			fs.IntVar(&chunk, "batch", 100, "keys per all-or-nothing batch")
			registerAcceptLowSafety(fs, &acceptLowSafety)
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if dir == "" || passwordFile == "" {
				return cli.Usagef("--keystores and --password-file are required")
			}
			if chunk < 1 {
				return cli.Usagef("--batch must be at least 1")
			}
			cf, err := adminapi.LoadClusterFile(clusterPath)
			if err != nil {
				return err
			}
			if threshold == 0 {
				threshold = cf.Threshold
			}
			if err := checkThreshold(env, threshold, len(cf.Participants), acceptLowSafety); err != nil {
				return err
			}
			n, err := cf.LoadNetwork(ctx)
			if err != nil {
				return err
			}
			var ic *protect.Interchange
			if history != "" {
				raw, err := os.ReadFile(history)
				if err != nil {
					return err
				}
				if ic, err = protect.ParseInterchange(raw); err != nil {
					return fmt.Errorf("--slashing-protection %s: %w", history, err)
				}
				if ic.GenesisValidatorsRoot != protect.Root(n.GenesisValidatorsRoot()) {
					return fmt.Errorf("--slashing-protection %s: %w", history, protect.ErrWrongNetwork)
				}
			}
			secrets, names, err := decryptKeystores(env, dir, passwordFile)
			defer func() {
				for _, s := range secrets {
					s.Zero()
				}
			}()
			if err != nil {
				return err
			}
			im, closeFn, err := clusterImporter(ctx, cf, n, threshold)
			if err != nil {
				return err
			}
			defer closeFn()
			start := time.Now()
			var imported []api.PublicKey
			skipped := 0
			for lo := 0; lo < len(secrets); lo += chunk {
				hi := min(lo+chunk, len(secrets))
				keys := make([]adminapi.ImportKey, 0, hi-lo)
				for _, s := range secrets[lo:hi] {
					keys = append(keys, adminapi.ImportKey{Secret: s, History: adminapi.HistoryOf(ic, api.PublicKey(s.PublicKey().Bytes()))})
				}
				out, err := im.ImportResumable(ctx, keys)
				for _, s := range secrets[lo:hi] {
					s.Zero()
				}
				if err != nil {
					return fmt.Errorf("importing %s..%s (nothing of this batch was kept; %d keys imported or present before it): %w", names[lo], names[hi-1], len(imported), err)
				}
				for _, k := range out.Present {
					fmt.Fprintf(env.Stdout, "skipped %s: already imported (every signer holds it; their shares prove this key)\n", k)
				}
				for _, k := range out.Completed {
					fmt.Fprintf(env.Stdout, "completed %s: an interrupted import had staged it; shares proven and activated\n", k)
				}
				imported = append(imported, out.Imported...)
				imported = append(imported, out.Completed...)
				imported = append(imported, out.Present...)
				skipped += len(out.Present)
				fmt.Fprintf(env.Stdout, "imported %d/%d keys, %d already present (%.1f keys/s)\n", len(imported)-skipped, len(secrets), skipped, float64(len(imported))/time.Since(start).Seconds())
			}
			for _, k := range imported {
				fmt.Fprintln(env.Stdout, k)
			}
			if _, err := clusterfile.AddAccounts(clusterPath, keyStrings(imported)); err != nil {
				fmt.Fprintf(env.Stderr, "note: could not add the accounts to %s: %v\n", clusterPath, err)
			}
			return nil
		},
	}
}

// clusterImporter imports into the cluster of cf as its admin identity,
// with the administrative token.
func clusterImporter(ctx context.Context, cf *adminapi.ClusterFile, n *network.Network, threshold int) (*adminapi.Importer, func(), error) {
	peers, closeFn, err := cf.AdminClients(ctx)
	if err != nil {
		return nil, nil, err
	}
	var admins []adminapi.AccountAdmin
	for _, p := range peers {
		admins = append(admins, p)
	}
	return &adminapi.Importer{Admins: admins, Threshold: threshold, Network: n, Rand: rand.Reader}, closeFn, nil
}

// keyStrings is keys in their 0x-prefixed hex form.
func keyStrings(keys []api.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// decryptKeystores decrypts every *.json keystore of dir over the CPUs
// (scrypt is slow by design) and returns the keys sorted by file name.
func decryptKeystores(env *cli.Env, dir, passwordFile string) ([]*bls.SecretKey, []string, error) {
	pw, err := os.ReadFile(passwordFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--password-file: %w", err)
	}
	defer clear(pw)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	var files []string
	for _, p := range paths {
		if !strings.HasPrefix(filepath.Base(p), "deposit_data") {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("--keystores %s: no keystore (*.json)", dir)
	}
	secrets := make([]*bls.SecretKey, len(files))
	errs := make([]error, len(files))
	// Decryption (scrypt or pbkdf2) is CPU-bound: one worker per core.
	parallel.For(len(files), func(i int) {
		raw, err := os.ReadFile(files[i])
		if err != nil {
			errs[i] = err
			return
		}
		k, err := keystore.Parse(raw)
		if err != nil {
			errs[i] = err
			return
		}
		secrets[i], errs[i] = k.Decrypt(pw)
	})
	var bad []error
	seen := map[api.PublicKey]string{}
	for i, err := range errs {
		if err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", filepath.Base(files[i]), err))
			continue
		}
		pub := api.PublicKey(secrets[i].PublicKey().Bytes())
		if other, dup := seen[pub]; dup {
			bad = append(bad, fmt.Errorf("%s: same key as %s", filepath.Base(files[i]), other))
		}
		seen[pub] = filepath.Base(files[i])
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	if len(bad) > 0 {
		return secrets, names, fmt.Errorf("keystores refused, nothing imported: %w", errors.Join(bad...))
	}
	fmt.Fprintf(env.Stdout, "decrypted %d keystores\n", len(files))
	return secrets, names, nil
}
