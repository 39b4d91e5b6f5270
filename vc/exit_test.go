package vc_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/vc"
)

// runningBeacon is a beacon client over the env's node, running until the
// test ends.
func (e *env) runningBeacon(t *testing.T) *beacon.Client {
	t.Helper()
	cfg := beacon.DefaultConfig()
	cfg.Network = e.net
	cfg.Nodes = []beacon.NodeConfig{{Name: "n0", URL: e.node.URL}}
	bn, err := beacon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = bn.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-bn.Ready()
	return bn
}

// TestExitIsSignedOverTheCapellaDomain: the exit of an active validator is
// signed through the cluster, over the Capella fork version from Deneb on
// (EIP-7044), and published.
func TestExitIsSignedOverTheCapellaDomain(t *testing.T) {
	e := newEnv(t, defaultEnv())
	x := &vc.Exiter{Network: e.net, Beacon: e.runningBeacon(t), Signer: e.cluster.coord}
	ctx := context.Background()
	p, err := x.Prepare(ctx, e.cluster.keys[5], 0)
	if err != nil {
		t.Fatal(err)
	}
	current := e.net.EpochAtSlot(e.slotNow())
	if p.Exit.ValidatorIndex != 5 || p.Exit.Epoch < current-1 || p.Exit.Epoch > current {
		t.Fatalf("planned exit %+v; want validator 5 at the current epoch %d", p.Exit, current)
	}
	if got := len(e.node.Submissions("/eth/v1/beacon/pool/voluntary_exits")); got != 0 {
		t.Fatalf("Prepare published %d exits", got)
	}
	signed, err := x.Exit(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	posted := e.node.Submissions("/eth/v1/beacon/pool/voluntary_exits")
	if len(posted) != 1 {
		t.Fatalf("%d exits published, want 1", len(posted))
	}
	var got phase0.SignedVoluntaryExit
	if err := json.Unmarshal(posted[0], &got); err != nil || got.Signature != signed.Signature {
		t.Fatalf("published %s (%v)", posted[0], err)
	}
	capella, _ := e.net.Fork(spec.DataVersionCapella)
	var domainType phase0.DomainType
	binary.BigEndian.PutUint32(domainType[:], 0x04000000)
	objectRoot, _ := p.Exit.HashTreeRoot()
	root := signing.ComputeSigningRoot(objectRoot, signing.ComputeDomain(domainType, capella.Version, e.net.GenesisValidatorsRoot()))
	if want := e.cluster.secrets[5].Sign(root).Bytes(); [96]byte(got.Signature) != want {
		t.Fatal("the exit's signature does not verify over the Capella domain")
	}
}

func TestExitRefusals(t *testing.T) {
	e := newEnv(t, defaultEnv())
	var exiting atomic.Bool
	e.node.Handle("POST /eth/v1/beacon/states/{state}/validators", func(w http.ResponseWriter, r *http.Request) {
		status := apiv1.ValidatorStateActiveOngoing
		if exiting.Load() {
			status = apiv1.ValidatorStateActiveExiting
		}
		beacontest.WriteData(w, []*apiv1.Validator{{Index: 2, Balance: 32e9, Status: status, Validator: &phase0.Validator{
			PublicKey: e.cluster.keys[2], WithdrawalCredentials: make([]byte, 32), EffectiveBalance: 32e9,
			ExitEpoch: network.FarFutureEpoch, WithdrawableEpoch: network.FarFutureEpoch,
		}}})
	})
	x := &vc.Exiter{Network: e.net, Beacon: e.runningBeacon(t), Signer: e.cluster.coord}
	ctx := context.Background()
	stranger := phase0.BLSPubKey{0xb0}
	if _, err := x.Prepare(ctx, stranger, 0); !errors.Is(err, vc.ErrUnknownValidator) {
		t.Errorf("a key the cluster does not hold: %v; want ErrUnknownValidator", err)
	}
	if _, err := x.Prepare(ctx, e.cluster.keys[2], e.net.EpochAtSlot(e.slotNow())+10); !errors.Is(err, vc.ErrCannotExit) {
		t.Errorf("an exit epoch in the future: %v; want ErrCannotExit", err)
	}
	exiting.Store(true)
	if _, err := x.Prepare(ctx, e.cluster.keys[2], 0); !errors.Is(err, vc.ErrCannotExit) {
		t.Errorf("a validator already exiting: %v; want ErrCannotExit", err)
	}
	if n := len(e.node.Submissions("/eth/v1/beacon/pool/voluntary_exits")); n != 0 {
		t.Errorf("%d exits published by refused requests", n)
	}
}
