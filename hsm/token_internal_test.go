package hsm

import (
	"errors"
	"testing"
	"time"
)

// TestStuckCallTimesOut stands in for a module that never answers: the
// caller gets ErrTimeout, Close reports the call still running, and the
// token is released once the call returns.
func TestStuckCallTimesOut(t *testing.T) {
	opts := DefaultOptions()
	opts.CallTimeout = 20 * time.Millisecond
	tok := &Token{uri: URI{Token: "stuck"}, opts: opts, cur: &conn{}}
	release := make(chan struct{})
	returned := make(chan struct{})
	err := tok.run(t.Context(), "a call that hangs", func(*conn) error {
		defer close(returned)
		<-release
		return nil
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("run: got %v, want ErrTimeout", err)
	}
	if err := tok.Close(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Close with a call running: got %v, want ErrTimeout", err)
	}
	if err := tok.run(t.Context(), "a call after Close", func(*conn) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("run after Close: got %v, want ErrClosed", err)
	}
	close(release)
	<-returned
}
