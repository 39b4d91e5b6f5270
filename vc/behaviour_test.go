package vc_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/vc"
)

// waitSlot waits until the env's chain is past slot s.
func (e *env) waitSlot(t *testing.T, s phase0.Slot) {
	t.Helper()
	waitFor(t, time.Duration(s+4)*e.opts.slot+time.Minute, "the chain's clock", func() bool { return e.slotNow() > s })
}

// TestRefusedDutyIsNotRetried: signers whose slashing protection refuses
// everything (412) get each duty asked once per slot, the refusals are
// counted, and each validator's refusal is logged once, not every slot.
func TestRefusedDutyIsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	for _, s := range e.cluster.signers {
		s.refuseAll.Store(true)
	}
	_, reg, logs, stop := e.start(t, nil)
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 4*spe-1) // epochs 2 and 3: every validator attested twice
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, reg, "rampart_vc_signatures_total", map[string]string{"duty": "attestation", "result": "refused"}); n < float64(2*e.opts.validators) {
		t.Errorf("%v attestations counted as refused, want at least %d", n, 2*e.opts.validators)
	}
	if n := counter(t, reg, "rampart_vc_signatures_total", map[string]string{"result": "ok"}); n != 0 {
		t.Errorf("%v signatures obtained from signers that refuse everything", n)
	}
	// One batch per slot at most: a refusal is final.
	for _, s := range e.cluster.signers {
		if got, slots := s.callCount(signing.TypeAttestation), int(e.slotNow()); got > slots {
			t.Errorf("signer %d was asked %d times for attestations in %d slots", s.id, got, slots)
		}
	}
	// Every validator attests once per epoch, in one of the epoch's slots:
	// one line per slot in the first epoch, none after.
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "refused by slashing protection") && strings.Contains(l, "duty=attestation") {
			lines++
		}
	}
	if lines == 0 || lines > int(spe)+2 {
		t.Errorf("%d log lines for attestation refusals over more than two epochs of %d slots; want one per slot of the first epoch", lines, spe)
	}
}

// TestTwoInstancesShareOneCluster: two clients (two coordinators) over one
// cluster sign the same attestations (exact repeats, which the signers
// allow) and only the first proposes; nothing is refused, nothing missed.
// The node takes longer to produce a block than the proposal delay, as a
// loaded machine may; in the epoch checked, the second instance's question
// whether a block exists is answered once the first instance published it,
// not by whatever the node knew when the proposal delay ended.
func TestTwoInstancesShareOneCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	e.produceDelay = 600 * time.Millisecond
	e.holdBlockQueriesFrom = 2 * phase0.Slot(e.opts.slotsPerEpoch)
	_, regA, _, stopA := e.start(t, func(c *vc.Config) { c.Redundancy.ProposalDelay = 500 * time.Millisecond })
	ccfg := coordinator.DefaultConfig()
	ccfg.Timeout = 10 * time.Second
	_, regB, logsB, stopB := e.startWith(t, func(c *vc.Config) {
		c.Redundancy.Instance = 1
		c.Redundancy.ProposalDelay = 500 * time.Millisecond
	}, e.cluster.coordinator(t, ccfg))
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 3*spe)
	if err := errors.Join(stopA(), stopB()); err != nil {
		t.Fatal(err)
	}
	for s := 2 * spe; s < 3*spe; s++ {
		e.mu.Lock()
		n := e.published[s]
		e.mu.Unlock()
		if n != 1 {
			t.Errorf("slot %d: %d blocks published, want exactly 1", s, n)
		}
	}
	for name, reg := range map[string]*prometheus.Registry{"first": regA, "second": regB} {
		if n := counter(t, reg, "rampart_vc_signatures_total", map[string]string{"result": "refused"}); n != 0 {
			t.Errorf("%s instance: %v signatures refused", name, n)
		}
		if n := counter(t, reg, "rampart_vc_published_total", map[string]string{"duty": "attestation", "result": "ok"}); n < float64(e.opts.validators) {
			t.Errorf("%s instance published %v attestations, want at least %d", name, n, e.opts.validators)
		}
	}
	if !strings.Contains(logsB.String(), "proposal left to another instance") {
		t.Error("the second instance never gave way to the first's block")
	}
}

// TestSecondInstanceSignsTheDataTheSignersSignedFirst: two instances read
// different attestation data for every slot (the second one's node has
// not seen the slot's block). The first asks the signers first; they sign
// its data and refuse the second's, naming what they signed, and the
// second signs that instead of losing its attestations (vc/adopt.go).
// Every attestation published carries the first instance's head. Before
// the second signed the named data, its attestations were all refused.
func TestSecondInstanceSignsTheDataTheSignersSignedFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	staleRoot := phase0.Root{0x5a, 0x1e}
	stale := staleDataProxy(t, e, staleRoot)
	_, regA, _, stopA := e.start(t, nil)
	ccfg := coordinator.DefaultConfig()
	ccfg.Timeout = 10 * time.Second
	_, regB, logsB, stopB := e.startAt(t, stale, func(c *vc.Config) {
		c.Redundancy.Instance = 1
		c.Redundancy.AttestationDelay = 400 * time.Millisecond
	}, e.cluster.coordinator(t, ccfg))
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 3*spe)
	if err := errors.Join(stopA(), stopB()); err != nil {
		t.Fatal(err)
	}
	perSlot := map[phase0.Slot]int{}
	for _, a := range decodeItems[submittedAttestation](t, e.node.Submissions("/eth/v2/beacon/pool/attestations")) {
		if a.Data.BeaconBlockRoot == staleRoot {
			t.Errorf("slot %d: an attestation with the second instance's own head, which the signers refused", a.Data.Slot)
		}
		perSlot[a.Data.Slot]++
		e.checkAttestationSignature(t, a)
	}
	for s := 2 * spe; s < 3*spe; s++ {
		if want := 2 * e.opts.validators / int(spe); perSlot[s] != want {
			t.Errorf("slot %d: %d attestations published, want %d (each validator's by both instances)", s, perSlot[s], want)
		}
	}
	for name, reg := range map[string]*prometheus.Registry{"first": regA, "second": regB} {
		if n := counter(t, reg, "rampart_vc_signatures_total", map[string]string{"duty": "attestation", "result": "refused"}); n != 0 {
			t.Errorf("%s instance: %v attestations refused", name, n)
		}
	}
	if n := counter(t, regB, "rampart_vc_attestations_adopted_total", nil); n < float64(e.opts.validators) {
		t.Errorf("second instance adopted the first's data for %v attestations, want at least %d", n, e.opts.validators)
	}
	if !strings.Contains(logsB.String(), "attestation data adopted") {
		t.Error("the second instance never said it adopted the first's data")
	}
}

// staleDataProxy serves e's node, except that attestation data carry
// root as head and target, as from a node that has not seen the latest
// blocks; it returns its URL.
func staleDataProxy(t *testing.T, e *env, root phase0.Root) string {
	t.Helper()
	target, err := url.Parse(e.node.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	mux := http.NewServeMux()
	mux.Handle("/", proxy)
	mux.HandleFunc("GET /eth/v1/validator/attestation_data", func(w http.ResponseWriter, r *http.Request) {
		slot, _ := strconv.ParseUint(r.URL.Query().Get("slot"), 10, 64)
		committee, _ := strconv.ParseUint(r.URL.Query().Get("committee_index"), 10, 64)
		data := beacontest.AttestationData(e.net, phase0.Slot(slot), root)
		data.Index = phase0.CommitteeIndex(committee)
		beacontest.WriteData(w, data)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSecondInstanceProposesWhenAlone: an instance that is not the first
// still proposes after its delay when no block appears.
func TestSecondInstanceProposesWhenAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	_, _, _, stop := e.start(t, func(c *vc.Config) {
		c.Redundancy.Instance = 1
		c.Redundancy.ProposalDelay = 300 * time.Millisecond
	})
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 2*spe+1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for s := 2 * spe; s <= 2*spe+1; s++ {
		e.mu.Lock()
		n := e.published[s]
		e.mu.Unlock()
		if n != 1 {
			t.Errorf("slot %d: %d blocks published, want 1", s, n)
		}
	}
}

// TestSignsWithTwoSignersDown: a 3-of-5 cluster with two signers down
// still signs every duty.
func TestSignsWithTwoSignersDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	e.cluster.signers[1].down.Store(true)
	e.cluster.signers[3].down.Store(true)
	_, reg, _, stop := e.start(t, nil)
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 3*spe)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, reg, "rampart_vc_published_total", map[string]string{"duty": "attestation", "result": "ok"}); n < float64(e.opts.validators) {
		t.Errorf("%v attestations published, want at least %d", n, e.opts.validators)
	}
	if n := counter(t, reg, "rampart_vc_published_total", map[string]string{"duty": "block", "result": "ok"}); n < float64(spe) {
		t.Errorf("%v blocks published, want at least %d", n, spe)
	}
}

// TestDoppelgangerStopsBeforeAnySignature: a validator seen live during
// detection stops the client with ErrDoppelganger naming it, and no
// signer was asked for anything.
func TestDoppelgangerStopsBeforeAnySignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	e.node.Handle("POST /eth/v1/validator/liveness/{epoch}", func(w http.ResponseWriter, r *http.Request) {
		var out []*apiv1.ValidatorLiveness
		for i := range e.cluster.keys {
			out = append(out, &apiv1.ValidatorLiveness{Index: phase0.ValidatorIndex(i), IsLive: i == 3})
		}
		beacontest.WriteData(w, out)
	})
	client, _, _, stop := e.start(t, func(c *vc.Config) { c.Doppelganger = vc.DoppelgangerConfig{Enabled: true, Epochs: 1} })
	waitFor(t, 4*time.Duration(e.opts.slotsPerEpoch)*e.opts.slot, "the client to stop", func() bool {
		_, status := client.Health()
		return strings.HasPrefix(status, "stopped")
	})
	err := stop()
	var de *vc.DoppelgangerError
	if !errors.As(err, &de) || !errors.Is(err, vc.ErrDoppelganger) || len(de.Validators) != 1 || de.Validators[0] != 3 {
		t.Fatalf("Run returned %v; want a doppelganger error naming validator 3", err)
	}
	for _, s := range e.cluster.signers {
		for _, typ := range signing.Types() {
			if n := s.callCount(typ); n != 0 {
				t.Errorf("signer %d was asked %d %s requests during doppelganger detection", s.id, n, typ)
			}
		}
	}
}

// TestDoppelgangerPassesThenSigns: with the validators inactive, the
// client waits out detection and then performs its duties; it tells
// systemd it is ready at once and keeps the watchdog fed while it waits.
func TestDoppelgangerPassesThenSigns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	var mu sync.Mutex
	notes := map[string]int{}
	e.notify = func(state string) {
		mu.Lock()
		notes[state]++
		mu.Unlock()
	}
	e.watchdog = 200 * time.Millisecond
	client, reg, _, stop := e.start(t, func(c *vc.Config) { c.Doppelganger = vc.DoppelgangerConfig{Enabled: true, Epochs: 1} })
	ops := httptest.NewServer(client.OperationsHandler(reg))
	defer ops.Close()
	if code := get(t, ops.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz answered %d during detection, want 503", code)
	}
	waitFor(t, time.Minute, "the watchdog fed during detection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return notes["READY=1"] == 1 && notes["WATCHDOG=1"] >= 3
	})
	waitFor(t, 5*time.Duration(e.opts.slotsPerEpoch)*e.opts.slot, "attestations after detection", func() bool {
		return counter(t, reg, "rampart_vc_published_total", map[string]string{"duty": "attestation"}) > 0
	})
	for _, path := range []string{"/healthz", "/healthcheck", "/upcheck"} {
		if code := get(t, ops.URL+path); code != http.StatusOK {
			t.Errorf("%s answered %d while performing duties, want 200", path, code)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if e.node.Calls("POST /eth/v1/validator/liveness/{epoch}") == 0 {
		t.Error("liveness was never asked")
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReorgRefetchesDuties: a head event whose dependent root differs
// from the duties' makes the client fetch them again.
func TestReorgRefetchesDuties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	_, _, _, stop := e.start(t, nil)
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	e.waitSlot(t, 2*spe)
	before := e.node.Calls("POST /eth/v1/validator/duties/attester/{epoch}")
	s := e.slotNow()
	e.node.Emit("head", &apiv1.HeadEvent{Slot: s, Block: blockRoot(s), State: phase0.Root{1},
		CurrentDutyDependentRoot: beacontest.DependentRoot(), PreviousDutyDependentRoot: phase0.Root{0xbe, 0xef}})
	waitFor(t, 10*time.Second, "attester duties fetched again", func() bool {
		return e.node.Calls("POST /eth/v1/validator/duties/attester/{epoch}") > before
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestNextEpochProposersAreFetchedAhead: the next epoch's proposer duties
// are asked for during the current epoch's last slot, so its first slot
// does not wait for them; and a block of that last slot arriving after
// them (it decides them) has them fetched again.
func TestNextEpochProposersAreFetchedAhead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	_, _, _, stop := e.start(t, nil)
	spe := phase0.Slot(e.opts.slotsPerEpoch)
	const route = "GET /eth/v1/validator/duties/proposer/{epoch}"
	epoch := phase0.Epoch(e.slotNow()/spe + 1)
	last := phase0.Slot(epoch+1)*spe - 1 // epoch's last slot
	e.waitSlot(t, last+1)
	ahead := false
	for _, r := range e.node.Requests(route) {
		if r.Path == fmt.Sprintf("/eth/v1/validator/duties/proposer/%d", epoch+1) && r.At.Before(e.net.GenesisTime().Add(time.Duration(last+1)*e.net.SlotDuration())) {
			ahead = true
		}
	}
	if !ahead {
		t.Fatalf("epoch %d's proposer duties were not asked for before it started: %v", epoch+1, e.node.Requests(route))
	}

	// A late block at the next epoch's last slot: its head event arrives
	// after the duties of the epoch after were fetched ahead.
	next := last + spe
	e.waitSlot(t, next+1)
	before := e.node.Calls(route)
	e.node.Emit("head", &apiv1.HeadEvent{Slot: next, Block: phase0.Root{0x1a, 0x7e}, State: phase0.Root{1},
		CurrentDutyDependentRoot: beacontest.DependentRoot(), PreviousDutyDependentRoot: beacontest.DependentRoot()})
	waitFor(t, 10*time.Second, "proposer duties fetched again after a late block", func() bool {
		return e.node.Calls(route) > before
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesToSignAnotherValidatorsBlock: a beacon node that offers a
// block for another proposer gets no signature for it.
func TestRefusesToSignAnotherValidatorsBlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	e.wrongProposer = true
	_, _, logs, stop := e.start(t, nil)
	e.waitSlot(t, phase0.Slot(2*e.opts.slotsPerEpoch))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := e.cluster.total(func(s *fakeSigner) int { return s.signedCount(signing.TypeBlockV2) }); n != 0 {
		t.Errorf("%d block partial signatures made for blocks of another proposer", n)
	}
	if !strings.Contains(logs.String(), "not validator") {
		t.Error("the refusal is not logged")
	}
}

// TestRunStopsWithItsContext: Run returns nil when its context ends, also
// before the beacon nodes answered.
func TestRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultEnv())
	e.node.Close() // nothing answers
	_, _, logs, stop := e.start(t, nil)
	logs.waitFor(t, "not known yet; retrying every slot")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestNewRefusesIncompleteOptions names what is missing.
func TestNewRefusesIncompleteOptions(t *testing.T) {
	e := newEnv(t, defaultEnv())
	cfg := vc.DefaultConfig()
	cfg.BeaconNodes = []vc.BeaconNodeConfig{{Name: "n0", URL: e.node.URL}}
	cfg.FeeRecipient = "0x5241d0000000000000000000000000000000d0fe"
	for _, tc := range []struct {
		name  string
		opts  vc.Options
		field string
	}{
		{"no network", vc.Options{Signer: e.cluster.coord}, "Network"},
		{"no beacon client", vc.Options{Network: e.net, Signer: e.cluster.coord}, "Beacon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := vc.New(&cfg, tc.opts); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v; want one naming %s", err, tc.field)
			}
		})
	}
	bad := cfg
	bad.FeeRecipient = ""
	if _, err := vc.New(&bad, vc.Options{}); err == nil || !strings.Contains(err.Error(), "fee_recipient") {
		t.Fatalf("error %v; want the configuration refused", err)
	}
}

// TestSyncMessagesSignTheCheckedHead: the head block root a node names
// when asked for "head" can lag behind the head its attestation data
// carries (a node that has not yet imported the slot's block, asked a
// moment earlier or by another instance). Sync committee messages sign
// the attestation data's beacon_block_root, chosen across every healthy
// node like the attestations, so redundant instances sign the same root
// and no validator's message counts for a stale block (a network keeps
// only a validator's first message of a slot).
func TestSyncMessagesSignTheCheckedHead(t *testing.T) {
	e := newEnv(t, defaultEnv())
	stale := phase0.Root{0xee, 0xee}
	e.node.Handle("GET /eth/v1/beacon/blocks/{block}/root", func(w http.ResponseWriter, r *http.Request) {
		beacontest.WriteData(w, map[string]string{"root": stale.String()})
	})
	_, _, _, stop := e.start(t, nil)
	waitFor(t, time.Minute, "sync committee messages", func() bool {
		return len(e.node.Submissions("/eth/v1/beacon/pool/sync_committees")) > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	type message struct {
		Root string `json:"beacon_block_root"`
	}
	msgs := decodeItems[message](t, e.node.Submissions("/eth/v1/beacon/pool/sync_committees"))
	for _, m := range msgs {
		if m.Root == stale.String() {
			t.Fatalf("a sync committee message signed the lagging head %s instead of the attestation data's", m.Root)
		}
	}
	if len(msgs) == 0 {
		t.Fatal("no sync committee message")
	}
}
