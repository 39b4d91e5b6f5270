package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

// RunConfig is one `chaos run`.
type RunConfig struct {
	Options
	Plan   Plan
	Commit string
}

// Run brings the stack up, runs the plan, judges every window from the
// chain, checks the signers for lost approvals and returns the report. It
// removes everything it made (processes, namespaces, cgroups, mounts)
// before returning, whatever happened.
func Run(ctx context.Context, cfg RunConfig) (rep *Report, err error) {
	began := time.Now()
	cfg.Options.DiskFullSigner = 2
	s, err := NewStack(cfg.Options)
	if err != nil {
		return nil, err
	}
	rep = &Report{Mode: cfg.Plan.Mode, Date: began, Commit: cfg.Commit, Topology: s.Topo, Plan: cfg.Plan, Tolerance: 2, Epochs: map[uint64]Tally{},
		Validators: devnetValidators, ClusterValidators: clusterValidators}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		if cerr := s.Down(cctx); cerr != nil {
			rep.Failures = append(rep.Failures, "cleanup: "+cerr.Error())
			if err == nil {
				err = cerr
			}
		}
		rep.Duration = time.Since(began)
	}()
	if err := s.Up(ctx); err != nil {
		return rep, err
	}
	rep.Cgroups = s.cgroups.Version()
	results, runErr := s.RunScenarios(ctx, cfg.Plan)
	rep.Results = results
	if runErr != nil {
		rep.Failures = append(rep.Failures, "scenarios: "+runErr.Error())
	}
	if len(results) == 0 {
		return rep, runErr
	}
	spe := s.Devnet.Config.SlotsPerEpoch
	first := results[0].From / spe
	lastSlot := results[len(results)-1].To
	if lastSlot == 0 {
		lastSlot = s.slotAt(time.Now())
	}
	last := (lastSlot - 1) / spe
	// An epoch's rewards are served once the next epoch is processed.
	s.logf("waiting for the rewards of epoch %d", last)
	if err := s.waitSlot(ctx, (last+2)*spe+1); err != nil {
		return rep, err
	}
	// The chain's facts are history now: stop every validator client
	// (both rampart-vc instances and Prysm's) so the beacon nodes, on their
	// one-core quotas, serve the reads rather than new duties.
	s.stopClients(ctx)
	var facts *ChainFacts
	for i := len(s.Beacons) - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		facts, err = CollectChain(cctx, s.Beacons[i], spe, first, last, s.clusterValidators())
		cancel()
		if err == nil {
			break
		}
		s.logf("reading the chain from beacon node %d: %v", s.Beacons[i].N, err)
	}
	if facts == nil {
		return rep, fmt.Errorf("chaos: no beacon node served the chain's facts: %w", err)
	}
	rep.Slashed, rep.PoolSlashings = facts.Slashed, facts.PoolSlashings
	rep.Justified, rep.Finalized, rep.LastEpoch = facts.Justified, facts.Finalized, last
	for _, b := range s.Beacons {
		if n, err := poolSlashings(ctx, b); err == nil && n > rep.PoolSlashings {
			rep.PoolSlashings = n
		}
	}
	for e := first; e <= last; e++ {
		rep.Epochs[e] = facts.EpochTally(e)
	}

	// The clients are stopped; stop the beacon nodes, then the signers
	// cleanly, and compare each signer's audit log with its database.
	for _, b := range s.Beacons {
		_ = b.BN.Stop(ctx, 20*time.Second)
		_ = b.Geth.Stop(ctx, 20*time.Second)
	}
	for id := uint64(1); id <= uint64(len(s.Signers)); id++ {
		sig := s.Signers[id]
		if err := sig.Proc.Stop(ctx, 20*time.Second); err != nil {
			rep.Failures = append(rep.Failures, err.Error())
			continue
		}
		check, err := s.checkApprovals(ctx, sig)
		if err != nil {
			rep.Failures = append(rep.Failures, fmt.Sprintf("signer %d: lost-approval check: %v", id, err))
			continue
		}
		rep.Approvals = append(rep.Approvals, check)
		if n := len(check.Unreleased); n > 0 {
			s.logf("signer %d: %d audit records of partials never released (their commit was cut short by a kill or a failed write)", id, n)
		}
		for i, m := range check.Missing {
			if i == 10 {
				s.logf("signer %d: ... %d more", id, len(check.Missing)-10)
				break
			}
			s.logf("signer %d: LOST APPROVAL %s", id, m)
		}
	}
	lost := rep.LostApprovals()
	for _, res := range results {
		res.Tally = facts.Judge(res.From, res.To)
		res.Control = facts.Control().Judge(res.From, res.To)
		res.Verdict = Decide(res.Tally, res.Control, res.Scenario.Affected, rep.Tolerance, len(facts.Slashed), lost)
		if res.Err != nil {
			res.Verdict.Pass = false
			res.Verdict.Reasons = append(res.Verdict.Reasons, "harness: "+res.Err.Error())
		}
	}
	return rep, runErr
}

// stopClients stops both rampart-vc instances and Prysm's validator
// client.
func (s *Stack) stopClients(ctx context.Context) {
	for _, v := range s.VCs {
		_ = v.Proc.Stop(ctx, 20*time.Second)
	}
	if s.Others != nil {
		_ = s.Others.Stop(ctx, 20*time.Second)
	}
}

// checkApprovals exports a stopped signer's slashing protection database
// and compares it with its audit log. The database is opened with the
// signer's own history setting: opened with another (as `rampartctl
// slashing export` does, with the default 16 epochs) it would fold older
// records into its watermarks and export them without their roots.
func (s *Stack) checkApprovals(ctx context.Context, sig *Signer) (ApprovalCheck, error) {
	cfg := protect.DefaultConfig()
	cfg.HistoryEpochs = signerHistoryEpochs
	cfg.SlotsPerEpoch = s.Devnet.Config.SlotsPerEpoch
	db, err := protect.Open(ctx, sig.SlashingDB, cfg)
	if err != nil {
		return ApprovalCheck{}, err
	}
	ic, err := db.Export(ctx)
	cerr := db.Close()
	if err != nil || cerr != nil {
		return ApprovalCheck{}, errors.Join(err, cerr)
	}
	data, err := ic.Marshal()
	if err != nil {
		return ApprovalCheck{}, err
	}
	if err := os.WriteFile(s.path(fmt.Sprintf("signer-%d-slashing-export.json", sig.ID)), data, 0o600); err != nil {
		return ApprovalCheck{}, err
	}
	faults := append(append([]time.Time(nil), s.kills[sig.ID]...), dbFailures(sig.Proc.Log)...)
	c, err := CheckApprovals(sig.ID, sig.AuditDir, data, faults)
	if err != nil {
		return c, err
	}
	if len(c.Missing)+len(c.Unreleased) > 0 {
		// Keep the evidence: a signer's data may be on a volume the
		// cleanup unmounts.
		_ = exec.Command("cp", "-a", sig.AuditDir, s.path(fmt.Sprintf("signer-%d-audit", sig.ID))).Run()
	}
	return c, nil
}

// Cleanup removes what a run left in dir (after a crash of its harness).
func Cleanup(ctx context.Context, dir string) error {
	st, err := LoadRunState(dir)
	if err != nil {
		return err
	}
	return st.Cleanup(ctx)
}
