package ceremony

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// ceremonyFixture is participant 1 of a 2-of-3 ceremony, in process, with
// a real SoftHSM sealing key and data directory, and participants 2 and 3
// simulated by bare state machines. Its peers are unreachable, so what it
// sends goes nowhere; what it receives goes through the real endpoint,
// behind a guard that names the cluster's participants by their
// certificates (the daemon's own guard is tested in appliance).
type ceremonyFixture struct {
	s     *Service
	c     *ceremony
	seal  *hsm.SealingKey
	mux   *http.ServeMux
	peers map[tss.ID]*dkg.Participant // batch 0 of participants 2 and 3
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// noAccounts stands in for the signer's accounts: these tests never get a
// batch to its end, so nothing is staged.
type noAccounts struct{}

var errNoAccounts = errors.New("no accounts in this test")

func (noAccounts) Stage(context.Context, []Share) ([]*bls.PublicKey, error) {
	return nil, errNoAccounts
}
func (noAccounts) Activate(context.Context, []api.PublicKey) error     { return errNoAccounts }
func (noAccounts) Discard(api.PublicKey)                               {}
func (noAccounts) Remove(context.Context, api.PublicKey, string) error { return nil }

// unreachable are peers on ports nothing listens on: messages sent are
// retried until the fixture ends.
type unreachable map[tss.ID]*peer.Client

func (u unreachable) Peer(id tss.ID, _ *adminapi.Actor) Peer { return adminapi.NewClient(u[id]) }

// recorder accepts every administrative action.
type recorder struct{}

func (recorder) RecordAdmin(adminapi.Actor, string) error { return nil }

func newCeremonyFixture(tb testing.TB) *ceremonyFixture {
	tb.Helper()
	env := softhsm.New(tb, "signer-1")
	tok, err := hsm.Open(context.Background(), env.Tokens[0].URI, hsm.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tok.Close() })
	key, err := tok.CreateSealingKey(context.Background(), hsm.Object{Label: "rampart-seal"})
	if err != nil {
		tb.Fatal(err)
	}
	peers := unreachable{}
	var ids []tss.ID
	for i := tss.ID(1); i <= 3; i++ {
		ids = append(ids, i)
		if peers[i], err = peer.New(i, fmt.Sprintf("https://127.0.0.1:%d", i), fmt.Sprintf("signer-%d", i), &tls.Config{}); err != nil {
			tb.Fatal(err)
		}
	}
	s := New(Config{
		Self: 1, ClusterID: sha256.Sum256([]byte("fixture")), Participants: ids,
		Dir: filepath.Join(tb.TempDir(), "ceremonies"), Network: network.Mainnet(), Rand: rand.Reader,
		Log: slog.New(slog.DiscardHandler), Clock: realClock{}, MaxWait: time.Minute,
	}, Deps{Accounts: noAccounts{}, Sealer: key, Peers: peers, Audit: recorder{}})
	if err := s.Load(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	p := fixturePlan(tb, &s.env.cfg)
	c, e := s.join(p)
	if e != nil {
		tb.Fatal(e)
	}
	// Wait until participant 1 has dealt every batch it starts at once
	// (batchWindow) and waits for its peers, so that no snapshot appears
	// and nothing changes during a test but what the test sends.
	window := c.batches[:min(batchWindow, len(c.batches))]
	waitFor(tb, c, "the first batches dealt", func() bool {
		for _, b := range window {
			if v := b.view(); !v.started || len(v.waiting) == 0 {
				return false
			}
		}
		return true
	})
	f := &ceremonyFixture{s: s, c: c, seal: key, mux: http.NewServeMux(), peers: map[tss.ID]*dkg.Participant{}}
	for _, rt := range s.Routes() {
		if rt.Access == AccessParticipant || rt.Access == AccessAdminOrCoordinator {
			f.mux.HandleFunc(rt.Pattern, participantsOnly(rt))
		}
	}
	for _, id := range []tss.ID{2, 3} {
		p, err := dkg.New(p.batchConfig(c.id, 0), id, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		f.peers[id] = p
	}
	return f
}

// participantsOnly lets in the clients whose certificate names a
// participant, signer-N, as the daemon's guard does.
func participantsOnly(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var id tss.ID
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			fmt.Sscanf(r.TLS.VerifiedChains[0][0].DNSNames[0], "signer-%d", &id)
		}
		if id < 1 || id > 3 {
			web.WriteError(w, web.Refuse(http.StatusForbidden, "unauthorised", "not a participant"))
			return
		}
		rt.Handle(w, r, Caller{Peer: id, Actor: adminapi.Actor{Client: fmt.Sprintf("signer-%d", id)}})
	}
}

// waitFor waits, on the ceremony's change signal, until ok holds; a minute
// without it fails the test.
func waitFor(tb testing.TB, c *ceremony, what string, ok func() bool) {
	tb.Helper()
	limit := time.After(time.Minute)
	for {
		changed := c.changes.wait()
		if ok() {
			return
		}
		select {
		case <-changed:
		case <-limit:
			tb.Fatalf("%s: not reached after a minute", what)
		}
	}
}

func fixturePlan(tb testing.TB, cfg *Config) *plan {
	tb.Helper()
	n := cfg.Network
	fork := n.GenesisForkVersion()
	wc := api.Root{0x01}
	wc[31] = 0x42
	p := &plan{
		ClusterID: api.Root(cfg.ClusterID), Coordinator: 1, Participants: []api.Uint64{1, 2, 3},
		Threshold: 2, Validators: 6, BatchSize: 3, WithdrawalCredentials: wc, AmountGwei: 32_000_000_000,
		GenesisForkVersion:    api.Uint64(uint32(fork[0])<<24 | uint32(fork[1])<<16 | uint32(fork[2])<<8 | uint32(fork[3])),
		GenesisValidatorsRoot: api.Root(n.GenesisValidatorsRoot()), NetworkName: n.Name(),
		Deadline: api.Uint64(time.Now().Add(time.Hour).Unix()),
	}
	rand.Read(p.Nonce[:])
	return p
}

// message returns the message of kind that simulated participant from
// sends to participant 1.
func (f *ceremonyFixture) message(tb testing.TB, from tss.ID, kind dkg.Kind, to tss.ID) []byte {
	tb.Helper()
	for _, m := range f.peers[from].Outbox() {
		if m.Kind == kind && (m.To == 0 || m.To == to) {
			return m.Bytes
		}
	}
	tb.Fatalf("participant %s has no %s message for %s", from, kind, to)
	return nil
}

// post sends body to the message endpoint as the client named in a
// verified certificate.
func (f *ceremonyFixture) post(client string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, adminapi.PathCeremonies+"/"+adminapi.CeremonyID(f.c.id)+"/messages", bytes.NewReader(body))
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, asPeer(r, client))
	return w
}

// asPeer gives r a verified certificate naming client.
func asPeer(r *http.Request, client string) *http.Request {
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{DNSNames: []string{client}}}}}
	return r
}

func wrap(msg []byte) []byte {
	b, _ := json.Marshal(adminapi.MessageRequest{Message: msg})
	return b
}

// persisted returns every snapshot file's bytes and the accepted count.
func (f *ceremonyFixture) persisted() (map[string][]byte, int) {
	files := map[string][]byte{}
	for _, b := range f.c.batches {
		if data, err := os.ReadFile(b.snapshotPath()); err == nil {
			files[b.snapshotPath()] = data
		}
	}
	return files, f.c.status().MessagesAccepted
}

func samePersisted(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestCeremonyMessageAttacks sends participant 1 messages a dishonest or
// confused peer could: each is refused with the status the sender needs
// (400: do not retry) and changes nothing; honest messages and their exact
// repeats are acknowledged.
func TestCeremonyMessageAttacks(t *testing.T) {
	f := newCeremonyFixture(t)
	comm2 := f.message(t, 2, dkg.KindCommitments, 1)
	comm3 := f.message(t, 3, dkg.KindCommitments, 1)
	shares2to3 := f.message(t, 2, dkg.KindShares, 3)
	other, err := dkg.New(fixturePlan(t, &f.s.env.cfg).batchConfig([32]byte{9}, 0), 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	replayed := other.Outbox()[0].Bytes
	again, err := dkg.New(f.c.plan.batchConfig(f.c.id, 0), 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	equivocation := again.Outbox()[0].Bytes
	for _, tc := range []struct {
		name   string
		client string
		body   []byte
		code   int
	}{
		{"refuses a message whose claimed sender is another participant", "signer-2", wrap(comm3), 400},
		{"refuses shares addressed to another participant", "signer-2", wrap(shares2to3), 400},
		{"refuses a message replayed from another ceremony", "signer-2", wrap(replayed), 400},
		{"refuses a truncated message", "signer-2", wrap(comm2[:40]), 400},
		{"refuses a body that is not a message request", "signer-2", []byte(`{"message":"not base64!"}`), 400},
		{"refuses unknown fields", "signer-2", []byte(`{"message":"","from":3}`), 400},
		{"accepts an honest message", "signer-2", wrap(comm2), 200},
		{"accepts its exact repeat (a retry)", "signer-2", wrap(comm2), 200},
		{"refuses a second, different message of the same kind (equivocation)", "signer-2", wrap(equivocation), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, accepted := f.persisted()
			w := f.post(tc.client, tc.body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			after, acceptedAfter := f.persisted()
			changed := !samePersisted(before, after) || acceptedAfter != accepted
			if want := tc.name == "accepts an honest message"; changed != want {
				t.Fatalf("persisted state changed: %v, want %v", changed, want)
			}
		})
	}
	if ev := f.c.status(); ev.State != adminapi.StateRunning {
		t.Fatalf("refused messages changed the ceremony: %+v", ev)
	}
}

// TestStatusWaitsForAChange: a status request that names the version it
// has seen is answered once the ceremony changed (here, a message
// accepted), and, with nothing changing, once its wait is over.
func TestStatusWaitsForAChange(t *testing.T) {
	f := newCeremonyFixture(t)
	seen := f.c.status()
	get := func(wait string) adminapi.CeremonyStatus {
		path := fmt.Sprintf("%s/%s?after=%d&wait=%s", adminapi.PathCeremonies, adminapi.CeremonyID(f.c.id), seen.Version, wait)
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, asPeer(httptest.NewRequest(http.MethodGet, path, nil), "signer-1"))
		var st adminapi.CeremonyStatus
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &st) != nil {
			t.Fatalf("status: %d %s", w.Code, w.Body)
		}
		return st
	}
	if st := get("1ms"); st.Version != seen.Version {
		t.Fatalf("nothing changed, yet version %d follows %d", st.Version, seen.Version)
	}
	answered := make(chan adminapi.CeremonyStatus, 1)
	go func() { answered <- get("1m") }()
	if w := f.post("signer-2", wrap(f.message(t, 2, dkg.KindCommitments, 1))); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if st := <-answered; st.Version <= seen.Version || st.MessagesAccepted <= seen.MessagesAccepted {
		t.Fatalf("answered %+v after %+v", st, seen)
	}
	for _, bad := range []string{"after=x", "wait=soon", "wait=-1s"} {
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, asPeer(httptest.NewRequest(http.MethodGet, adminapi.PathCeremonies+"/"+adminapi.CeremonyID(f.c.id)+"?"+bad, nil), "signer-1"))
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
}

// TestCeremonySnapshotIsSealedAndBound checks the snapshot on disk: it
// does not contain participant 1's shares in the clear, unseals only with
// its own label, and resumes to exactly the state persisted.
func TestCeremonySnapshotIsSealedAndBound(t *testing.T) {
	f := newCeremonyFixture(t)
	if w := f.post("signer-2", wrap(f.message(t, 2, dkg.KindShares, 1))); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	b := f.c.batches[0]
	blob, err := os.ReadFile(b.snapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	secret := f.message(t, 2, dkg.KindShares, 1)[54:]
	if bytes.Contains(blob, secret[:32]) {
		t.Fatal("the snapshot file holds a received share in the clear")
	}
	other := f.c.batches[1]
	if _, err := f.seal.UnsealData(context.Background(), blob, other.snapshotLabel()); err == nil {
		t.Fatal("batch 0's snapshot unseals as batch 1's")
	}
	snap, err := f.seal.UnsealData(context.Background(), blob, b.snapshotLabel())
	if err != nil {
		t.Fatal(err)
	}
	p, err := dkg.Resume(snap, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Snapshot(), snap) {
		t.Fatal("the resumed state differs from the persisted one")
	}
}

// FuzzCeremonyMessageEndpoint sends arbitrary bodies to the message
// endpoint as participant 2. The answer is always one the sender can act
// on (200, 400, 410 or 503), never a crash; a refused message changes
// nothing on disk or in the progress count; an accepted one is persisted
// exactly (the snapshot on disk resumes to the same state) and its repeat
// changes nothing.
func FuzzCeremonyMessageEndpoint(f *testing.F) {
	fx := newCeremonyFixture(f)
	for _, m := range [][]byte{
		fx.message(f, 2, dkg.KindCommitments, 1),
		fx.message(f, 2, dkg.KindShares, 1),
		fx.message(f, 3, dkg.KindCommitments, 1),
		fx.message(f, 2, dkg.KindShares, 3),
	} {
		f.Add(wrap(m))
	}
	f.Add([]byte(`{"message":""}`))
	f.Add([]byte(`{"message":"UkRLRwEB"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		before, accepted := fx.persisted()
		w := fx.post("signer-2", body)
		after, acceptedAfter := fx.persisted()
		switch w.Code {
		case 200:
		case 400, 410, 503:
			if !samePersisted(before, after) || acceptedAfter != accepted {
				t.Fatalf("refused message (%d: %s) changed the persisted state", w.Code, w.Body)
			}
			return
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if acceptedAfter == accepted {
			return // a repeat, or a message for a finished batch
		}
		for _, b := range fx.c.batches {
			blob, ok := after[b.snapshotPath()]
			if !ok || bytes.Equal(blob, before[b.snapshotPath()]) {
				continue
			}
			snap, err := fx.seal.UnsealData(context.Background(), blob, b.snapshotLabel())
			if err != nil {
				t.Fatal(err)
			}
			p, err := dkg.Resume(snap, rand.Reader)
			if err != nil || !bytes.Equal(p.Snapshot(), snap) {
				t.Fatalf("persisted snapshot does not resume to itself: %v", err)
			}
			p.Zero()
		}
		if w := fx.post("signer-2", body); w.Code != 200 {
			t.Fatalf("repeat of an accepted message: %d %s", w.Code, w.Body)
		}
		if again, n := fx.persisted(); !samePersisted(after, again) || n != acceptedAfter {
			t.Fatal("the repeat of an accepted message changed the persisted state")
		}
	})
}

func TestBatchMessagesFitTheBodyLimit(t *testing.T) {
	for n := 1; n <= dkg.MaxParticipants; n++ {
		for _, th := range []int{n/2 + 1, n} {
			v := maxBatchSize(n, th)
			if v < 1 || v > dkg.MaxValidators {
				t.Fatalf("n=%d t=%d: batch size %d", n, th, v)
			}
			if got := requestBytes(maxMessageBytes(n, th, v)); got > web.MaxBody {
				t.Fatalf("n=%d t=%d: a batch of %d needs requests of %d bytes, over %d", n, th, v, got, web.MaxBody)
			}
		}
	}
	if got := defaultBatchSize(1000, 5, 3); got != 100 {
		t.Fatalf("1000 validators in batches of %d, want 100", got)
	}
	if got := defaultBatchSize(3, 5, 3); got != 3 {
		t.Fatalf("3 validators in batches of %d, want 3", got)
	}
}

// TestPlanIDBindsEveryField changes each field of a plan in turn: each
// change gives another ceremony id, so participants given different plans
// refuse each other's messages.
func TestPlanIDBindsEveryField(t *testing.T) {
	base := &plan{
		Nonce: api.Root{1}, ClusterID: api.Root{2}, Coordinator: 1, Participants: []api.Uint64{1, 2, 3}, Threshold: 2,
		Validators: 10, BatchSize: 5, WithdrawalCredentials: api.Root{0x01, 9}, AmountGwei: 32_000_000_000,
		GenesisForkVersion: 0x10000038, GenesisValidatorsRoot: api.Root{3}, NetworkName: "test", Deadline: 1e9,
	}
	edits := map[string]func(p *plan){
		"nonce":                   func(p *plan) { p.Nonce[0] ^= 1 },
		"cluster_id":              func(p *plan) { p.ClusterID[0] ^= 1 },
		"coordinator":             func(p *plan) { p.Coordinator = 2 },
		"participants":            func(p *plan) { p.Participants = []api.Uint64{1, 2, 4} },
		"threshold":               func(p *plan) { p.Threshold = 3 },
		"validators":              func(p *plan) { p.Validators = 11 },
		"batch_size":              func(p *plan) { p.BatchSize = 4 },
		"withdrawal_credentials":  func(p *plan) { p.WithdrawalCredentials[31] ^= 1 },
		"amount_gwei":             func(p *plan) { p.AmountGwei-- },
		"genesis_fork_version":    func(p *plan) { p.GenesisForkVersion++ },
		"genesis_validators_root": func(p *plan) { p.GenesisValidatorsRoot[0] ^= 1 },
		"network_name":            func(p *plan) { p.NetworkName = "tesu" },
		"deadline":                func(p *plan) { p.Deadline++ },
	}
	seen := map[[32]byte]string{base.ID(): "base"}
	for field, edit := range edits {
		p := *base
		p.Participants = append([]api.Uint64(nil), base.Participants...)
		edit(&p)
		id := p.ID()
		if prev, dup := seen[id]; dup {
			t.Fatalf("changing %s gives the same id as %s", field, prev)
		}
		seen[id] = field
	}
	// Batches of one ceremony, and of two, never share a dkg ceremony id.
	ids := map[[32]byte]bool{}
	for _, p := range []*plan{base, {Nonce: api.Root{7}, Participants: base.Participants, Threshold: 2, Validators: 10, BatchSize: 5}} {
		for i := range p.batches() {
			cfg := p.batchConfig(p.ID(), i)
			if ids[cfg.CeremonyID()] {
				t.Fatalf("batch %d shares a dkg ceremony id", i)
			}
			ids[cfg.CeremonyID()] = true
		}
	}
}

// A shares message in flight is the sender's own copy: the queue zeroing
// its copies (a batch finishing drops its queued shares, an abort or a
// shutdown clears everything) never reaches the bytes on the wire. Seen
// before: a signer that restarted resumed a finished batch, its sender
// took the shares message while the batch dropped it, and the peer got a
// message zeroed in flight ("belongs to no batch of this ceremony"), which
// aborted the refresh.
func TestQueueZeroingNeverReachesAMessageInFlight(t *testing.T) {
	for name, zero := range map[string]func(*outQueue){
		"batch finished": (*outQueue).dropShares,
		"ceremony ended": (*outQueue).clear,
	} {
		t.Run(name, func(t *testing.T) {
			q := newOutQueue()
			msg := bytes.Repeat([]byte{0x5a}, 64)
			q.push(dkg.Message{To: 2, Kind: dkg.KindShares, Bytes: msg})
			inFlight, ok := q.head()
			if !ok {
				t.Fatal("queue empty")
			}
			zero(q)
			if !bytes.Equal(inFlight.Bytes, msg) {
				t.Fatalf("the message in flight was changed by the queue: %x", inFlight.Bytes)
			}
			if _, ok := q.head(); ok {
				t.Fatal("the shares message is still queued")
			}
			release(inFlight)
			if !bytes.Equal(inFlight.Bytes, make([]byte, 64)) {
				t.Fatal("the sender's copy of the shares was not zeroed after the attempt")
			}
		})
	}
}

// A message that arrives while the signer shuts down (its HTTP server
// finishes in-flight requests after the ceremonies zeroed their state
// machines) is refused with 503, to be sent again after the restart, and
// never acknowledged unread. Seen before: a refresh stalled ("no progress
// ... waiting for participant(s) 2, 4") because the restarted signer had
// acknowledged a peer's commitments during its shutdown without keeping
// them, and the peer never sent them again.
func TestMessageDuringShutdownIsRefusedNotLost(t *testing.T) {
	f := newCeremonyFixture(t)
	comm2 := f.message(t, 2, dkg.KindCommitments, 1)
	f.c.zero()
	before, accepted := f.persisted()
	w := f.post("signer-2", wrap(comm2))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (retry after the restart): %s", w.Code, w.Body)
	}
	after, acceptedAfter := f.persisted()
	if !samePersisted(before, after) || acceptedAfter != accepted {
		t.Fatal("a message refused during shutdown changed the persisted state")
	}
}
