package vc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/vc"
)

// forkNames are the forks a test network can run, in order, with the
// config key prefix of each.
var forkNames = []struct {
	version spec.DataVersion
	prefix  string
}{
	{spec.DataVersionAltair, "ALTAIR"}, {spec.DataVersionBellatrix, "BELLATRIX"}, {spec.DataVersionCapella, "CAPELLA"},
	{spec.DataVersionDeneb, "DENEB"}, {spec.DataVersionElectra, "ELECTRA"}, {spec.DataVersionFulu, "FULU"},
}

// envOptions shape a test environment.
type envOptions struct {
	// fork is the fork in effect from genesis (every earlier one too).
	fork spec.DataVersion
	// validators, threshold and signers shape the cluster.
	validators, threshold, signers int
	// slotsPerEpoch and slot are the chain's timing.
	slotsPerEpoch uint64
	slot          time.Duration
	// coordinator tunes the coordinator (timeouts, hedging).
	coordinator func(*coordinator.Config)
	// mainnetDuties shapes duties as a large operator's on mainnet: 64
	// committees of 512 per slot (about one aggregator in 32) and no seat
	// in the sync committee, instead of the small committees (everyone
	// aggregates) and full sync committee membership of a tiny devnet.
	mainnetDuties bool
}

func defaultEnv() envOptions {
	return envOptions{fork: spec.DataVersionElectra, validators: 16, threshold: 3, signers: 5, slotsPerEpoch: 4, slot: 2 * time.Second}
}

// env is a fake chain (one beacontest node that a driver moves on: a new
// head whenever a block is published) and a fake cluster holding every
// validator of the chain, validator i having index i.
type env struct {
	t       testing.TB
	opts    envOptions
	net     *network.Network
	node    *beacontest.Node
	cluster *cluster

	mu sync.Mutex
	// blocks are the roots of the slots that have a block.
	blocks   map[phase0.Slot]phase0.Root
	headSlot phase0.Slot
	headRoot phase0.Root
	// noProposals makes the node refuse to produce blocks.
	noProposals bool
	// wrongProposer makes the node produce blocks for another validator.
	wrongProposer bool
	// published counts blocks published, by slot.
	published map[phase0.Slot]int
	// aggregateAsks counts requests for the node's aggregate, by slot and
	// committee.
	aggregateAsks map[[2]uint64]int
	// holdBlockQueriesFrom, when not zero, makes a query for the block of
	// a slot from this one on that has none wait until one is published
	// there (or the query ends): a redundant instance asking whether the
	// first one proposed learns it once that happened, however long it
	// took.
	holdBlockQueriesFrom phase0.Slot
	// produceDelay holds every block production this long.
	produceDelay time.Duration
	// headChanged is closed, and replaced, at each new head.
	headChanged chan struct{}
	// notify and watchdog, when set, are the next client's systemd
	// notification hook and watchdog interval.
	notify   func(string)
	watchdog time.Duration
}

// genesisRoot is the root of the chain's genesis block.
var genesisRoot = phase0.Root{0x9e, 0x7e}

// blockRoot is the root the fake chain gives a block at slot s.
func blockRoot(s phase0.Slot) phase0.Root {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s))
	return sha256.Sum256(append([]byte("block"), b[:]...))
}

// newEnv builds a chain whose genesis was about two epochs ago, so that
// the client starts near the end of epoch 1.
func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	epoch := time.Duration(o.slotsPerEpoch) * o.slot
	genesis := time.Now().Add(-2*epoch + 2*o.slot).Truncate(time.Second)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "PRESET_BASE: mainnet\nCONFIG_NAME: vc-test\nMIN_GENESIS_TIME: %d\nGENESIS_DELAY: 0\nGENESIS_FORK_VERSION: 0x10000000\nSECONDS_PER_SLOT: %d\nSLOTS_PER_EPOCH: %d\n",
		genesis.Unix(), int(o.slot/time.Second), o.slotsPerEpoch)
	for i, f := range forkNames {
		if f.version > o.fork {
			break
		}
		fmt.Fprintf(&cfg, "%s_FORK_VERSION: 0x1000000%d\n%s_FORK_EPOCH: 0\n", f.prefix, i+1, f.prefix)
	}
	net, err := network.ParseConfig([]byte(cfg.String()), phase0.Root{0x7e, 0x57})
	if err != nil {
		t.Fatal(err)
	}
	ccfg := coordinator.DefaultConfig()
	ccfg.Timeout = 10 * time.Second
	if o.coordinator != nil {
		o.coordinator(&ccfg)
	}
	e := &env{t: t, opts: o, net: net, cluster: newCluster(t, net, o.threshold, o.signers, o.validators, ccfg),
		blocks: map[phase0.Slot]phase0.Root{0: genesisRoot}, headRoot: genesisRoot, published: map[phase0.Slot]int{}, aggregateAsks: map[[2]uint64]int{},
		headChanged: make(chan struct{})}
	e.node = beacontest.New(net)
	t.Cleanup(e.node.Close)
	e.node.SetValidators(e.cluster.keys)
	e.node.SetHead(0, genesisRoot)
	e.routes()
	if o.mainnetDuties {
		e.node.Handle("POST /eth/v1/validator/duties/sync/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
			beacontest.WriteData(w, []*apiv1.SyncCommitteeDuty{})
		})
	}
	return e
}

func (e *env) slotNow() phase0.Slot {
	return phase0.Slot(time.Since(e.net.GenesisTime()) / e.net.SlotDuration())
}

// newHead records a block at slot s and announces it on the event stream.
func (e *env) newHead(s phase0.Slot) {
	root := blockRoot(s)
	e.mu.Lock()
	e.blocks[s] = root
	if s >= e.headSlot {
		e.headSlot, e.headRoot = s, root
	}
	close(e.headChanged)
	e.headChanged = make(chan struct{})
	e.mu.Unlock()
	e.node.SetHead(s, root)
	e.node.Emit("head", &apiv1.HeadEvent{
		Slot: s, Block: root, State: phase0.Root{0x57},
		CurrentDutyDependentRoot: beacontest.DependentRoot(), PreviousDutyDependentRoot: beacontest.DependentRoot(),
	})
}

// routes adds what a validator client needs beyond beacontest's defaults:
// block production and publication (publication makes the block the
// head), block roots, aggregates and sync contributions.
func (e *env) routes() {
	e.node.Handle("POST /eth/v1/validator/duties/attester/{epoch}", e.attesterDuties)
	e.node.Handle("GET /eth/v1/validator/attestation_data", func(w http.ResponseWriter, r *http.Request) {
		slot, _ := strconv.ParseUint(r.URL.Query().Get("slot"), 10, 64)
		committee, _ := strconv.ParseUint(r.URL.Query().Get("committee_index"), 10, 64)
		e.mu.Lock()
		head := e.headRoot
		e.mu.Unlock()
		data := beacontest.AttestationData(e.net, phase0.Slot(slot), head)
		data.Index = phase0.CommitteeIndex(committee)
		beacontest.WriteData(w, data)
	})
	e.node.Handle("GET /eth/v3/validator/blocks/{slot}", e.produceBlock)
	for _, p := range []string{"/eth/v2/beacon/blocks", "/eth/v2/beacon/blinded_blocks"} {
		e.node.Handle("POST "+p, func(w http.ResponseWriter, r *http.Request) {
			// The client publishes the block of the current slot; the
			// fake chain takes it as the new head.
			s := e.slotNow()
			e.mu.Lock()
			e.published[s]++
			e.mu.Unlock()
			e.newHead(s)
			w.WriteHeader(http.StatusOK)
		})
	}
	e.node.Handle("GET /eth/v1/beacon/blocks/{block}/root", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		root, ok := e.headRoot, true
		if id := r.PathValue("block"); id != "head" {
			s, err := strconv.ParseUint(id, 10, 64)
			root, ok = e.blocks[phase0.Slot(s)]
			for !ok && err == nil && e.holdBlockQueriesFrom != 0 && phase0.Slot(s) >= e.holdBlockQueriesFrom {
				changed := e.headChanged
				e.mu.Unlock()
				select {
				case <-changed:
				case <-r.Context().Done():
				}
				e.mu.Lock()
				if r.Context().Err() != nil {
					break
				}
				root, ok = e.blocks[phase0.Slot(s)]
			}
			ok = ok && err == nil
		}
		e.mu.Unlock()
		if !ok {
			beacontest.WriteError(w, http.StatusNotFound, "no block at that slot")
			return
		}
		beacontest.WriteData(w, map[string]string{"root": root.String()})
	})
	e.node.Handle("GET /eth/v2/validator/aggregate_attestation", e.aggregate)
	e.node.Handle("GET /eth/v1/validator/sync_committee_contribution", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		slot, _ := strconv.ParseUint(q.Get("slot"), 10, 64)
		sub, _ := strconv.ParseUint(q.Get("subcommittee_index"), 10, 64)
		var root phase0.Root
		if b, err := hex.DecodeString(strings.TrimPrefix(q.Get("beacon_block_root"), "0x")); err == nil {
			copy(root[:], b)
		}
		bits := bitfield.NewBitvector128()
		bits.SetBitAt(0, true)
		beacontest.WriteData(w, &altair.SyncCommitteeContribution{Slot: phase0.Slot(slot), BeaconBlockRoot: root, SubcommitteeIndex: sub, AggregationBits: bits, Signature: phase0.BLSSignature{0xc0}})
	})
}

// attesterDuties gives validator i a duty at slot i mod SLOTS_PER_EPOCH of
// the epoch, in one of two committees of eight (small committees make
// every member an aggregator, two committees exercise the per-committee
// data of the forks before Electra).
func (e *env) attesterDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := strconv.ParseUint(r.PathValue("epoch"), 10, 64)
	if err != nil {
		beacontest.WriteError(w, http.StatusBadRequest, "bad epoch")
		return
	}
	var ids []string
	if err := json.NewDecoder(r.Body).Decode(&ids); err != nil {
		beacontest.WriteError(w, http.StatusBadRequest, "bad body")
		return
	}
	spe := e.opts.slotsPerEpoch
	var out []*apiv1.AttesterDuty
	for _, id := range ids {
		i, err := strconv.ParseUint(id, 10, 64)
		if err != nil || i >= uint64(len(e.cluster.keys)) {
			continue
		}
		d := &apiv1.AttesterDuty{
			PubKey: e.cluster.keys[i], ValidatorIndex: phase0.ValidatorIndex(i),
			Slot:             phase0.Slot(epoch*spe + i%spe),
			CommitteesAtSlot: 2, CommitteeIndex: phase0.CommitteeIndex((i / spe) % 2), CommitteeLength: 8,
			ValidatorCommitteeIndex: (i / (2 * spe)) % 8,
		}
		if e.opts.mainnetDuties {
			d.CommitteesAtSlot, d.CommitteeIndex, d.CommitteeLength = 64, phase0.CommitteeIndex((i/spe)%64), 512
			d.ValidatorCommitteeIndex = (i / (64 * spe)) % 512
		}
		out = append(out, d)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"dependent_root": beacontest.DependentRoot().String(), "execution_optimistic": false, "data": out})
}

// aggregate answers with an aggregate whose data is the data the node gave
// for the slot with any known block as head.
func (e *env) aggregate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	slot, _ := strconv.ParseUint(q.Get("slot"), 10, 64)
	committee, _ := strconv.ParseUint(q.Get("committee_index"), 10, 64)
	want := q.Get("attestation_data_root")
	version := e.net.ForkAtEpoch(e.net.EpochAtSlot(phase0.Slot(slot))).Name
	e.mu.Lock()
	e.aggregateAsks[[2]uint64{slot, committee}]++
	var roots []phase0.Root
	for _, b := range e.blocks {
		roots = append(roots, b)
	}
	e.mu.Unlock()
	for _, head := range roots {
		data := beacontest.AttestationData(e.net, phase0.Slot(slot), head)
		if version < spec.DataVersionElectra {
			data.Index = phase0.CommitteeIndex(committee)
		}
		root, _ := data.HashTreeRoot()
		if phase0.Root(root).String() != want {
			continue
		}
		bits := bitfield.NewBitlist(128)
		bits.SetBitAt(3, true)
		w.Header().Set("Eth-Consensus-Version", version.String())
		if version >= spec.DataVersionElectra {
			cb := bitfield.NewBitvector64()
			cb.SetBitAt(committee, true)
			writeVersioned(w, version, &electra.Attestation{AggregationBits: bits, Data: data, Signature: phase0.BLSSignature{0xc0}, CommitteeBits: cb})
			return
		}
		writeVersioned(w, version, &phase0.Attestation{AggregationBits: bits, Data: data, Signature: phase0.BLSSignature{0xc0}})
		return
	}
	beacontest.WriteError(w, http.StatusNotFound, "no attestations with that data")
}

func writeVersioned(w http.ResponseWriter, v spec.DataVersion, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"version": v.String(), "data": data})
}

// produceBlock answers produceBlockV3 with an empty block of the slot's
// fork, from the slot's proposer, carrying the RANDAO reveal asked with:
// blinded when builders are allowed (builder_boost_factor > 0) from
// Bellatrix on, as if a builder paid more.
func (e *env) produceBlock(w http.ResponseWriter, r *http.Request) {
	slot, _ := strconv.ParseUint(r.PathValue("slot"), 10, 64)
	e.mu.Lock()
	refuse, wrong, delay := e.noProposals, e.wrongProposer, e.produceDelay
	parent := e.headRoot
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if refuse {
		beacontest.WriteError(w, http.StatusServiceUnavailable, "no block today")
		return
	}
	var reveal phase0.BLSSignature
	if b, err := hex.DecodeString(strings.TrimPrefix(r.URL.Query().Get("randao_reveal"), "0x")); err == nil {
		copy(reveal[:], b)
	}
	version := e.net.ForkAtEpoch(e.net.EpochAtSlot(phase0.Slot(slot))).Name
	blinded := version >= spec.DataVersionBellatrix && r.URL.Query().Get("builder_boost_factor") != "0"
	proposer := phase0.ValidatorIndex(slot % uint64(len(e.cluster.keys)))
	if wrong {
		proposer = (proposer + 1) % phase0.ValidatorIndex(len(e.cluster.keys))
	}
	block := proposal(version, blinded, phase0.Slot(slot), proposer, parent, reveal)
	w.Header().Set("Eth-Consensus-Version", version.String())
	w.Header().Set("Eth-Execution-Payload-Blinded", strconv.FormatBool(blinded))
	w.Header().Set("Eth-Execution-Payload-Value", "1")
	w.Header().Set("Eth-Consensus-Block-Value", "1")
	writeVersioned(w, version, block)
}

// proposal makes an empty block of the version's shape (every list empty,
// every fixed field zero), then sets its slot, proposer, parent and RANDAO
// reveal.
func proposal(v spec.DataVersion, blinded bool, slot phase0.Slot, proposer phase0.ValidatorIndex, parent phase0.Root, reveal phase0.BLSSignature) any {
	var out any
	switch {
	case v == spec.DataVersionPhase0:
		out = &phase0.BeaconBlock{}
	case v == spec.DataVersionAltair:
		out = &altair.BeaconBlock{}
	case v == spec.DataVersionBellatrix && blinded:
		out = &apiv1bellatrix.BlindedBeaconBlock{}
	case v == spec.DataVersionBellatrix:
		out = &bellatrix.BeaconBlock{}
	case v == spec.DataVersionCapella && blinded:
		out = &apiv1capella.BlindedBeaconBlock{}
	case v == spec.DataVersionCapella:
		out = &capella.BeaconBlock{}
	case v == spec.DataVersionDeneb && blinded:
		out = &apiv1deneb.BlindedBeaconBlock{}
	case v == spec.DataVersionDeneb:
		out = &apiv1deneb.BlockContents{}
	case v >= spec.DataVersionElectra && blinded:
		out = &apiv1electra.BlindedBeaconBlock{}
	case v == spec.DataVersionElectra:
		out = &apiv1electra.BlockContents{}
	default:
		out = &apiv1fulu.BlockContents{}
	}
	fill(reflect.ValueOf(out).Elem(), "")
	block := reflect.ValueOf(out).Elem()
	if f := block.FieldByName("Block"); f.IsValid() {
		block = f.Elem()
	}
	block.FieldByName("Slot").Set(reflect.ValueOf(slot))
	block.FieldByName("ProposerIndex").Set(reflect.ValueOf(proposer))
	block.FieldByName("ParentRoot").Set(reflect.ValueOf(parent))
	block.FieldByName("Body").Elem().FieldByName("RANDAOReveal").Set(reflect.ValueOf(reveal))
	return out
}

// fill gives every pointer of a go-eth2-client object a value and every
// fixed-size byte field its size (from the ssz-size tag), so that the
// object encodes as a valid, empty one. Bit lists get their length bit.
func fill(v reflect.Value, sszSize string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), sszSize)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.IsExported() {
				fill(v.Field(i), f.Tag.Get("ssz-size"))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			return
		}
		n := 0
		if size, _, _ := strings.Cut(sszSize, ","); size != "" && size != "?" {
			n, _ = strconv.Atoi(size)
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		if v.Type().Elem().Kind() == reflect.Uint8 && n == 0 && strings.Contains(v.Type().String(), "Bitlist") {
			s = reflect.ValueOf([]byte{0x01}).Convert(v.Type())
		}
		v.Set(s)
	}
}

// start runs a beacon client and a rampart-vc client over the env until
// the test ends; the returned function stops them and returns Run's error.
func (e *env) start(t testing.TB, mutate func(*vc.Config)) (*vc.Client, *prometheus.Registry, *syncBuffer, func() error) {
	t.Helper()
	return e.startWith(t, mutate, e.cluster.coord)
}

// startWith is start with another coordinator (another process's).
func (e *env) startWith(t testing.TB, mutate func(*vc.Config), signer vc.Signer) (*vc.Client, *prometheus.Registry, *syncBuffer, func() error) {
	t.Helper()
	return e.startAt(t, e.node.URL, mutate, signer)
}

// startAt is startWith reaching the node at url (a proxy in front of it).
func (e *env) startAt(t testing.TB, url string, mutate func(*vc.Config), signer vc.Signer) (*vc.Client, *prometheus.Registry, *syncBuffer, func() error) {
	t.Helper()
	bcfg := beacon.DefaultConfig()
	bcfg.Network = e.net
	bcfg.Timeout = 5 * time.Second
	bcfg.Nodes = []beacon.NodeConfig{{Name: "n0", URL: url}}
	bn, err := beacon.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vc.DefaultConfig()
	cfg.BeaconNodes = []vc.BeaconNodeConfig{{Name: "n0", URL: url}}
	cfg.FeeRecipient = "0x5241d0000000000000000000000000000000d0fe"
	cfg.Doppelganger.Enabled = false
	cfg.Listen.Operations = ""
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{written: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := vc.New(&cfg, vc.Options{Network: e.net, Beacon: bn, Signer: signer, Logger: log, Registerer: reg, Notify: e.notify, WatchdogInterval: e.watchdog})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bnDone := make(chan struct{})
	go func() { defer close(bnDone); _ = bn.Run(ctx) }()
	runErr := make(chan error, 1)
	go func() { runErr <- client.Run(ctx) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			result = <-runErr
			<-bnDone
		})
		return result
	}
	t.Cleanup(func() {
		_ = stop()
		if t.Failed() {
			t.Logf("client log:\n%s", logs.String())
		}
	})
	return client, reg, logs, stop
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, which tells
// waiters of each write.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
	// written is closed, and replaced, at each write.
	written chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.written)
	b.written = make(chan struct{})
	return b.Buffer.Write(p)
}

// waitFor waits until the log holds s: on the log's writes, not a clock.
func (b *syncBuffer) waitFor(t testing.TB, s string) {
	t.Helper()
	for {
		b.mu.Lock()
		found, written := strings.Contains(b.Buffer.String(), s), b.written
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-written:
		case <-t.Context().Done():
			t.Fatalf("the log never said %q", s)
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// waitFor polls cond every 50 ms until it holds or limit passes; a test
// waits for what happens on the chain's clock, never asserts how fast.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counter reads a counter of the registry (0 when absent).
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		total := 0.0
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return total
	}
	return 0
}
