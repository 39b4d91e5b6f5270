package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRampartVCPerformsEveryDuty runs rampart-vc with a 3-of-5 Rampart
// cluster holding the devnet's 64 interop validators, in three phases:
//
//  1. one instance from genesis: the chain finalises, every validator's
//     attestation of every watched epoch is included with timely source and
//     target votes, every slot has a block, and nothing is slashable;
//  2. a second instance beside the first (redundancy): still no slashing
//     and no missed duty (every slot has one block, from either; the
//     second gives way when it sees the first's), and a third instance
//     started with doppelganger detection sees the validators live and
//     stops with exit status 2 without performing any duty;
//  3. two of the five signers stopped: the chain still finalises; then
//     signer 5 replaced by a new server (devnet replace: new HSM token,
//     empty disk) and given its shares back by reshare repair while the
//     validators go on: no duty missed through the repair and its
//     cutover, and with signers 3 and 4 stopped the chain finalises on
//     signers 1, 2 and the repaired 5;
//  4. `rampartctl exit` signs a voluntary exit through the cluster and the
//     chain takes it.
//
// It logs rampart-vc's attestation latency and CPU per validator per epoch.
func TestRampartVCPerformsEveryDuty(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s := NewStack(t, ctx, StackOptions{})
	spe := uint64(s.Devnet.Config.SlotsPerEpoch)
	validators := s.Devnet.Config.Validators

	// The chain is fresh and only these validators move it: nothing else
	// can be signing for them, and doppelganger detection could not
	// complete (beacon nodes answer liveness only up to their head), so it
	// is skipped knowingly for the first instance.
	a := s.StartVC(ctx, "a", 0, false)

	// Phase 1.
	s.WaitFinalized(ctx, 3)
	from := s.currentEpoch() - 2 // whole epochs rampart-vc performed
	s.waitEpoch(ctx, from+4)
	cpuStart, epochStart := a.CPU(), s.currentEpoch()
	s.checkDuties(ctx, from+1, from+2, validators, spe, nil)

	// Phase 2: a second instance; and a third that must refuse to sign.
	b := s.StartVC(ctx, "b", 1, false)
	c := s.StartVC(ctx, "c", 2, true)
	both := s.currentEpoch() + 1
	s.waitEpoch(ctx, both+3)
	cpuEnd, epochEnd := a.CPU(), s.currentEpoch()
	s.checkDuties(ctx, both, both+1, validators, spe, map[string]bool{"rampart-e2e-a": true, "rampart-e2e-b": true})
	code, err := c.Wait(ctx, 4*time.Duration(spe)*s.Devnet.SlotDuration())
	if code != 2 || !c.LogContains("doppelganger detected") {
		t.Errorf("the instance started with doppelganger detection beside a running one ended with %d (%v), want exit status 2 naming the doppelganger", code, err)
	}
	if c.LogContains("performing duties") {
		t.Error("the doppelganger-checking instance started performing duties")
	}
	for _, v := range []*VC{a, b} {
		t.Logf("instance %s: %v blocks proposed; refused by slashing protection: %v attestations, %v blocks", v.Name,
			v.Metric(ctx, `rampart_vc_published_total{duty="block",result="ok"}`),
			v.Metric(ctx, `rampart_vc_signatures_total{duty="attestation",result="refused"}`),
			v.Metric(ctx, `rampart_vc_signatures_total{duty="block",result="refused"}`))
	}

	// Phase 3: two signers down.
	fin, err := s.Finalized(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{4, 5} {
		if err := s.Cluster.Stop(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("signers 4 and 5 stopped at finalised epoch %d", fin)
	s.WaitFinalized(ctx, fin+3)
	if n, err := s.Slashings(ctx); err != nil || n != 0 {
		t.Errorf("slashings in the pool: %d (%v)", n, err)
	}
	s.checkNotSlashed(ctx)

	// Phase 3b: signer 5's server is lost with its HSM. A new one (new
	// token, new TLS identity, empty disk) gets its shares back from the
	// others by reshare repair while the validators go on; once past the
	// cutover it signs: with signers 3 and 4 stopped, the chain finalises
	// only with its partial signatures.
	t.Log(strings.TrimSpace(s.rampartctl(ctx, "devnet", "replace", "--dir", s.ClusterDir, "--signer", "5")))
	t.Log(strings.TrimSpace(s.rampartctl(ctx, "devnet", "start", "--dir", s.ClusterDir, "--signer", "4")))
	repaired := s.currentEpoch()
	out := s.rampartctl(ctx, "reshare", "repair", "--cluster", filepath.Join(s.ClusterDir, "cluster.yaml"), "--participant", "5", "--poll", "250ms")
	if !strings.Contains(out, fmt.Sprintf("complete: participant 5 holds its shares of %d validators again", validators)) {
		t.Errorf("reshare repair printed:\n%s", out)
	}
	cutover, err := strconv.ParseUint(s.signerLogField(5, "repaired accounts: watermarks raised to the cutover", "cutover_epoch"), 10, 64)
	if err != nil {
		t.Fatalf("signer 5's log names no cutover epoch: %v", err)
	}
	t.Logf("signer 5 replaced and repaired in epoch %d; its cutover epoch (signer 5's log): %d", repaired, cutover)
	s.waitEpoch(ctx, max(repaired+4, cutover+2))
	// The epochs of the repair up to its cutover, signed by signers 1-4
	// while signer 5 waits for the cutover: no duty missed.
	s.checkDuties(ctx, repaired+1, cutover, validators, spe, nil)
	for _, id := range []uint64{3, 4} {
		if err := s.Cluster.Stop(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	fin, err = s.Finalized(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("signers 3 and 4 stopped at finalised epoch %d: signers 1, 2 and the repaired 5 sign", fin)
	s.WaitFinalized(ctx, fin+3)
	if n, err := s.Slashings(ctx); err != nil || n != 0 {
		t.Errorf("slashings in the pool after the replacement: %d (%v)", n, err)
	}
	s.checkNotSlashed(ctx)

	// Phase 4: rampartctl exit, first without --yes (nothing signed), then
	// for real; the chain takes the exit into a block.
	key := s.File.Accounts[len(s.File.Accounts)-1]
	args := []string{"exit", "--cluster", filepath.Join(s.ClusterDir, "cluster.yaml"), "--beacon-node", s.Devnet.BeaconAPI(), "--validator", key}
	if out := s.rampartctl(ctx, args...); !strings.Contains(out, "nothing signed") {
		t.Errorf("rampartctl exit without --yes printed %q", out)
	}
	t.Log(strings.TrimSpace(s.rampartctl(ctx, append(args, "--yes")...)))
	s.waitStatus(ctx, key, "active_exiting", 4*time.Duration(spe)*s.Devnet.SlotDuration())

	lat, n := a.Histogram(ctx, "rampart_vc_duty_seconds", `duty="attestation"`)
	t.Logf("rampart-vc, 64 validators on the devnet (8 slots of 3 s, mainnet preset: every validator in the 512-seat sync committee): "+
		"attestation latency from duty start to publication %.0f ms on average over %d slots; "+
		"CPU %.1f ms per validator per epoch (%.2f s over %d epochs, alone then beside a second instance)",
		1000*lat/float64(n), n, 1000*(cpuEnd-cpuStart)/float64(validators)/float64(epochEnd-epochStart),
		cpuEnd-cpuStart, epochEnd-epochStart)
	for _, v := range []*VC{a, b} {
		if err := v.Stop(); err != nil {
			t.Errorf("instance %s: %v", v.Name, err)
		}
	}
}

// VC is a rampart-vc process the test started.
type VC struct {
	Name    string
	cmd     *exec.Cmd
	log     string
	metrics string
	done    chan struct{}
	err     error
	t       *testing.T
}

// StartVC starts a rampart-vc instance on the stack with the cluster
// file's client identity.
func (s *Stack) StartVC(ctx context.Context, name string, instance int, doppelganger bool) *VC {
	s.T.Helper()
	dir := filepath.Join(s.T.TempDir(), "vc-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.T.Fatal(err)
	}
	metrics := "127.0.0.1:" + strconv.Itoa(freePort(s.T))
	// The devnet's five signers share this host with geth, Prysm and up
	// to three validator clients: asking three signers first (and the
	// others only if one is slow or refuses) spares the CPU that signers
	// on their own machines would have.
	cfg := fmt.Sprintf(`cluster:
  file: %s
  hedge_delay: 300ms
beacon_nodes:
  - name: prysm
    url: %s
fee_recipient: "0x5241d0000000000000000000000000000000d0fe"
graffiti: rampart-e2e-%s
doppelganger:
  enabled: %t
  epochs: 1
redundancy:
  instance: %d
listen:
  operations: %q
`, filepath.Join(s.ClusterDir, "cluster.yaml"), s.Devnet.BeaconAPI(), name, doppelganger, instance, metrics)
	path := filepath.Join(dir, "vc.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.T.Fatal(err)
	}
	logPath := filepath.Join(dir, "vc.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		s.T.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(s.Bin, "rampart-vc"), "--config", path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.T.Fatal(err)
	}
	v := &VC{Name: name, cmd: cmd, log: logPath, metrics: "http://" + metrics, done: make(chan struct{}), t: s.T}
	go func() {
		v.err = cmd.Wait()
		logFile.Close()
		close(v.done)
	}()
	s.T.Cleanup(func() {
		_ = v.Stop()
		if s.T.Failed() {
			data, _ := os.ReadFile(logPath)
			s.T.Logf("--- rampart-vc %s log (tail) ---\n%s", name, tail(string(data), 30000))
		}
	})
	s.T.Logf("rampart-vc %s started (instance %d, doppelganger detection %t)", name, instance, doppelganger)
	return v
}

// Stop ends the process with SIGTERM (SIGKILL after 30 s) and reports an
// unclean exit.
func (v *VC) Stop() error {
	select {
	case <-v.done:
		return nil
	default:
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(30 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.done
		return errors.New("did not stop within 30 s of SIGTERM")
	}
	return v.err
}

// Wait waits up to limit for the process to end and returns its exit
// status (-1 if it still runs).
func (v *VC) Wait(ctx context.Context, limit time.Duration) (int, error) {
	select {
	case <-v.done:
	case <-time.After(limit):
		return -1, errors.New("still running")
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(v.err, &exit) {
		return exit.ExitCode(), v.err
	}
	return 0, v.err
}

// LogContains reports whether the process's log holds s.
func (v *VC) LogContains(s string) bool {
	data, _ := os.ReadFile(v.log)
	return strings.Contains(string(data), s)
}

// CPU returns the process's user and system CPU time, in seconds.
func (v *VC) CPU() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", v.cmd.Process.Pid))
	if err != nil {
		v.t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) end with ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// scrape returns the metric lines of the process.
func (v *VC) scrape(ctx context.Context) []string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.metrics+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Metric sums the samples whose name and labels start with prefix (0 if
// none, or if the process is gone).
func (v *VC) Metric(ctx context.Context, prefix string) float64 {
	total := 0.0
	for _, l := range v.scrape(ctx) {
		name, value, ok := strings.Cut(l, " ")
		if ok && (name == prefix || strings.HasPrefix(name, strings.TrimSuffix(prefix, "}"))) {
			f, _ := strconv.ParseFloat(value, 64)
			total += f
		}
	}
	return total
}

// Histogram returns a histogram's sum and count for one label set.
func (v *VC) Histogram(ctx context.Context, name, labels string) (float64, int) {
	sum := v.Metric(ctx, name+"_sum{"+labels+"}")
	count := v.Metric(ctx, name+"_count{"+labels+"}")
	return sum, int(count)
}

// signerLogField returns the value of field in the first line of signer
// id's log (text or JSON lines) whose message is msg, or "?".
func (s *Stack) signerLogField(id uint64, msg, field string) string {
	s.T.Helper()
	data, err := os.ReadFile(filepath.Join(s.ClusterDir, fmt.Sprintf("signer-%d", id), "signer.log"))
	if err != nil {
		s.T.Errorf("signer %d's log: %v", id, err)
		return "?"
	}
	text := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(field) + `=("[^"]*"|\S+)`)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "{") {
			var rec map[string]any
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			if dec.Decode(&rec) == nil && rec["msg"] == msg {
				return fmt.Sprint(rec[field])
			}
			continue
		}
		if strings.Contains(line, "msg="+strconv.Quote(msg)) {
			if m := text.FindStringSubmatch(line); m != nil {
				return strings.Trim(m[1], `"`)
			}
		}
	}
	return "?"
}

// currentEpoch is the devnet's epoch by the wall clock.
func (s *Stack) currentEpoch() uint64 {
	d := time.Since(s.Devnet.GenesisTime)
	if d < 0 {
		return 0
	}
	return uint64(d / s.Devnet.EpochDuration())
}

// waitEpoch waits until epoch e has begun.
func (s *Stack) waitEpoch(ctx context.Context, e uint64) {
	s.T.Helper()
	at := s.Devnet.GenesisTime.Add(time.Duration(e) * s.Devnet.EpochDuration())
	select {
	case <-ctx.Done():
		s.T.Fatalf("waiting for epoch %d: %v", e, ctx.Err())
	case <-time.After(time.Until(at)):
	}
}

// checkDuties checks epochs first to last: every slot has a block (whose
// graffiti, when graffiti is given, is one of them), and every validator's
// attestation was included with timely source and target votes. Missed
// head votes are logged, not failed: a block the beacon node receives late
// costs them without any fault of the validator client's.
func (s *Stack) checkDuties(ctx context.Context, first, last uint64, validators int, spe uint64, graffiti map[string]bool) {
	s.T.Helper()
	for e := first; e <= last; e++ {
		for slot := e * spe; slot < (e+1)*spe; slot++ {
			var block struct {
				Message struct {
					ProposerIndex string `json:"proposer_index"`
					Body          struct {
						Graffiti string `json:"graffiti"`
					} `json:"body"`
				} `json:"message"`
			}
			if err := s.beaconGet(ctx, fmt.Sprintf("/eth/v2/beacon/blocks/%d", slot), &block); err != nil {
				s.T.Errorf("slot %d has no block: %v", slot, err)
				continue
			}
			if graffiti != nil {
				g := decodeGraffiti(block.Message.Body.Graffiti)
				if !graffiti[g] {
					s.T.Errorf("slot %d: block by validator %s carries graffiti %q, not one of %v", slot, block.Message.ProposerIndex, g, graffiti)
				}
			}
		}
		rewards, err := s.attestationRewards(ctx, e)
		if err != nil {
			s.T.Errorf("epoch %d: %v", e, err)
			continue
		}
		if len(rewards) != validators {
			s.T.Errorf("epoch %d: rewards for %d validators, want %d", e, len(rewards), validators)
		}
		headMissed := 0
		for _, r := range rewards {
			if r.Source <= 0 || r.Target <= 0 {
				s.T.Errorf("epoch %d: validator %s's attestation was not included in time (source %d, target %d)", e, r.Index, r.Source, r.Target)
			}
			if r.Head <= 0 {
				headMissed++
			}
		}
		s.T.Logf("epoch %d: %d blocks, %d attestations included with source and target, %d head votes missed", e, spe, len(rewards), headMissed)
	}
}

func decodeGraffiti(hexed string) string {
	b := make([]byte, 0, 32)
	h := strings.TrimPrefix(hexed, "0x")
	for i := 0; i+1 < len(h); i += 2 {
		v, _ := strconv.ParseUint(h[i:i+2], 16, 8)
		if v == 0 {
			break
		}
		b = append(b, byte(v))
	}
	return string(b)
}

type attestationReward struct {
	Index  string
	Head   int64
	Source int64
	Target int64
}

// attestationRewards reads the rewards of epoch e's attestations, waiting
// until the beacon node serves them (two epoch transitions later).
func (s *Stack) attestationRewards(ctx context.Context, e uint64) ([]attestationReward, error) {
	s.waitEpoch(ctx, e+2)
	for try := 0; ; try++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/eth/v1/beacon/rewards/attestations/%d", s.Devnet.BeaconAPI(), e), strings.NewReader("[]"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			var body struct {
				Data struct {
					Total []struct {
						Index  string `json:"validator_index"`
						Head   string `json:"head"`
						Source string `json:"source"`
						Target string `json:"target"`
					} `json:"total_rewards"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			out := make([]attestationReward, len(body.Data.Total))
			for i, r := range body.Data.Total {
				out[i].Index = r.Index
				out[i].Head, _ = strconv.ParseInt(r.Head, 10, 64)
				out[i].Source, _ = strconv.ParseInt(r.Source, 10, 64)
				out[i].Target, _ = strconv.ParseInt(r.Target, 10, 64)
			}
			return out, nil
		}
		if resp != nil {
			resp.Body.Close()
		}
		if try > 10 {
			return nil, fmt.Errorf("attestation rewards of epoch %d unavailable: %v", e, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.Devnet.SlotDuration()):
		}
	}
}

// checkNotSlashed checks no validator of the chain is slashed.
func (s *Stack) checkNotSlashed(ctx context.Context) {
	s.T.Helper()
	var vals []struct {
		Index     string `json:"index"`
		Validator struct {
			Slashed bool `json:"slashed"`
		} `json:"validator"`
	}
	if err := s.beaconGet(ctx, "/eth/v1/beacon/states/head/validators", &vals); err != nil {
		s.T.Fatal(err)
	}
	for _, v := range vals {
		if v.Validator.Slashed {
			s.T.Errorf("validator %s is slashed", v.Index)
		}
	}
}

// waitStatus waits until the chain gives the validator with key the
// status, or fails after limit.
func (s *Stack) waitStatus(ctx context.Context, key, status string, limit time.Duration) {
	s.T.Helper()
	deadline := time.Now().Add(limit)
	for {
		var v struct {
			Status string `json:"status"`
		}
		err := s.beaconGet(ctx, "/eth/v1/beacon/states/head/validators/"+key, &v)
		if err == nil && v.Status == status {
			return
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("validator %s: status %q (%v), want %q", key, v.Status, err, status)
		}
		select {
		case <-ctx.Done():
			s.T.Fatal(ctx.Err())
		case <-time.After(s.Devnet.SlotDuration()):
		}
	}
}
