package beacon_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
)

// waitStreams waits until every node has an open event stream.
func waitStreams(t *testing.T, nodes []*beacontest.Node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for n.Streams() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("event streams never opened")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func next(t *testing.T, ch <-chan beacon.Event) beacon.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return beacon.Event{}
}

func headJSON(slot phase0.Slot, block byte) map[string]any {
	return map[string]any{
		"slot": fmt.Sprint(slot), "block": phase0.Root{block}.String(), "state": phase0.Root{0x55}.String(),
		"epoch_transition":             false,
		"current_duty_dependent_root":  phase0.Root{}.String(),
		"previous_duty_dependent_root": phase0.Root{}.String(),
	}
}

func reorgJSON(slot phase0.Slot, epoch phase0.Epoch, old, new byte) map[string]any {
	return map[string]any{
		"slot": fmt.Sprint(slot), "depth": "1", "epoch": fmt.Sprint(epoch),
		"old_head_block": phase0.Root{old}.String(), "new_head_block": phase0.Root{new}.String(),
		"old_head_state": phase0.Root{old, 1}.String(), "new_head_state": phase0.Root{new, 1}.String(),
	}
}

func TestEventsAreDeliveredOnceAcrossNodes(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	c := startClient(t, net, nodes, nil)
	events, stop := c.Subscribe(16)
	defer stop()
	waitStreams(t, nodes)
	slot := phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration())

	head := headJSON(slot, 0xaa)
	nodes[1].Emit("head", head)
	ev := next(t, events)
	if ev.Head == nil || ev.Head.Slot != slot || ev.Head.Block != (phase0.Root{0xaa}) || ev.Node != "n1" {
		t.Fatalf("event %+v", ev)
	}
	// The same head from the other node is not delivered again; the next
	// distinct event is.
	nodes[0].Emit("head", head)
	nodes[0].Emit("chain_reorg", reorgJSON(slot, net.EpochAtSlot(slot), 0xaa, 0xbb))
	ev = next(t, events)
	if ev.Reorg == nil || ev.Reorg.NewHeadBlock != (phase0.Root{0xbb}) || ev.Node != "n0" {
		t.Fatalf("event %+v, want the reorg (the repeated head must not be delivered)", ev)
	}
	if got := c.counter(t, "rampart_beacon_events_total", map[string]string{"node": "n0", "topic": "head", "result": "ok"}); got != 1 {
		t.Fatalf("n0 head events counted %v, want 1", got)
	}
}

// TestHeadIsDeliveredAgainAfterAReorg: the chain goes from A to B and back
// to A; the second head event for A is delivered (duties computed on B
// must be checked again), while repeats of one report still are not.
func TestHeadIsDeliveredAgainAfterAReorg(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	c := startClient(t, net, nodes, nil)
	events, stop := c.Subscribe(16)
	defer stop()
	waitStreams(t, nodes)
	slot := phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration())
	epoch := net.EpochAtSlot(slot)

	nodes[0].Emit("head", headJSON(slot, 0xaa))
	if ev := next(t, events); ev.Head == nil || ev.Head.Block != (phase0.Root{0xaa}) {
		t.Fatalf("event %+v, want head A", ev)
	}
	nodes[0].Emit("chain_reorg", reorgJSON(slot, epoch, 0xaa, 0xbb))
	nodes[0].Emit("head", headJSON(slot, 0xbb))
	nodes[1].Emit("chain_reorg", reorgJSON(slot, epoch, 0xaa, 0xbb)) // the same reorg, from the other node
	// The two nodes' streams are not ordered with each other: the other
	// node's copy must have been taken (and found a repeat) before the
	// chain goes back to A, or it would be news again after that (seen in
	// make test: event 3 was node 1's reorg to B).
	for deadline := time.Now().Add(10 * time.Second); c.counter(t, "rampart_beacon_events_total", map[string]string{"node": "n1", "topic": "chain_reorg", "result": "ok"}) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("node 1's reorg event was never taken")
		}
		time.Sleep(5 * time.Millisecond)
	}
	nodes[0].Emit("chain_reorg", reorgJSON(slot, epoch, 0xbb, 0xaa))
	nodes[0].Emit("head", headJSON(slot, 0xaa))
	for i, want := range []string{"reorg to B", "head B", "reorg to A", "head A"} {
		ev := next(t, events)
		var got string
		switch {
		case ev.Reorg != nil && ev.Reorg.NewHeadBlock == (phase0.Root{0xbb}):
			got = "reorg to B"
		case ev.Reorg != nil && ev.Reorg.NewHeadBlock == (phase0.Root{0xaa}):
			got = "reorg to A"
		case ev.Head != nil && ev.Head.Block == (phase0.Root{0xbb}):
			got = "head B"
		case ev.Head != nil && ev.Head.Block == (phase0.Root{0xaa}):
			got = "head A"
		}
		if got != want {
			t.Fatalf("event %d: %+v, want %s", i, ev, want)
		}
	}
}

// TestImpossibleEventsAreDropped: a node announcing a head from the future
// or a reorg whose epoch does not match its slot is counted as invalid and
// never delivered.
func TestImpossibleEventsAreDropped(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	c := startClient(t, net, nodes, nil)
	events, stop := c.Subscribe(16)
	defer stop()
	waitStreams(t, nodes)
	slot := phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration())

	future := headJSON(slot+100, 0xcc)
	nodes[0].Emit("head", future)
	noRoot := headJSON(slot, 0)
	nodes[0].Emit("head", noRoot)
	nodes[0].Emit("chain_reorg", reorgJSON(slot, net.EpochAtSlot(slot)+3, 1, 2))
	good := headJSON(slot, 0xdd)
	nodes[0].Emit("head", good)
	ev := next(t, events)
	if ev.Head == nil || ev.Head.Block != (phase0.Root{0xdd}) {
		t.Fatalf("first delivered event %+v, want the valid head", ev)
	}
	if got := c.counter(t, "rampart_beacon_events_total", map[string]string{"node": "n0", "topic": "head", "result": "invalid"}); got != 2 {
		t.Fatalf("invalid heads counted %v, want 2", got)
	}
	if got := c.counter(t, "rampart_beacon_events_total", map[string]string{"node": "n0", "topic": "chain_reorg", "result": "invalid"}); got != 1 {
		t.Fatalf("invalid reorgs counted %v, want 1", got)
	}
	if st := c.Nodes()[0]; st.HeadSlot != slot {
		t.Fatalf("head slot %d, want %d (a future head must not move it)", st.HeadSlot, slot)
	}
}

func TestSlowSubscriberDoesNotStallStreams(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	c := startClient(t, net, nodes, nil)
	slow, stopSlow := c.Subscribe(0)
	defer stopSlow()
	fast, stopFast := c.Subscribe(64)
	defer stopFast()
	waitStreams(t, nodes)
	slot := phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration())
	for i := 0; i < 5; i++ {
		h := headJSON(slot, byte(0x10+i))
		nodes[0].Emit("head", h)
	}
	for i := 0; i < 5; i++ {
		if ev := next(t, fast); ev.Head == nil || ev.Head.Block != (phase0.Root{byte(0x10 + i)}) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	select {
	case ev := <-slow:
		t.Fatalf("unbuffered subscriber that never read got %+v", ev)
	default:
	}
}
