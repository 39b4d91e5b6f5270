package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
)

func accountsCommand() *cli.Command {
	return &cli.Command{
		Name:        "accounts",
		Summary:     "Removed accounts: list those awaiting destruction, restore them.",
		Subcommands: []*cli.Command{accountsRemovedCommand(), accountsRestoreCommand()},
	}
}

func accountsRemovedCommand() *cli.Command {
	var clusterPath string
	return &cli.Command{
		Name:    "removed",
		Summary: "List the removed shares each signer will destroy, and when.",
		Description: `Asks every signer of the cluster (admin identity and administrative token of
the cluster file) for the removed accounts whose sealed share it still
holds: removal stops an account signing at once, but a signer destroys
the share only accounts.destroy_after later, so that a removal made by
mistake, or with a stolen credential, can be undone (rampartctl accounts
restore). Prints one line per signer and share: the account, when it was
removed, by whom, and when the share is destroyed.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&clusterPath, "cluster", "cluster.yaml", "cluster `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			peers, closeFn, err := loadAdminPeers(ctx, clusterPath)
			if err != nil {
				return err
			}
			defer closeFn()
			lists := make([]*adminapi.RemovedResponse, len(peers))
			errs := make([]error, len(peers))
			var wg sync.WaitGroup
			for i, p := range peers {
				wg.Go(func() {
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					lists[i], errs[i] = p.Removed(pctx)
				})
			}
			wg.Wait()
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SIGNER\tACCOUNT\tREMOVED\tBY\tDESTROYED AT")
			var failed []error
			for i, p := range peers {
				if errs[i] != nil {
					failed = append(failed, fmt.Errorf("participant %s: %w", p.ID(), errs[i]))
					continue
				}
				for _, pd := range lists[i].Removed {
					by := pd.Client
					if pd.OnBehalfOf != "" {
						by = pd.OnBehalfOf + " (via " + pd.Client + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID(), pd.PublicKey, pd.RemovedAt.Format(time.RFC3339), by, pd.Due.Format(time.RFC3339))
				}
			}
			tw.Flush()
			return errors.Join(failed...)
		},
	}
}

func accountsRestoreCommand() *cli.Command {
	var clusterPath string
	return &cli.Command{
		Name:    "restore",
		Args:    "KEY",
		Summary: "Restore a removed account at every signer that has not destroyed its share yet.",
		Description: `Asks every signer (admin identity and administrative token of the cluster
file) to restore the account KEY (its composite public key): a signer
whose share of it is still awaiting destruction puts the share back,
unseals it and enables the key in its slashing protection again; it signs
as before. Prints what each signer did. The account signs again once at
least the threshold of signers restored it.

Restore only a key that signed nowhere else since its removal (for
instance imported into another signer with the history the removal
exported): a signer's slashing protection knows only what it signed
itself, so a restored key could sign what the other place already did.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&clusterPath, "cluster", "cluster.yaml", "cluster `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("give the account's composite public KEY")
			}
			key, err := api.ParsePublicKey(args[0])
			if err != nil {
				return cli.Usagef("KEY: %v", err)
			}
			peers, closeFn, err := loadAdminPeers(ctx, clusterPath)
			if err != nil {
				return err
			}
			defer closeFn()
			errs := make([]error, len(peers))
			var wg sync.WaitGroup
			for i, p := range peers {
				wg.Go(func() {
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					errs[i] = p.Restore(pctx, key)
				})
			}
			wg.Wait()
			restored := 0
			var failed []error
			for i, p := range peers {
				switch {
				case errs[i] == nil:
					restored++
					fmt.Fprintf(env.Stdout, "participant %s: restored\n", p.ID())
				case errors.Is(errs[i], adminapi.ErrNotPending):
					fmt.Fprintf(env.Stdout, "participant %s: nothing to restore (never removed there, or already destroyed)\n", p.ID())
				default:
					failed = append(failed, fmt.Errorf("participant %s: %w", p.ID(), errs[i]))
				}
			}
			fmt.Fprintf(env.Stdout, "restored at %d of %d signers\n", restored, len(peers))
			return errors.Join(failed...)
		},
	}
}

// loadAdminPeers reads the cluster file and returns every signer's
// administrative client with the admin identity and token.
func loadAdminPeers(ctx context.Context, clusterPath string) ([]*adminapi.Client, func(), error) {
	cf, err := adminapi.LoadClusterFile(clusterPath)
	if err != nil {
		return nil, nil, err
	}
	cf.Abs(filepath.Dir(clusterPath))
	return cf.AdminClients(ctx)
}
