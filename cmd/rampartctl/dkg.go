package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/internal/network"
)

func dkgCommand() *cli.Command {
	var o dkgOptions
	return &cli.Command{
		Name:    "dkg",
		Summary: "Create validators by distributed key generation across the cluster, with their deposit data.",
		Description: `Asks one signer (--coordinator, default the first in the cluster file) to
coordinate a key-generation ceremony among every signer of the cluster.
The signers exchange their messages directly over mutual TLS; no whole
key ever exists anywhere, and each signer seals its new shares in its own
HSM. The accounts become signable only once every signer has finished
with the same transcript; then the cluster threshold-signs each
validator's deposit (DEPOSIT domain, the network's genesis fork version).

Progress shows while the ceremony runs. When it completes, the deposit
data is verified here (every signature under its validator's key, every
root recomputed, the withdrawal credentials, amount and network asked for)
and written as deposit_data-<unix time>.json in the staking-deposit-cli
format, with the new public keys in accounts-<unix time>.txt.

A ceremony that cannot finish (a signer down past --participant-timeout,
the deadline passed, an abort) fails everywhere with the reason, leaving
no usable key share anywhere. Interrupting this command aborts the
ceremony; --id attaches to a ceremony already started instead.

The cluster file names the network, the signers and the administrator
identity (admin entry, with the administrative token of its admin.token)
this command uses.

Before anything starts it prints what the threshold tolerates (n-t signers
down; 2t-n-1 compromised signers that cannot get a slashable message
signed), refuses a threshold of half the signers or fewer, and asks for
confirmation when the safety tolerance is below 1 (--accept-low-safety
answers without asking).`,
		Flags: o.flags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return runDKG(ctx, env, &o)
		},
	}
}

type dkgOptions struct {
	cluster            string
	validators         int
	threshold          int
	withdrawalAddress  string
	amountGwei         uint64
	coordinator        uint64
	out                string
	participantTimeout time.Duration
	timeout            time.Duration
	batchSize          int
	attach             string
	poll               time.Duration
	acceptLowSafety    bool
}

func (o *dkgOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.cluster, "cluster", "cluster.yaml", "cluster `file`")
	fs.IntVar(&o.validators, "validators", 0, "number of validators to create")
	fs.IntVar(&o.threshold, "threshold", 0, "signatures needed per validator, a majority of the signers (default: the cluster file's threshold)")
	fs.StringVar(&o.withdrawalAddress, "withdrawal-address", "", "execution `address` (0x..., EIP-55 checksum if mixed case) that receives withdrawals")
	fs.Uint64Var(&o.amountGwei, "amount-gwei", deposit.MaxGwei, "deposit per validator in `Gwei`")
	fs.Uint64Var(&o.coordinator, "coordinator", 0, "participant `id` of the signer that coordinates (default: the first in the cluster file)")
	fs.StringVar(&o.out, "out", ".", "`directory` for deposit_data-<time>.json and accounts-<time>.txt")
	fs.DurationVar(&o.participantTimeout, "participant-timeout", 2*time.Minute, "abort when a signer stays unreachable, or the ceremony makes no progress, this long")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "abort when the ceremony has not finished this long after it started")
	fs.IntVar(&o.batchSize, "batch-size", 0, "validators per key-generation batch (default: about a tenth of them)")
	fs.StringVar(&o.attach, "id", "", "attach to the ceremony with this `id` instead of starting one")
	fs.DurationVar(&o.poll, "poll", time.Second, "how often to ask the coordinator for progress")
	registerAcceptLowSafety(fs, &o.acceptLowSafety)
}

func runDKG(ctx context.Context, env *cli.Env, o *dkgOptions) error {
	cf, err := adminapi.LoadClusterFile(o.cluster)
	if err != nil {
		return err
	}
	cf.Abs(filepath.Dir(o.cluster))
	if o.threshold == 0 {
		o.threshold = cf.Threshold
	}
	var req *adminapi.StartCeremonyRequest
	if o.attach == "" {
		if o.validators < 1 || o.validators > adminapi.MaxCeremonyValidators {
			return cli.Usagef("--validators: %d is not between 1 and %d", o.validators, adminapi.MaxCeremonyValidators)
		}
		if o.threshold == 0 {
			return cli.Usagef("--threshold: required (the cluster file names none)")
		}
		wc, err := deposit.WithdrawalCredentials(o.withdrawalAddress)
		if err != nil {
			return cli.Usagef("--withdrawal-address: %v", err)
		}
		req = &adminapi.StartCeremonyRequest{
			Validators: o.validators, Threshold: o.threshold, WithdrawalCredentials: wc, AmountGwei: api.Uint64(o.amountGwei),
			ParticipantTimeout: o.participantTimeout.String(), Timeout: o.timeout.String(), BatchSize: o.batchSize,
		}
	}
	if fi, err := os.Stat(o.out); err != nil || !fi.IsDir() {
		return cli.Usagef("--out: %s is not a directory", o.out)
	}
	if req != nil {
		if err := checkThreshold(env, o.threshold, len(cf.Participants), o.acceptLowSafety); err != nil {
			return err
		}
	}
	n, err := cf.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	peers, closeAdmin, err := cf.AdminClients(ctx)
	if err != nil {
		return err
	}
	defer closeAdmin()
	coord, err := chooseCoordinator(peers, peers[0], o.coordinator, o.cluster)
	if err != nil {
		return err
	}

	id := o.attach
	if id == "" {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		id, err = coord.StartCeremony(sctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("starting the ceremony at participant %s: %w", coord.ID(), err)
		}
		fmt.Fprintf(env.Stderr, "ceremony %s started at participant %s: %d validators, %d-of-%d\n", id, coord.ID(), o.validators, o.threshold, len(peers))
	}
	st, err := follow(ctx, env.Stderr, coord, id, o.poll, o.participantTimeout)
	if err != nil {
		if ctx.Err() != nil && o.attach == "" {
			// The operator interrupted: nothing half-made may stay.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if aerr := coord.AbortCeremony(actx, id, "interrupted by the operator (rampartctl dkg)"); aerr != nil {
				return fmt.Errorf("%w; aborting the ceremony failed too (it aborts by itself at its deadline): %v", err, aerr)
			}
			return fmt.Errorf("ceremony %s aborted: interrupted", id)
		}
		return err
	}
	return writeDeposits(env, o, n, st, id)
}

// follow polls the coordinator and prints progress until the ceremony
// completes (returning its status) or aborts (returning its reason).
func follow(ctx context.Context, w io.Writer, coord *adminapi.Client, id string, every, patience time.Duration) (*adminapi.CoordinationStatus, error) {
	var p progress
	lastContact := time.Now()
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := coord.CeremonyStatus(pctx, id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, adminapi.ErrUnknownCeremony):
			return nil, fmt.Errorf("participant %s: %w", coord.ID(), err)
		case err != nil:
			if time.Since(lastContact) > patience {
				return nil, fmt.Errorf("lost contact with the coordinator (participant %s) for %s: %w; the ceremony goes on without this command: attach again with --id %s", coord.ID(), patience, err, id)
			}
		case st.Coordination == nil:
			return nil, fmt.Errorf("participant %s does not coordinate ceremony %s", coord.ID(), id)
		default:
			lastContact = time.Now()
			c := st.Coordination
			p.show(w, c, time.Now())
			switch c.Stage {
			case adminapi.StageComplete:
				return c, nil
			case adminapi.StageAborted:
				return nil, fmt.Errorf("ceremony %s aborted: %s", id, c.Reason)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

// progress prints one line per change: the stage, how many validators are
// done, the rate and the time left at that rate.
type progress struct {
	stage      adminapi.CoordinationStage
	since      time.Time
	startCount int
	last       string // stage and count last shown
}

func (p *progress) show(w io.Writer, c *adminapi.CoordinationStatus, now time.Time) {
	count, what := c.ValidatorsGenerated, "validators generated"
	refresh := c.Kind == adminapi.ReshareRefresh
	repair := c.Kind == adminapi.ReshareRepair
	switch {
	case refresh:
		what = "validators refreshed"
	case repair:
		what = "validators repaired"
	}
	switch c.Stage {
	case adminapi.StageActivating:
		count, what = c.Validators, "validators generated; activating the accounts on every signer"
		switch {
		case refresh:
			what = "validators refreshed; activating the new shares on every signer"
		case repair:
			what = "validators repaired; activating them on the repaired signer"
		}
	case adminapi.StageDepositing:
		count, what = c.DepositsSigned, "deposits signed"
	case adminapi.StageFinalizing, adminapi.StageComplete:
		count, what = c.Validators, "deposits signed and verified"
		switch {
		case refresh:
			what = "new shares active; old shares destroyed on every signer"
		case repair:
			what = "repaired shares active"
		}
	case adminapi.StageAborted:
		return
	}
	if c.Stage != p.stage {
		p.stage, p.since, p.startCount = c.Stage, now, count
	}
	key := fmt.Sprintf("%s %d", c.Stage, count)
	if key == p.last {
		return
	}
	p.last = key
	line := fmt.Sprintf("%s: %d/%d %s", c.Stage, count, c.Validators, what)
	if elapsed := now.Sub(p.since).Seconds(); elapsed >= 1 && count > p.startCount && count < c.Validators {
		rate := float64(count-p.startCount) / elapsed
		left := time.Duration(float64(c.Validators-count) / rate * float64(time.Second))
		line += fmt.Sprintf(" (%.1f/s, about %s left)", rate, left.Round(time.Second))
	}
	fmt.Fprintln(w, line)
}

// writeDeposits verifies the coordinator's deposit data here, against
// what the operator asked for and the network of the cluster file, and
// writes it with the account list.
func writeDeposits(env *cli.Env, o *dkgOptions, n *network.Network, st *adminapi.CoordinationStatus, id string) error {
	params, err := st.Deposit()
	if err != nil {
		return fmt.Errorf("coordinator's answer: %w", err)
	}
	if params.GenesisForkVersion != n.GenesisForkVersion() || params.NetworkName != n.Name() {
		return fmt.Errorf("the coordinator made deposits for network %s (%#x), the cluster file names %s (%#x)", params.NetworkName, params.GenesisForkVersion, n.Name(), n.GenesisForkVersion())
	}
	if o.attach == "" {
		wc, _ := deposit.WithdrawalCredentials(o.withdrawalAddress)
		if params.WithdrawalCredentials != wc || params.AmountGwei != o.amountGwei {
			return errors.New("the coordinator's ceremony has other withdrawal credentials or amount than asked for")
		}
	}
	file := deposit.MarshalFile(st.DepositData)
	entries, err := deposit.ParseFile(file, params)
	if err != nil {
		return fmt.Errorf("deposit data of ceremony %s does not verify; not written: %w", id, err)
	}
	if len(entries) != st.Validators || len(st.Accounts) != st.Validators {
		return fmt.Errorf("ceremony %s reports %d validators but %d deposits and %d accounts; not written", id, st.Validators, len(entries), len(st.Accounts))
	}
	var keys []string
	for i, e := range entries {
		if k := strings.TrimPrefix(st.Accounts[i].String(), "0x"); k != e.Pubkey {
			return fmt.Errorf("deposit %d is for %s, account %d is %s; not written", i, e.Pubkey, i, k)
		}
		keys = append(keys, st.Accounts[i].String())
	}
	stamp := time.Now().Unix()
	depositPath := filepath.Join(o.out, fmt.Sprintf("deposit_data-%d.json", stamp))
	accountsPath := filepath.Join(o.out, fmt.Sprintf("accounts-%d.txt", stamp))
	if err := writeNewFile(depositPath, file); err != nil {
		return err
	}
	// Read-only, as the deposit tools leave it.
	if err := os.Chmod(depositPath, 0o440); err != nil {
		return err
	}
	if err := writeNewFile(accountsPath, []byte(strings.Join(keys, "\n")+"\n")); err != nil {
		return err
	}
	// The cluster file lists the cluster's accounts for the tools that read
	// it (validator clients, the demo).
	// Edited in place: the operator's comments and layout stay.
	if _, err := clusterfile.AddAccounts(o.cluster, keyStrings(st.Accounts)); err != nil {
		fmt.Fprintf(env.Stderr, "note: could not add the accounts to %s: %v\n", o.cluster, err)
	}
	fmt.Fprintf(env.Stdout, "ceremony %s complete: %d validators, deposit amount %d Gwei each\n", id, len(entries), params.AmountGwei)
	fmt.Fprintf(env.Stdout, "deposit data (verified): %s\n", depositPath)
	fmt.Fprintf(env.Stdout, "accounts: %s\n", accountsPath)
	return nil
}

// chooseCoordinator is the participant --coordinator names (id, not 0),
// or def when it names none.
func chooseCoordinator(peers []*adminapi.Client, def *adminapi.Client, id uint64, cluster string) (*adminapi.Client, error) {
	if id == 0 {
		return def, nil
	}
	for _, p := range peers {
		if uint64(p.ID()) == id {
			return p, nil
		}
	}
	return nil, cli.Usagef("--coordinator: no participant %d in %s", id, cluster)
}
