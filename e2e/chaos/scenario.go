package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenario is one fault: Inject starts it, Heal ends it; the window judged
// runs from Inject until the stack is whole again after Heal.
type Scenario struct {
	Name  string
	Title string
	// Affected is the number of signers the fault touches: within the
	// cluster's tolerance (n-t) the 1% bar applies.
	Affected int
	// Watch lists signers whose health is sampled during the fault.
	Watch  []uint64
	Inject func(ctx context.Context, s *Stack, o *Observation) error
	Heal   func(ctx context.Context, s *Stack, o *Observation) error
}

// Observation is what the harness saw during a scenario beside the chain.
type Observation struct {
	mu    sync.Mutex
	Notes []string
	// Health counts the /healthcheck answers of watched signers.
	Health map[string]int
}

// Notef records a remark for the report.
func (o *Observation) Notef(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Notes = append(o.Notes, fmt.Sprintf(format, a...))
}

func (o *Observation) sawHealth(desc string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Health == nil {
		o.Health = map[string]int{}
	}
	o.Health[desc]++
}

// HealthSummary lists the health answers seen, most frequent first.
func (o *Observation) HealthSummary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range o.Health {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s ×%d", e.k, e.n))
	}
	return strings.Join(parts, "; ")
}

// killSigners kills the signers with SIGKILL.
func killSigners(ids ...uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		for _, id := range ids {
			s.kills[id] = append(s.kills[id], time.Now())
			if err := s.Signers[id].Proc.Kill(ctx); err != nil {
				return err
			}
		}
		o.Notef("signers %v killed with SIGKILL", ids)
		return nil
	}
}

// restartSigners starts the signers again and waits for them.
func restartSigners(ids ...uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		t0 := time.Now()
		for _, id := range ids {
			if err := s.Signers[id].Proc.Start(); err != nil {
				return err
			}
		}
		for _, id := range ids {
			if err := s.WaitSignerHealthy(ctx, id, time.Minute); err != nil {
				return err
			}
		}
		o.Notef("restarted, healthy %s after the restart", time.Since(t0).Round(100*time.Millisecond))
		return nil
	}
}

// cutToxics blackholes the streams of links: toxiproxy's timeout toxic
// with timeout 0 drops every byte until it is removed, on existing and new
// connections alike (a proxy accepts new connections, which then hang:
// like a path where packets vanish, not one that refuses).
func cutToxics(ctx context.Context, s *Stack, links []Link, stream func(Link) []string, name string) error {
	for _, l := range links {
		for _, dir := range stream(l) {
			if err := s.WAN.AddToxic(ctx, l.Name(), Toxic{Name: name + "-" + dir, Type: "timeout", Stream: dir, Toxicity: 1, Attributes: map[string]any{"timeout": 0}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func removeToxics(ctx context.Context, s *Stack, links []Link, stream func(Link) []string, name string) error {
	var errs []error
	for _, l := range links {
		for _, dir := range stream(l) {
			errs = append(errs, s.WAN.RemoveToxic(ctx, l.Name(), name+"-"+dir))
		}
	}
	return errors.Join(errs...)
}

// crossing returns the links between site and the other sites.
func (t *Topology) crossing(site string) []Link {
	var out []Link
	for _, l := range t.Links {
		a, b := t.Host(l.Client).Site, t.Host(l.Service.Host).Site
		if (a == site) != (b == site) {
			out = append(out, l)
		}
	}
	return out
}

// touching returns the links host is an end of.
func (t *Topology) touching(host string) []Link {
	var out []Link
	for _, l := range t.Links {
		if l.Client == host || l.Service.Host == host {
			out = append(out, l)
		}
	}
	return out
}

func bothWays(Link) []string { return []string{"upstream", "downstream"} }

// Scenarios returns the faults on the default topology, in the
// order they run. Between two scenarios the stack is whole again.
func Scenarios(t *Topology) []Scenario {
	siteA := t.crossing("a")
	deaf := t.Signer(4).Name
	// Towards the deaf signer: what clients send it (upstream of links it
	// serves) and what it is answered (downstream of links it dials).
	towards := func(l Link) []string {
		if l.Service.Host == deaf {
			return []string{"upstream"}
		}
		return []string{"downstream"}
	}
	slow := t.Signer(1)
	var slowLinks []Link
	for _, l := range t.Links {
		if l.Service.Host == slow.Name {
			slowLinks = append(slowLinks, l)
		}
	}
	return []Scenario{
		{Name: "baseline", Title: "no fault: three sites, 20-80 ms between them, 0.1% loss"},
		{Name: "signer-kill", Title: "signer 2 killed (SIGKILL), restarted at the end", Affected: 1, Watch: []uint64{2},
			Inject: killSigners(2), Heal: restartSigners(2)},
		{Name: "two-signers-kill", Title: "signers 3 and 5 killed (SIGKILL): n-t down, restarted at the end", Affected: 2,
			Inject: killSigners(3, 5), Heal: restartSigners(3, 5)},
		{Name: "site-partition", Title: "site a (signers 1, 2, rampart-vc a, beacon node 1) cut off from sites b and c, then healed", Affected: 2,
			Inject: func(ctx context.Context, s *Stack, o *Observation) error {
				o.Notef("%d links blackholed both ways", len(siteA))
				return cutToxics(ctx, s, siteA, bothWays, "partition")
			},
			Heal: func(ctx context.Context, s *Stack, _ *Observation) error {
				return removeToxics(ctx, s, siteA, bothWays, "partition")
			}},
		{Name: "asymmetric-partition", Title: "signer 4 can send but not receive (every byte towards it dropped)", Affected: 1, Watch: []uint64{4},
			Inject: func(ctx context.Context, s *Stack, o *Observation) error {
				links := s.Topo.touching(deaf)
				o.Notef("%d links of %s blackholed towards it", len(links), deaf)
				return cutToxics(ctx, s, links, towards, "deaf")
			},
			Heal: func(ctx context.Context, s *Stack, _ *Observation) error {
				return removeToxics(ctx, s, s.Topo.touching(deaf), towards, "deaf")
			}},
		{Name: "slow-signer", Title: "signer 1 answers 500 ms late (added to every answer it sends)", Affected: 1, Watch: []uint64{1},
			Inject: func(ctx context.Context, s *Stack, o *Observation) error {
				for _, l := range slowLinks {
					if err := s.WAN.AddToxic(ctx, l.Name(), Toxic{Name: "slow", Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]any{"latency": 500}}); err != nil {
						return err
					}
				}
				return nil
			},
			Heal: func(ctx context.Context, s *Stack, _ *Observation) error {
				var errs []error
				for _, l := range slowLinks {
					errs = append(errs, s.WAN.RemoveToxic(ctx, l.Name(), "slow"))
				}
				return errors.Join(errs...)
			}},
		{Name: "invalid-partials", Title: "signer 3 replaced by an impostor with its TLS identity answering invalid partial signatures", Affected: 1,
			Inject: startImpostor(3), Heal: stopImpostor(3)},
		{Name: "clock-skew", Title: "signer 5 restarted with its clock 12 s behind (RAMPART_TEST_CLOCK_OFFSET=-12s), then restarted right", Affected: 1, Watch: []uint64{5},
			Inject: restartWithClock(5, "-12s"), Heal: restartWithClock(5, "")},
		{Name: "disk-full", Title: "signer 2's data volume filled to the last byte, then freed", Affected: 1, Watch: []uint64{2},
			Inject: fillDisk(2), Heal: freeDisk(2)},
		{Name: "hsm-lost", Title: "signer 4's HSM token directory taken away, then put back", Affected: 1, Watch: []uint64{4},
			Inject: hsmAway(4), Heal: hsmBack(4)},
		{Name: "beacon-kill", Title: "beacon node 1 (beacon-chain on b1) killed (SIGKILL): both clients fail over to beacon node 2; restarted at the end",
			Inject: func(ctx context.Context, s *Stack, o *Observation) error {
				return s.Beacons[0].BN.Kill(ctx)
			},
			Heal: func(ctx context.Context, s *Stack, o *Observation) error {
				t0 := time.Now()
				if err := s.RestartBeacon(ctx, s.Beacons[0]); err != nil {
					return err
				}
				o.Notef("beacon node 1 serving again %s after its restart", time.Since(t0).Round(100*time.Millisecond))
				return nil
			}},
		{Name: "vc-kill", Title: "rampart-vc a killed (SIGKILL): instance b carries on alone; a restarted at the end",
			Inject: func(ctx context.Context, s *Stack, o *Observation) error {
				return s.VCs[0].Proc.Kill(ctx)
			},
			Heal: func(ctx context.Context, s *Stack, o *Observation) error {
				return s.RestartVC(ctx, s.VCs[0])
			}},
	}
}

// ScenarioByName finds a scenario.
func ScenarioByName(all []Scenario, name string) (Scenario, bool) {
	for _, sc := range all {
		if sc.Name == name {
			return sc, true
		}
	}
	return Scenario{}, false
}

func startImpostor(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		sig := s.Signers[id]
		accounts, err := s.CaptureAccounts(ctx, id)
		if err != nil {
			return err
		}
		path := s.path(fmt.Sprintf("impostor-%d-accounts.json", id))
		if err := os.WriteFile(path, accounts, 0o600); err != nil {
			return err
		}
		if err := sig.Proc.Stop(ctx, 10*time.Second); err != nil {
			return err
		}
		imp := s.impostor(id)
		if err := imp.Start(); err != nil {
			return err
		}
		s.impostors[id] = imp
		o.Notef("impostor serving signer %d's address with its TLS identity", id)
		return nil
	}
}

func (s *Stack) impostor(id uint64) *Proc {
	sig := s.Signers[id]
	return s.Launcher.NewProc(fmt.Sprintf("impostor-%d", id), sig.Host.Name, s.path("logs", fmt.Sprintf("impostor-%d.log", id)),
		[]string{"SOFTHSM2_CONF=" + sig.SoftHSMConf}, s.Opts.Self, "impostor", "--config", sig.Config, "--accounts", s.path(fmt.Sprintf("impostor-%d-accounts.json", id)))
}

func stopImpostor(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		if imp := s.impostors[id]; imp != nil {
			if err := imp.Stop(ctx, 5*time.Second); err != nil {
				return err
			}
			delete(s.impostors, id)
		}
		return restartSigners(id)(ctx, s, o)
	}
}

func restartWithClock(id uint64, offset string) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		sig := s.Signers[id]
		if err := sig.Proc.Stop(ctx, 10*time.Second); err != nil {
			return err
		}
		env := []string{"SOFTHSM2_CONF=" + sig.SoftHSMConf}
		if offset != "" {
			env = append(env, "RAMPART_TEST_CLOCK_OFFSET="+offset)
		}
		sig.Proc.Env = env
		return restartSigners(id)(ctx, s, o)
	}
}

// fillerName is the file that fills the disk-full signer's volume.
const fillerName = "chaos-filler"

func fillDisk(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		sig := s.Signers[id]
		f, err := os.OpenFile(filepath.Join(sig.DataDir, fillerName), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		var written int64
		for {
			n, err := f.Write(buf)
			written += int64(n)
			if err != nil {
				break // ENOSPC: full
			}
		}
		// The last pages, byte by byte.
		one := []byte{0}
		for {
			if _, err := f.Write(one); err != nil {
				break
			}
			written++
		}
		o.Notef("filled %d MiB: the volume has no byte left", written>>20)
		return nil
	}
}

func freeDisk(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		sig := s.Signers[id]
		if err := os.Remove(filepath.Join(sig.DataDir, fillerName)); err != nil {
			return err
		}
		return recoverOrRestart(ctx, s, o, id, "space freed")
	}
}

// recoverOrRestart waits a few slots for the signer to become healthy by
// itself, and restarts it (as its unit's watchdog or an operator would)
// when it does not.
func recoverOrRestart(ctx context.Context, s *Stack, o *Observation, id uint64, what string) error {
	if err := s.WaitSignerHealthy(ctx, id, 3*s.Devnet.SlotDuration()); err == nil {
		o.Notef("%s: signer %d healthy again by itself", what, id)
		return nil
	}
	o.Notef("%s: signer %d still not healthy after 3 slots, restarted", what, id)
	sig := s.Signers[id]
	if sig.Proc.Alive() {
		if err := sig.Proc.Stop(ctx, 10*time.Second); err != nil {
			return err
		}
	}
	return restartSigners(id)(ctx, s, o)
}

// tokenDir is where the signer's SoftHSM keeps its token files.
func tokenDir(sig *Signer) (string, error) {
	b, err := os.ReadFile(sig.SoftHSMConf)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "directories.tokendir" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("chaos: %s names no directories.tokendir", sig.SoftHSMConf)
}

func hsmAway(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		dir, err := tokenDir(s.Signers[id])
		if err != nil {
			return err
		}
		if err := os.Rename(dir, dir+".away"); err != nil {
			return err
		}
		o.Notef("token directory %s moved away", filepath.Base(dir))
		return nil
	}
}

func hsmBack(id uint64) func(context.Context, *Stack, *Observation) error {
	return func(ctx context.Context, s *Stack, o *Observation) error {
		dir, err := tokenDir(s.Signers[id])
		if err != nil {
			return err
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			return err
		}
		return recoverOrRestart(ctx, s, o, id, "token directory back")
	}
}

// watchHealth samples the watched signers' health every half slot until
// ctx ends.
func watchHealth(ctx context.Context, s *Stack, sc Scenario, o *Observation, every time.Duration) {
	if len(sc.Watch) == 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, id := range sc.Watch {
			code, body, err := s.SignerHealth(ctx, id)
			desc := ""
			switch {
			case err != nil:
				desc = "unreachable"
			case code == http.StatusOK:
				desc = "200 " + healthStatus(body)
			default:
				desc = strconv.Itoa(code) + " " + healthStatus(body)
			}
			o.sawHealth(fmt.Sprintf("signer %d: %s", id, desc))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
