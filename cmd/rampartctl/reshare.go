package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/tss"
)

func reshareCommand() *cli.Command {
	return &cli.Command{
		Name:        "reshare",
		Summary:     "Give existing validators new key shares without changing their keys.",
		Subcommands: []*cli.Command{reshareRefreshCommand(), reshareRepairCommand(), reshareRedistributeCommand()},
	}
}

type reshareOptions struct {
	mode               string
	participant        uint64
	helpers            string
	cluster            string
	accounts           string
	coordinator        uint64
	participantTimeout time.Duration
	timeout            time.Duration
	batchSize          int
	attach             string
	poll               time.Duration
	// A redistribution's new configuration.
	members         string
	threshold       int
	acceptLowSafety bool
}

func (o *reshareOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.cluster, "cluster", "cluster.yaml", "cluster `file`")
	fs.StringVar(&o.accounts, "accounts", "", "`file` listing the validator public keys to reshare, one a line (default: every account the coordinating signer holds)")
	fs.Uint64Var(&o.coordinator, "coordinator", 0, "participant `id` of the signer that coordinates (default: the first in the cluster file)")
	fs.DurationVar(&o.participantTimeout, "participant-timeout", 2*time.Minute, "abort when a signer stays unreachable, or the ceremony makes no progress, this long")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "abort when the ceremony has not finished this long after it started")
	fs.IntVar(&o.batchSize, "batch-size", 0, "validators per resharing batch (default: about a tenth of them)")
	fs.StringVar(&o.attach, "id", "", "attach to the ceremony with this `id` instead of starting one")
	fs.DurationVar(&o.poll, "poll", time.Second, "how often to ask the coordinator for progress")
}

func reshareRepairCommand() *cli.Command {
	o := reshareOptions{mode: adminapi.ReshareRepair}
	return &cli.Command{
		Name:    "repair",
		Summary: "Give a replaced signer (same participant id, new server and HSM) its shares again from the others.",
		Description: `Asks one signer (--coordinator, default the first in the cluster file other
than --participant) to coordinate a share repair: every other signer helps
give signer --participant, a replaced server that lost its shares, the
same shares it had, for its existing participant id, over mutual TLS. No
validator key and no other signer's share changes, so nothing changes for
the validator clients, and the repaired signer's component keys are the
ones it had (the coordinator computes them from the others').

Each helper deals a random polynomial that is zero at the repaired id,
with commitments every signer checks, then sends the repaired signer its
share masked by the sum of the helpers' polynomials; the repaired signer
checks each against the public data, interpolates its shares and keeps
them only if they match its component keys. With one honest helper the
masks reveal nothing but the repaired shares.

The repaired signer's slashing protection starts from the merge of every
helper's history of the accounts (record by record), with watermarks
raised past the current epoch plus slashing.future_epochs at activation
(two past the current one by default): it signs nothing
any other signer signed a conflicting message for, nor anything before
the cutover.

A repair hands the shares to whichever server holds a certificate of the
cluster's CA for that participant's name: issue the new server's
certificate, start it, then run this. Every other signer helps, or those
--helpers names (at least the threshold: the others may be down); a helper
unreachable past --participant-timeout aborts the repair everywhere, and
nothing changes but on the repaired signer, where nothing of it stays.`,
		Flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.Uint64Var(&o.participant, "participant", 0, "participant `id` of the replaced signer to give its shares")
			fs.StringVar(&o.helpers, "helpers", "", "comma-separated participant `ids` of the signers that help, at least the threshold, the coordinator among them (default: every other signer)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if o.participant == 0 && o.attach == "" {
				return cli.Usagef("--participant: required: the replaced signer's participant id")
			}
			return runReshare(ctx, env, &o)
		},
	}
}

func reshareRedistributeCommand() *cli.Command {
	o := reshareOptions{mode: adminapi.ReshareRedistribute}
	return &cli.Command{
		Name:    "redistribute",
		Summary: "Give validators a new configuration: other signers, another threshold, the same keys.",
		Description: `Asks one signer (--coordinator, default the first in the cluster file; it
must hold the accounts and deal) to coordinate a redistribution of the
validators it holds (or those --accounts lists), all of one configuration,
to the signers --members names at threshold --threshold: 3-of-5 to 5-of-7,
a signer replaced by a new server under a new participant id, a signer
removed for good. No validator key changes: no exit, no deposit, nothing
to change for the validator clients beyond listing new signers in their
cluster file.

Every signer named must be in cluster.participants of every signer first
(and in the cluster file): add a new server with its certificate, restart
the signers with the new list, then run this.

The current members --helpers names (default: every one) deal: each
sub-shares its share with commitments whose constant term must be its
component key, over mutual TLS; at least the current threshold must. Every
new member checks what it receives, combines it, and proves its new share
with a partial signature over the new configuration before anything is
kept. Members that keep a place replace their shares (the old sealed share
kept until the end); members that join start from the merge of the
dealers' slashing histories, with watermarks raised past the current epoch
plus slashing.future_epochs (they sign no vote for about two epochs);
members that leave stop signing blocks and attestations when the new
configuration is activated, and their accounts are removed at completion
(shares destroyed after accounts.destroy_after). Each share names its
configuration and generation: every signer checks the plan against its own
accounts, and refuses a configuration weaker than the current one (a lower
threshold, a lower safety tolerance, one lost share losing the key) unless
its own accounts.allow_weaker_redistribution is set.

A member unreachable past --participant-timeout before every member
activated the new configuration aborts the redistribution everywhere, and
the current configuration stays active and untouched. Once every member
activated it, it is never rolled back: finalisation is retried until every
member answers. Interrupting this command before then aborts it; --id
attaches to one already started instead.

Before anything starts it prints what the new threshold tolerates (n-t
signers down, 2t-n-1 compromised signers that cannot get a slashable
message signed), refuses a threshold that is not a strict majority, and
asks for confirmation below a safety tolerance of 1 (--accept-low-safety
answers without asking).`,
		Flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&o.members, "members", "", "comma-separated participant `ids` of the new configuration (required)")
			fs.IntVar(&o.threshold, "threshold", 0, "the new configuration's threshold, a strict majority of --members (required)")
			fs.StringVar(&o.helpers, "helpers", "", "comma-separated participant `ids` of the current members that deal, at least the current threshold, the coordinator among them (default: every current member)")
			registerAcceptLowSafety(fs, &o.acceptLowSafety)
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if o.attach == "" && (o.members == "" || o.threshold == 0) {
				return cli.Usagef("--members and --threshold: required: the new configuration")
			}
			return runReshare(ctx, env, &o)
		},
	}
}

func reshareRefreshCommand() *cli.Command {
	o := reshareOptions{mode: adminapi.ReshareRefresh}
	return &cli.Command{
		Name:    "refresh",
		Summary: "Refresh every share of the cluster's validators: same signers, same threshold, same keys.",
		Description: `Asks one signer (--coordinator, default the first in the cluster file) to
coordinate a refresh (proactive secret sharing) of the validators' shares
among every signer of the cluster: each signer deals a sharing of zero to
the others over mutual TLS, with commitments every signer checks, and adds
what it receives to its share. Every share and every signer's component
key changes; no validator key changes, so there is no exit, no deposit and
no change for the validator clients. Shares stolen before a refresh do not
combine with shares stolen after it.

The new shares are sealed by each signer's HSM and staged; they are
activated together only once every signer has finished with the same
transcript. Each signer then keeps its previous sealed share until the
coordinator finalises the refresh, and destroys it then (it left memory at
activation). The slashing history of every validator stays as it is: the
keys did not change.

Every signer must be up: the refresh is refused at the start when one is
down, and aborted everywhere when one stays unreachable past
--participant-timeout, or the deadline passes, leaving every signer with
its current shares, untouched. A signer restarted during the refresh
resumes from its sealed state. Interrupting this command aborts the
refresh; --id attaches to one already started instead.

Before anything starts it prints what the cluster's threshold (the cluster
file's) tolerates: n-t signers down, and 2t-n-1 compromised signers that
cannot get a slashable message signed. A refresh keeps the threshold:
changing it is a redistribution (rampartctl reshare redistribute).`,
		Flags: o.flags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return runReshare(ctx, env, &o)
		},
	}
}

func runReshare(ctx context.Context, env *cli.Env, o *reshareOptions) error {
	cf, err := adminapi.LoadClusterFile(o.cluster)
	if err != nil {
		return err
	}
	cf.Abs(filepath.Dir(o.cluster))
	var req *adminapi.StartReshareRequest
	if o.attach == "" {
		req = &adminapi.StartReshareRequest{
			Mode: o.mode, Participant: api.Uint64(o.participant),
			ParticipantTimeout: o.participantTimeout.String(), Timeout: o.timeout.String(), BatchSize: o.batchSize,
		}
		if req.Helpers, err = parseIDList("--helpers", o.helpers); err != nil {
			return err
		}
		if o.accounts != "" {
			if req.Accounts, err = readKeyList(o.accounts); err != nil {
				return cli.Usagef("--accounts: %v", err)
			}
		}
		switch {
		case o.mode == adminapi.ReshareRedistribute:
			if req.NewMembers, err = parseIDList("--members", o.members); err != nil {
				return err
			}
			for _, m := range req.NewMembers {
				if !slices.ContainsFunc(cf.Participants, func(p adminapi.ClusterParticipant) bool { return p.ID == uint64(m) }) {
					return cli.Usagef("--members: %d is not a participant of %s: add the new signer to the cluster file, and to cluster.participants of every signer, first", m, o.cluster)
				}
			}
			req.NewThreshold = api.Uint64(o.threshold)
			if err := checkThreshold(env, o.threshold, len(req.NewMembers), o.acceptLowSafety); err != nil {
				return err
			}
		case cf.Threshold != 0:
			printTolerance(env, cf.Threshold, len(cf.Participants))
		}
	}
	peers, closeAdmin, err := cf.AdminClients(ctx)
	if err != nil {
		return err
	}
	defer closeAdmin()
	coord := peers[0]
	for _, p := range peers {
		// Not the repaired signer (it holds nothing to coordinate with),
		// and a helper when helpers are named.
		if uint64(p.ID()) != o.participant && (req == nil || len(req.Helpers) == 0 || slices.Contains(req.Helpers, api.Uint64(p.ID()))) {
			coord = p
			break
		}
	}
	if coord, err = chooseCoordinator(peers, coord, o.coordinator, o.cluster); err != nil {
		return err
	}
	id := o.attach
	if id == "" {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		id, err = coord.StartReshare(sctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("starting the %s at participant %s: %w", o.mode, coord.ID(), err)
		}
		switch o.mode {
		case adminapi.ReshareRepair:
			fmt.Fprintf(env.Stderr, "repair %s of participant %d started at participant %s\n", id, o.participant, coord.ID())
		case adminapi.ReshareRedistribute:
			fmt.Fprintf(env.Stderr, "redistribution %s started at participant %s: to %d-of-%v\n", id, coord.ID(), o.threshold, req.NewMembers)
		default:
			fmt.Fprintf(env.Stderr, "refresh %s started at participant %s: every signer of %d\n", id, coord.ID(), len(peers))
		}
	}
	st, err := follow(ctx, env.Stderr, coord, id, o.poll, o.participantTimeout)
	if err != nil {
		if ctx.Err() != nil && o.attach == "" {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if aerr := coord.AbortCeremony(actx, id, "interrupted by the operator (rampartctl reshare "+o.mode+")"); aerr != nil {
				return fmt.Errorf("%w; aborting the %s failed too (it aborts by itself at its deadline): %v", err, o.mode, aerr)
			}
			return fmt.Errorf("%s %s aborted: interrupted; every signer keeps its current shares", o.mode, id)
		}
		return err
	}
	if st.Kind != o.mode {
		return fmt.Errorf("ceremony %s is not a %s (kind %q)", id, o.mode, st.Kind)
	}
	if o.mode == adminapi.ReshareRedistribute {
		fmt.Fprintf(env.Stdout, "redistribution %s complete: %d validators, now %d-of-%s (generation %d); no key changed. Left the configuration and destroyed their shares: %s. Left but not reached (remove the accounts there by hand): %s. A removed signer's destruction is its own word (its audit log), not a proof.\n",
			id, st.Validators, st.NewThreshold, idsOrNone(st.NewMembers), st.Generation, idsOrNone(st.Left), idsOrNone(st.NotReached))
		return nil
	}
	if o.mode == adminapi.ReshareRepair {
		fmt.Fprintf(env.Stdout, "repair %s complete: participant %d holds its shares of %d validators again (the same component keys), its slashing protection merged from the others' and raised to the cutover\n", id, st.Repaired, st.Validators)
		return nil
	}
	fmt.Fprintf(env.Stdout, "refresh %s complete: %d validators, %d-of-%d; every share is new, no key changed, the old shares are destroyed\n", id, st.Validators, st.Threshold, len(peers))
	return nil
}

// printTolerance prints what threshold t of n signers tolerates, as
// checkThreshold does, for a command that keeps the threshold.
func printTolerance(env *cli.Env, t, n int) {
	tol, err := tss.ToleranceOf(t, n)
	if err != nil {
		fmt.Fprintf(env.Stderr, "threshold %d-of-%d: %v\n", t, n, err)
		return
	}
	fmt.Fprintf(env.Stderr, "threshold %d-of-%d: liveness: signing continues with up to %d signer(s) down (n-t = %d)\n", t, n, tol.Liveness, tol.Liveness)
	fmt.Fprintf(env.Stderr, "threshold %d-of-%d: safety: up to %d compromised signer(s) cannot get a slashable message signed (2t-n-1 = %d)\n", t, n, tol.Safety, tol.Safety)
	if tol.LowSafety() {
		fmt.Fprintf(env.Stderr, "note: at %d-of-%d a single compromised signer, with a compromised or misled coordinator, can get a slashable message signed; a refresh keeps the threshold. %s\n", t, n, saferThreshold(n))
	}
}

// readKeyList reads validator public keys, one a line; blank lines and
// lines starting with # are skipped.
func readKeyList(path string) ([]api.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []api.PublicKey
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := api.ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no key", path)
	}
	return out, nil
}

// parseIDList reads a comma- or space-separated list of participant ids.
func parseIDList(flagName, list string) ([]api.Uint64, error) {
	var out []api.Uint64
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseUint(f, 10, 16)
		if err != nil || id == 0 {
			return nil, cli.Usagef("%s: %q is not a participant id", flagName, f)
		}
		out = append(out, api.Uint64(id))
	}
	return out, nil
}

func idsOrNone(ids []api.Uint64) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ", ")
}
