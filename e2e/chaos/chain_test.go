package chaos

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// flakyNode fails its first failures reads with err, then answers.
type flakyNode struct {
	failures int
	err      error
	calls    int
}

func (f *flakyNode) Get(ctx context.Context, path string, out any) error {
	f.calls++
	if f.calls <= f.failures {
		return f.err
	}
	return nil
}

func (f *flakyNode) Post(ctx context.Context, path, body string, out any) error {
	return f.Get(ctx, path, out)
}

// A beacon node on a busy machine times out on one block: the run must
// not lose every verdict to one slow answer.
func TestBusyBeaconNodeTimingOutIsAskedAgain(t *testing.T) {
	timeout := errors.New(`Get "http://127.0.0.1:11002/eth/v2/beacon/blocks/50": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)
	for _, tc := range []struct {
		name      string
		failures  int
		err       error
		wantErr   bool
		wantCalls int
	}{
		{"two timeouts, then an answer", 2, timeout, false, 3},
		{"a 503, then an answer", 1, &HTTPError{Code: http.StatusServiceUnavailable}, false, 2},
		{"timeouts every time", 10, timeout, true, 4},
		{"an empty slot's 404 is an answer", 1, &HTTPError{Code: http.StatusNotFound}, true, 1},
		{"a 400 is an answer", 1, &HTTPError{Code: http.StatusBadRequest}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := &flakyNode{failures: tc.failures, err: tc.err}
			err := patientReader{b: node, attempts: 4}.Get(context.Background(), "/eth/v2/beacon/blocks/50", nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, tc.err) {
				t.Errorf("err = %v, does not wrap %v", err, tc.err)
			}
			if node.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", node.calls, tc.wantCalls)
			}
			if tc.err != nil && IsNotFound(tc.err) && !IsNotFound(err) {
				t.Errorf("a 404 must stay recognisable: %v", err)
			}
		})
	}
}

// A cancelled run stops asking at once.
func TestCancelledReadIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	node := &flakyNode{failures: 10, err: context.Canceled}
	if err := (patientReader{b: node, attempts: 4}).Post(ctx, "/eth/v1/beacon/rewards/attestations/3", "[]", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if node.calls != 1 {
		t.Errorf("%d calls, want 1", node.calls)
	}
}
