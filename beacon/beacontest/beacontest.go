// Package beacontest is a fake beacon node for tests: an httptest server
// that serves the part of the beacon API a validator client uses, from a
// network and a small programmable state, records what is submitted to it,
// and pushes events on its event stream. Any endpoint can be replaced with
// Handle, to make the node slow, wrong or hostile.
package beacontest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// Node is a fake beacon node. Its zero value is not usable; use New.
type Node struct {
	// URL is the base URL of the node's API.
	URL string

	srv *httptest.Server
	net *network.Network
	mux *http.ServeMux

	mu          sync.Mutex
	overrides   map[string]http.HandlerFunc
	routed      map[string]bool
	headSlot    phase0.Slot
	headRoot    phase0.Root
	syncing     bool
	optimistic  bool
	elOffline   bool
	validators  []phase0.BLSPubKey
	submissions map[string][]json.RawMessage
	calls       map[string]int
	requests    map[string][]Request
	streams     map[chan string]bool
}

// New starts a fake node serving net. Close it when done.
func New(net *network.Network) *Node {
	n := &Node{
		net:         net,
		mux:         http.NewServeMux(),
		overrides:   map[string]http.HandlerFunc{},
		routed:      map[string]bool{},
		submissions: map[string][]json.RawMessage{},
		calls:       map[string]int{},
		requests:    map[string][]Request{},
		streams:     map[chan string]bool{},
		headRoot:    phase0.Root{0x01},
	}
	n.routes()
	n.srv = httptest.NewServer(n.mux)
	n.URL = n.srv.URL
	return n
}

// Close stops the server, ending open event streams.
func (n *Node) Close() {
	n.mu.Lock()
	for ch := range n.streams {
		close(ch)
		delete(n.streams, ch)
	}
	n.mu.Unlock()
	n.srv.CloseClientConnections()
	n.srv.Close()
}

// Handle replaces the handler of a route pattern ("GET
// /eth/v1/validator/attestation_data", as registered), or adds a route for
// an endpoint the fake does not serve by default.
func (n *Node) Handle(pattern string, h http.HandlerFunc) {
	n.mu.Lock()
	n.overrides[pattern] = h
	known := n.routed[pattern]
	n.mu.Unlock()
	if !known {
		n.route(pattern, http.NotFound)
	}
}

// SetHead sets the head the node reports (sync state, attestation data).
func (n *Node) SetHead(slot phase0.Slot, root phase0.Root) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.headSlot, n.headRoot = slot, root
}

// SetSyncState sets what /eth/v1/node/syncing reports.
func (n *Node) SetSyncState(syncing, optimistic, elOffline bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.syncing, n.optimistic, n.elOffline = syncing, optimistic, elOffline
}

// SetValidators sets the validator registry: validator i has key keys[i].
func (n *Node) SetValidators(keys []phase0.BLSPubKey) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.validators = append([]phase0.BLSPubKey(nil), keys...)
}

// Submissions returns the JSON items posted to a submission path (e.g.
// "/eth/v2/beacon/pool/attestations"), in order.
func (n *Node) Submissions(path string) []json.RawMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]json.RawMessage(nil), n.submissions[path]...)
}

// Request is a request a route served: its path and when it arrived.
type Request struct {
	Path string
	At   time.Time
}

// Requests returns the requests a route pattern has served, in order.
func (n *Node) Requests(pattern string) []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Request(nil), n.requests[pattern]...)
}

// Calls returns how many requests a route pattern has served.
func (n *Node) Calls(pattern string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[pattern]
}

// Emit sends an event to every open event stream: topic is the event name
// and data its JSON.
func (n *Node) Emit(topic string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("beacontest: event data: %v", err))
	}
	msg := fmt.Sprintf("event: %s\ndata: %s\n\n", topic, b)
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.streams {
		select {
		case ch <- msg:
		default:
		}
	}
}

// Streams returns the number of open event streams.
func (n *Node) Streams() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.streams)
}

// route registers a default handler that an override can replace.
func (n *Node) route(pattern string, h http.HandlerFunc) {
	n.mu.Lock()
	n.routed[pattern] = true
	n.mu.Unlock()
	n.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.calls[pattern]++
		n.requests[pattern] = append(n.requests[pattern], Request{Path: r.URL.Path, At: time.Now()})
		o := n.overrides[pattern]
		n.mu.Unlock()
		if o != nil {
			o(w, r)
			return
		}
		h(w, r)
	})
}

func (n *Node) routes() {
	n.route("GET /eth/v1/node/syncing", n.syncState)
	n.route("GET /eth/v1/node/version", func(w http.ResponseWriter, _ *http.Request) {
		writeData(w, map[string]string{"version": "beacontest/1"})
	})
	n.route("GET /eth/v1/beacon/genesis", func(w http.ResponseWriter, _ *http.Request) {
		writeData(w, &apiv1.Genesis{
			GenesisTime:           n.net.GenesisTime(),
			GenesisValidatorsRoot: n.net.GenesisValidatorsRoot(),
			GenesisForkVersion:    n.net.GenesisForkVersion(),
		})
	})
	n.route("GET /eth/v1/config/spec", func(w http.ResponseWriter, _ *http.Request) { writeData(w, Spec(n.net)) })
	n.route("GET /eth/v1/config/fork_schedule", func(w http.ResponseWriter, _ *http.Request) {
		var out []*phase0.Fork
		for _, f := range n.net.Forks() {
			out = append(out, &phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch})
		}
		writeData(w, out)
	})
	n.route("GET /eth/v1/events", n.events)
	n.route("GET /eth/v1/validator/attestation_data", n.attestationData)
	n.route("POST /eth/v1/validator/duties/attester/{epoch}", n.attesterDuties)
	n.route("GET /eth/v1/validator/duties/proposer/{epoch}", n.proposerDuties)
	n.route("POST /eth/v1/validator/duties/sync/{epoch}", n.syncDuties)
	n.route("POST /eth/v1/beacon/states/{state}/validators", n.stateValidators)
	n.route("POST /eth/v1/validator/liveness/{epoch}", n.liveness)
	for _, p := range []string{
		"/eth/v2/beacon/pool/attestations",
		"/eth/v2/validator/aggregate_and_proofs",
		"/eth/v2/beacon/blocks",
		"/eth/v2/beacon/blinded_blocks",
		"/eth/v1/beacon/pool/sync_committees",
		"/eth/v1/validator/contribution_and_proofs",
		"/eth/v1/validator/sync_committee_subscriptions",
		"/eth/v1/validator/beacon_committee_subscriptions",
		"/eth/v1/validator/register_validator",
		"/eth/v1/validator/prepare_beacon_proposer",
		"/eth/v1/beacon/pool/voluntary_exits",
	} {
		n.route("POST "+p, n.record(p))
	}
}

func (n *Node) syncState(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dist := "0"
	if n.syncing {
		dist = "64"
	}
	writeData(w, map[string]any{
		"head_slot":     strconv.FormatUint(uint64(n.headSlot), 10),
		"sync_distance": dist,
		"is_syncing":    n.syncing,
		"is_optimistic": n.optimistic,
		"el_offline":    n.elOffline,
	})
}

// events serves the event stream until the client goes or Close.
func (n *Node) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	ch := make(chan string, 64)
	n.mu.Lock()
	n.streams[ch] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.streams[ch] {
			delete(n.streams, ch)
			close(ch)
		}
		n.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, msg); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// attestationData answers with data for the slot: head and target roots
// from the node's head root, source the previous epoch.
func (n *Node) attestationData(w http.ResponseWriter, r *http.Request) {
	slot, err := strconv.ParseUint(r.URL.Query().Get("slot"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad slot")
		return
	}
	n.mu.Lock()
	root := n.headRoot
	n.mu.Unlock()
	writeData(w, AttestationData(n.net, phase0.Slot(slot), root))
}

// AttestationData is the data the fake node gives for slot with head root:
// target the slot's epoch (root = head), source the epoch before (root
// derived from head), committee index 0.
func AttestationData(net *network.Network, slot phase0.Slot, head phase0.Root) *phase0.AttestationData {
	epoch := net.EpochAtSlot(slot)
	src := phase0.Checkpoint{}
	if epoch > 0 {
		src = phase0.Checkpoint{Epoch: epoch - 1, Root: phase0.Root{0x5c, head[0]}}
	}
	return &phase0.AttestationData{
		Slot:            slot,
		BeaconBlockRoot: head,
		Source:          &src,
		Target:          &phase0.Checkpoint{Epoch: epoch, Root: head},
	}
}

// DependentRoot is the dependent root of the fake node's duties.
func DependentRoot() phase0.Root { return phase0.Root{0xde, 0xb0} }

func (n *Node) attesterDuties(w http.ResponseWriter, r *http.Request) {
	epoch, indices, ok := n.dutyRequest(w, r)
	if !ok {
		return
	}
	spe := n.net.Preset().SlotsPerEpoch
	writeDuties(w, forKnown(n, indices, func(i phase0.ValidatorIndex, pk phase0.BLSPubKey) *apiv1.AttesterDuty {
		return &apiv1.AttesterDuty{
			PubKey: pk, ValidatorIndex: i,
			Slot:           phase0.Slot(uint64(epoch)*spe + uint64(i)%spe),
			CommitteeIndex: 0, CommitteeLength: 128, CommitteesAtSlot: 1,
			ValidatorCommitteeIndex: uint64(i) % 128,
		}
	}))
}

func (n *Node) proposerDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := strconv.ParseUint(r.PathValue("epoch"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad epoch")
		return
	}
	n.mu.Lock()
	count := len(n.validators)
	n.mu.Unlock()
	var out []*apiv1.ProposerDuty
	spe := n.net.Preset().SlotsPerEpoch
	for s := uint64(0); s < spe && count > 0; s++ {
		slot := epoch*spe + s
		i := phase0.ValidatorIndex(slot % uint64(count))
		pk, _ := n.key(i)
		out = append(out, &apiv1.ProposerDuty{PubKey: pk, Slot: phase0.Slot(slot), ValidatorIndex: i})
	}
	writeDuties(w, out)
}

func (n *Node) syncDuties(w http.ResponseWriter, r *http.Request) {
	_, indices, ok := n.dutyRequest(w, r)
	if !ok {
		return
	}
	size := n.net.Preset().SyncCommitteeSize
	writeData(w, forKnown(n, indices, func(i phase0.ValidatorIndex, pk phase0.BLSPubKey) *apiv1.SyncCommitteeDuty {
		return &apiv1.SyncCommitteeDuty{PubKey: pk, ValidatorIndex: i,
			ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{phase0.CommitteeIndex(uint64(i) % size)}}
	}))
}

func (n *Node) stateValidators(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "bad body")
		return
	}
	n.mu.Lock()
	keys := append([]phase0.BLSPubKey(nil), n.validators...)
	n.mu.Unlock()
	var out []*apiv1.Validator
	for _, id := range body.IDs {
		for i, pk := range keys {
			if id == pk.String() || id == strconv.Itoa(i) {
				out = append(out, &apiv1.Validator{
					Index: phase0.ValidatorIndex(i), Balance: 32e9, Status: apiv1.ValidatorStateActiveOngoing,
					Validator: &phase0.Validator{
						PublicKey: pk, WithdrawalCredentials: make([]byte, 32), EffectiveBalance: 32e9,
						ActivationEligibilityEpoch: 0, ActivationEpoch: 0,
						ExitEpoch: network.FarFutureEpoch, WithdrawableEpoch: network.FarFutureEpoch,
					},
				})
			}
		}
	}
	writeData(w, out)
}

func (n *Node) liveness(w http.ResponseWriter, r *http.Request) {
	_, indices, ok := n.dutyRequest(w, r)
	if !ok {
		return
	}
	var out []*apiv1.ValidatorLiveness
	for _, i := range indices {
		out = append(out, &apiv1.ValidatorLiveness{Index: i, IsLive: false})
	}
	writeData(w, out)
}

// dutyRequest reads the epoch path value and the JSON list of indices.
func (n *Node) dutyRequest(w http.ResponseWriter, r *http.Request) (phase0.Epoch, []phase0.ValidatorIndex, bool) {
	epoch, err := strconv.ParseUint(r.PathValue("epoch"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad epoch")
		return 0, nil, false
	}
	var ids []string
	if err := json.NewDecoder(r.Body).Decode(&ids); err != nil {
		writeError(w, http.StatusBadRequest, "bad body")
		return 0, nil, false
	}
	var out []phase0.ValidatorIndex
	for _, id := range ids {
		i, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad index")
			return 0, nil, false
		}
		out = append(out, phase0.ValidatorIndex(i))
	}
	return phase0.Epoch(epoch), out, true
}

// forKnown maps the indices of known validators through f, skipping the
// others (as nodes do for validators they do not know).
func forKnown[T any](n *Node, indices []phase0.ValidatorIndex, f func(phase0.ValidatorIndex, phase0.BLSPubKey) T) []T {
	var out []T
	for _, i := range indices {
		if pk, ok := n.key(i); ok {
			out = append(out, f(i, pk))
		}
	}
	return out
}

func (n *Node) key(i phase0.ValidatorIndex) (phase0.BLSPubKey, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if uint64(i) >= uint64(len(n.validators)) {
		return phase0.BLSPubKey{}, false
	}
	return n.validators[i], true
}

// record stores the items of a posted JSON array (or the posted object).
func (n *Node) record(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "unreadable body")
			return
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			items = []json.RawMessage{body}
		}
		n.mu.Lock()
		n.submissions[path] = append(n.submissions[path], items...)
		n.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
}

// Spec is the /eth/v1/config/spec the fake node serves for net: every
// value as a string, forks the network does not schedule at
// FAR_FUTURE_EPOCH.
func Spec(net *network.Network) map[string]string {
	p := net.Preset()
	out := map[string]string{
		"PRESET_BASE":                      p.Name,
		"CONFIG_NAME":                      net.Name(),
		"SLOTS_PER_EPOCH":                  strconv.FormatUint(p.SlotsPerEpoch, 10),
		"SECONDS_PER_SLOT":                 strconv.FormatInt(int64(net.SlotDuration().Seconds()), 10),
		"SYNC_COMMITTEE_SIZE":              strconv.FormatUint(p.SyncCommitteeSize, 10),
		"MAX_COMMITTEES_PER_SLOT":          strconv.FormatUint(p.MaxCommitteesPerSlot, 10),
		"MAX_VALIDATORS_PER_COMMITTEE":     strconv.FormatUint(p.MaxValidatorsPerCommittee, 10),
		"TARGET_AGGREGATORS_PER_COMMITTEE": "16",
		"FAR_FUTURE_EPOCH":                 strconv.FormatUint(uint64(network.FarFutureEpoch), 10),
		"GENESIS_FORK_VERSION":             hexString(net.GenesisForkVersion()),
	}
	for i, prefix := range []string{"ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU"} {
		out[prefix+"_FORK_EPOCH"] = strconv.FormatUint(uint64(network.FarFutureEpoch), 10)
		out[prefix+"_FORK_VERSION"] = hexString(phase0.Version{0xff, 0xff, 0xff, byte(i)})
	}
	for _, f := range net.Forks()[1:] {
		prefix := strings.ToUpper(f.Name.String())
		out[prefix+"_FORK_EPOCH"] = strconv.FormatUint(uint64(f.Epoch), 10)
		out[prefix+"_FORK_VERSION"] = hexString(f.Version)
	}
	return out
}

func hexString(v phase0.Version) string { return "0x" + hex.EncodeToString(v[:]) }

func writeData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func writeDuties(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"dependent_root": DependentRoot().String(), "execution_optimistic": false, "data": data,
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "message": msg})
}

// WriteData writes a {"data": ...} JSON answer, for Handle overrides.
func WriteData(w http.ResponseWriter, data any) { writeData(w, data) }

// WriteError writes a beacon API error answer, for Handle overrides.
func WriteError(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }
