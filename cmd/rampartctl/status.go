package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/cli"
)

// clusterStatus is what rampartctl status found, as --json prints it.
type clusterStatus struct {
	ClusterID string `json:"cluster_id"`
	// Threshold is the signers needed for a signature: the highest the
	// signers report, else the cluster file's, else a strict majority.
	Threshold int `json:"threshold"`
	// Ready counts the signers that answered and are ready to sign.
	Ready   int            `json:"ready"`
	CanSign bool           `json:"can_sign"`
	Signers []signerStatus `json:"signers"`
	// Problems are what needs the operator's attention, one line each.
	Problems []string `json:"problems"`
}

// signerStatus is one signer: its answer, or why there is none.
type signerStatus struct {
	ID        uint64           `json:"id"`
	Endpoint  string           `json:"endpoint"`
	Reachable bool             `json:"reachable"`
	Error     string           `json:"error,omitempty"`
	Status    *adminapi.Status `json:"status,omitempty"`
}

func statusCommand() *cli.Command {
	var clusterPath string
	var asJSON bool
	var timeout time.Duration
	return &cli.Command{
		Name:    "status",
		Summary: "One screen for the cluster: every signer's health, accounts, certificates, disk and quorum.",
		Description: `Asks every signer of the cluster file (admin identity and administrative
token) for its status, at once, each under --timeout, and prints one line
per signer: reachable, ready (its /healthcheck), version, configuration
hashes (CONFIG: the whole file as loaded; CLUSTER: network, cluster.id and
participants, which must be the same everywhere), accounts by state,
certificate expiry, free disk, slashing database size and schema version,
and the audit log's head; then the problems found: signers unreachable or
not ready and why, configurations that differ, certificates expiring
within 30 days, disks below 10% free.

Exit status: 0 when at least the threshold of signers is ready (the
cluster can sign), 1 when not, 2 on a usage or cluster file error.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&clusterPath, "cluster", "cluster.yaml", "cluster `file`")
			fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
			fs.DurationVar(&timeout, "timeout", 10*time.Second, "bound of each signer's answer")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if timeout <= 0 {
				return cli.Usagef("--timeout must be positive")
			}
			cf, err := adminapi.LoadClusterFile(clusterPath)
			if err != nil {
				return cli.NoRestart(err)
			}
			cf.Abs(filepath.Dir(clusterPath))
			peers, release, err := cf.AdminClients(ctx)
			if err != nil {
				return cli.NoRestart(err)
			}
			defer release()
			cs := collectStatus(ctx, cf, peers, timeout)
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cs); err != nil {
					return err
				}
			} else {
				printClusterStatus(env.Stdout, cs, time.Now())
			}
			if !cs.CanSign {
				return fmt.Errorf("the cluster cannot sign: %d of %d signers ready, %d needed", cs.Ready, len(cs.Signers), cs.Threshold)
			}
			return nil
		},
	}
}

// certWarning is how long before expiry a certificate is a problem.
const certWarning = 30 * 24 * time.Hour

// collectStatus asks every signer at once and judges the answers.
func collectStatus(ctx context.Context, cf *adminapi.ClusterFile, peers []*adminapi.Client, timeout time.Duration) *clusterStatus {
	cs := &clusterStatus{ClusterID: cf.ClusterID, Signers: make([]signerStatus, len(peers)), Problems: []string{}}
	var wg sync.WaitGroup
	for i, p := range peers {
		cs.Signers[i] = signerStatus{ID: uint64(p.ID()), Endpoint: p.Peer().Endpoint()}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := p.Status(pctx)
			if err != nil {
				cs.Signers[i].Error = err.Error()
				return
			}
			cs.Signers[i].Reachable, cs.Signers[i].Status = true, st
		})
	}
	wg.Wait()
	sort.Slice(cs.Signers, func(i, j int) bool { return cs.Signers[i].ID < cs.Signers[j].ID })

	now := time.Now()
	cs.Threshold = cf.Threshold
	clusterHashes := map[string][]uint64{}
	for _, s := range cs.Signers {
		st := s.Status
		if st == nil {
			cs.Problems = append(cs.Problems, fmt.Sprintf("signer %d: unreachable: %s", s.ID, s.Error))
			continue
		}
		if st.Quorum != nil && st.Quorum.Threshold > cs.Threshold {
			cs.Threshold = st.Quorum.Threshold
		}
		clusterHashes[st.ClusterHash] = append(clusterHashes[st.ClusterHash], s.ID)
		if st.Ready {
			cs.Ready++
		} else {
			var why []string
			for _, name := range sortedKeys(st.Checks) {
				if c := st.Checks[name]; c.Status != "UP" && c.Status != "DEGRADED" {
					why = append(why, fmt.Sprintf("%s %s: %s", name, c.Status, c.Error))
				}
			}
			cs.Problems = append(cs.Problems, fmt.Sprintf("signer %d: not ready: %s", s.ID, strings.Join(why, "; ")))
		}
		for _, name := range sortedKeys(st.Checks) {
			if c := st.Checks[name]; c.Status == "DEGRADED" {
				cs.Problems = append(cs.Problems, fmt.Sprintf("signer %d: %s degraded: %s", s.ID, name, c.Error))
			}
		}
		certs := append([]adminapi.CertificateStatus{st.Certificate}, st.CA...)
		for k, c := range certs {
			what := "its TLS certificate"
			if k > 0 {
				what = "the cluster CA certificate " + c.Subject
			}
			switch left := c.NotAfter.Sub(now); {
			case c.NotAfter.IsZero():
			case left <= 0:
				cs.Problems = append(cs.Problems, fmt.Sprintf("signer %d: %s expired on %s", s.ID, what, c.NotAfter.Format(time.DateOnly)))
			case left < certWarning:
				cs.Problems = append(cs.Problems, fmt.Sprintf("signer %d: %s expires in %s (%s): renew it (docs/operations.md, Rotate the TLS identity)", s.ID, what, days(left), c.NotAfter.Format(time.DateOnly)))
			}
		}
		// Free space is judged by the signer itself, against its own
		// storage thresholds (an absolute and a relative one together): its
		// "disk" check is DEGRADED or DOWN above. A second rule here would
		// disagree with the signer's and warn about a large, healthy volume.
	}
	if cs.Threshold == 0 {
		cs.Threshold = len(cs.Signers)/2 + 1
	}
	if len(clusterHashes) > 1 {
		var groups []string
		for h, ids := range clusterHashes {
			groups = append(groups, fmt.Sprintf("%s on signers %s", short(h), idList(ids)))
		}
		sort.Strings(groups)
		cs.Problems = append(cs.Problems, "the signers disagree on the cluster (network, cluster.id or cluster.participants): "+strings.Join(groups, "; "))
	}
	cs.CanSign = cs.Ready >= cs.Threshold
	return cs
}

// printClusterStatus writes the one screen.
func printClusterStatus(w io.Writer, cs *clusterStatus, now time.Time) {
	verdict := "CAN SIGN"
	if !cs.CanSign {
		verdict = "CANNOT SIGN"
	}
	fmt.Fprintf(w, "cluster %q: %d signers, threshold %d, %d ready: %s\n\n", cs.ClusterID, len(cs.Signers), cs.Threshold, cs.Ready, verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNER\tREACHABLE\tREADY\tVERSION\tCONFIG\tCLUSTER\tACCOUNTS a/d/s/r\tCERT EXPIRES\tDISK FREE\tSLASHING DB\tSCHEMA\tAUDIT HEAD")
	for _, s := range cs.Signers {
		st := s.Status
		if st == nil {
			fmt.Fprintf(tw, "%d\tno\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", s.ID)
			continue
		}
		ready := "DOWN"
		if st.Ready {
			ready = "UP"
		}
		var disk []string
		for _, d := range st.Disk {
			disk = append(disk, fmt.Sprintf("%s %s", d.Volume, bytesIEC(d.FreeBytes)))
		}
		cert := "-"
		if !st.Certificate.NotAfter.IsZero() {
			cert = fmt.Sprintf("%s (%s)", st.Certificate.NotAfter.Format(time.DateOnly), days(st.Certificate.NotAfter.Sub(now)))
		}
		a := st.Accounts
		fmt.Fprintf(tw, "%d\tyes\t%s\t%s\t%s\t%s\t%d/%d/%d/%d\t%s\t%s\t%s, %d keys\t%d\t%d (anchored %d)\n",
			s.ID, ready, st.Version, short(st.ConfigHash), short(st.ClusterHash), a.Active, a.Disabled, a.Staged, a.PendingDestruction,
			cert, strings.Join(disk, ", "), bytesIEC(uint64(max(st.SlashingDB.SizeBytes, 0))), st.SlashingDB.Keys, st.SlashingDB.SchemaVersion,
			st.Audit.HeadSequence, st.Audit.AnchoredSequence)
	}
	tw.Flush()
	fmt.Fprintln(w, "\naccounts: a active, d disabled, s staged (awaiting activation), r removed (awaiting destruction)")
	if len(cs.Problems) == 0 {
		fmt.Fprintln(w, "no problems found")
		return
	}
	fmt.Fprintln(w, "problems:")
	for _, p := range cs.Problems {
		fmt.Fprintln(w, "  "+p)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// short is the first 12 hex digits of a hash.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func idList(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

// days is a duration in whole days ("-3 days" once past).
func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d day", n)
	}
	return fmt.Sprintf("%d days", n)
}

// bytesIEC formats a byte count with binary units.
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
