package chaos

import (
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

func TestBaseToxicsSplitTheRoundTrip(t *testing.T) {
	top := DefaultTopology()
	for _, tc := range []struct {
		client, service string
		up, down, jit   int64
	}{
		{"va", "signer-1", 1, 0, 0},   // 1 ms within a site
		{"va", "signer-3", 10, 10, 1}, // a-b: 20 ms
		{"s5", "signer-1", 23, 22, 2}, // a-c: 45 ms
		{"vb", "signer-5", 40, 40, 4}, // b-c: 80 ms
	} {
		l := Link{Client: tc.client, Service: top.Service(tc.service)}
		ts, err := baseToxics(top, l)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Toxic{}
		for _, x := range ts {
			got[x.Name] = x
		}
		if got["latency-upstream"].Attributes["latency"] != tc.up || got["latency-downstream"].Attributes["latency"] != tc.down {
			t.Errorf("%s: latency %v up, %v down; want %d and %d", l.Name(), got["latency-upstream"].Attributes["latency"], got["latency-downstream"].Attributes["latency"], tc.up, tc.down)
		}
		if got["latency-upstream"].Attributes["jitter"] != tc.up*10/100 {
			t.Errorf("%s: jitter %v, want %d", l.Name(), got["latency-upstream"].Attributes["jitter"], tc.jit)
		}
		loss := got["loss-downstream"]
		if loss.Type != lossToxicName || loss.Attributes["probability"] != 0.001 || loss.Attributes["delay"] != 200+tc.up+tc.down {
			t.Errorf("%s: loss toxic %+v, want 0.1%% held back 200 ms plus the round trip", l.Name(), loss)
		}
	}
}

// pipe runs a toxic on a stub and returns its ends.
// The input is unbuffered: a send returns once the toxic holds the chunk.
func pipe(tx toxics.Toxic) (chan *stream.StreamChunk, chan *stream.StreamChunk, *toxics.ToxicStub, chan struct{}) {
	in, out := make(chan *stream.StreamChunk), make(chan *stream.StreamChunk, 4)
	stub := toxics.NewToxicStub(in, out)
	done := make(chan struct{})
	go func() {
		tx.Pipe(stub)
		close(done)
	}()
	return in, out, stub, done
}

func TestLossToxicPassesChunksInOrderWhenNothingIsLost(t *testing.T) {
	in, out, _, done := pipe(&LossToxic{Probability: 0, Delay: 3_600_000})
	for i := 0; i < 3; i++ {
		in <- &stream.StreamChunk{Data: []byte{byte(i)}, Timestamp: time.Now()}
		if c := <-out; c.Data[0] != byte(i) {
			t.Fatalf("chunk %d came out as %d", i, c.Data[0])
		}
	}
	close(in)
	<-done
	if _, open := <-out; open {
		t.Error("the output stayed open after the input closed")
	}
}

func TestLossToxicHoldsALostChunkAndDropsNothingWhenInterrupted(t *testing.T) {
	// Certain loss with an hour's retransmission: the chunk is held until
	// the toxic is interrupted (removed or replaced), then handed on.
	in, out, stub, done := pipe(&LossToxic{Probability: 1, Delay: 3_600_000})
	in <- &stream.StreamChunk{Data: []byte("held"), Timestamp: time.Now()}
	stub.Interrupt <- struct{}{}
	<-done
	select {
	case c := <-out:
		if string(c.Data) != "held" {
			t.Fatalf("got %q", c.Data)
		}
	default:
		t.Fatal("the held chunk was dropped when the toxic was interrupted")
	}
}
