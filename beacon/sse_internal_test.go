package beacon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// encodeSSE writes an event in the form sseReader reads.
func encodeSSE(w io.Writer, ev sseEvent) error {
	var b bytes.Buffer
	if ev.Name != "" {
		fmt.Fprintf(&b, "event: %s\n", ev.Name)
	}
	for _, l := range bytes.Split(ev.Data, []byte("\n")) {
		fmt.Fprintf(&b, "data: %s\n", l)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func readAll(t testing.TB, in string) ([]sseEvent, error) {
	t.Helper()
	r := newSSEReader(strings.NewReader(in))
	var out []sseEvent
	for {
		ev, err := r.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []sseEvent
	}{
		{"reads named events", "event: head\ndata: {\"a\":1}\n\nevent: chain_reorg\ndata: x\n\n",
			[]sseEvent{{"head", []byte(`{"a":1}`)}, {"chain_reorg", []byte("x")}}},
		{"joins data lines", "data: a\ndata: b\n\n", []sseEvent{{"", []byte("a\nb")}}},
		{"accepts CR and CRLF line ends", "event: head\r\ndata: 1\r\rdata: 2\n\n", []sseEvent{{"head", []byte("1")}, {"", []byte("2")}}},
		{"ignores comments, ids and unknown fields", ": keep-alive\nid: 7\nretry: 10\nfoo: bar\ndata: d\n\n", []sseEvent{{"", []byte("d")}}},
		{"strips one leading space only", "data:  two\ndata:none\n\n", []sseEvent{{"", []byte(" two\nnone")}}},
		{"drops an event without data", "event: head\n\ndata: x\n\n", []sseEvent{{"", []byte("x")}}},
		{"drops a partial event at the end", "event: head\ndata: x\n", nil},
		{"a field without a colon is a field with an empty value", "data\n\n", []sseEvent{{"", []byte{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i].Name || !bytes.Equal(got[i].Data, tc.want[i].Data) {
					t.Fatalf("event %d: got %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestSSEReaderRefusesOversizedEvents: a node cannot make the client
// buffer without bound, with one endless line or with many lines.
func TestSSEReaderRefusesOversizedEvents(t *testing.T) {
	for name, in := range map[string]string{
		"one endless line": "data: " + strings.Repeat("x", maxEventSize+1) + "\n\n",
		"many data lines":  strings.Repeat("data: "+strings.Repeat("y", 1000)+"\n", maxEventSize/1000+2) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := readAll(t, in); !errors.Is(err, errEventTooLarge) {
				t.Fatalf("got %v, want errEventTooLarge", err)
			}
		})
	}
}

// FuzzSSEReader: any stream parses without panicking, and every event it
// yields, written out again, reads back identically.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"event: head\ndata: {\"slot\":\"1\"}\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		": c\nid: 1\nevent:chain_reorg\ndata:\n\n",
		"data\rdata: x\r\r",
		"event: \x00\ndata: \xff\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Re-encoding adds a space per field; near the size limit that
		// alone could overflow it, which TestSSEReaderRefusesOversizedEvents
		// covers.
		if len(in) > maxEventSize/2 {
			t.Skip()
		}
		got, err := readAll(t, string(in))
		if err != nil && !errors.Is(err, errEventTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		var buf bytes.Buffer
		for _, ev := range got {
			if err := encodeSSE(&buf, ev); err != nil {
				t.Fatal(err)
			}
		}
		again, err := readAll(t, buf.String())
		if err != nil {
			t.Fatalf("re-encoded stream does not parse: %v", err)
		}
		norm := func(evs []sseEvent) []sseEvent {
			for i := range evs {
				if evs[i].Data == nil {
					evs[i].Data = []byte{}
				}
			}
			return evs
		}
		if !reflect.DeepEqual(norm(got), norm(again)) {
			t.Fatalf("round trip changed the events:\n%q\n%q", got, again)
		}
	})
}
