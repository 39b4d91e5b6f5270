package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/tss"
)

// TestShortfallSaysWhoRefusedAndWhyOnce is the regression test for a double
// proposal answered "2 of 3 required partial signatures: participant 1:
// status 412 ..." when three signers refused: the message now counts the
// refusals, gives their reason once with every participant that gave it,
// and says how many valid partials were gathered and how many were needed.
func TestShortfallSaysWhoRefusedAndWhyOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		refuse  []int
		want    []string
		wantNot []string
	}{
		{
			name: "three of five refuse, two sign", n: 5, refuse: []int{0, 1, 2},
			want: []string{
				"coordinator: no signature: 2 valid partial signatures, 3 needed",
				"3 of 5 signers refused (status 412): slashing protection (participants 1, 2, 3)",
			},
		},
		{
			name: "every signer of three refuses", n: 3, refuse: []int{0, 1, 2},
			want: []string{
				"0 valid partial signatures, 3 needed",
				"3 of 3 signers refused (status 412): slashing protection (participants 1, 2, 3)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.n, 1, testConfig())
			for _, i := range tc.refuse {
				c.fakes[i].set(refuse412)
			}
			root := [32]byte{7}
			_, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
			var short *coordinator.ShortfallError
			if !errors.As(err, &short) || short.Code() != 412 {
				t.Fatalf("got %v; want a shortfall with status 412", err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if k := strings.Count(msg, "slashing protection"); k != 1 {
				t.Errorf("the reason appears %d times in %q; want once", k, msg)
			}
		})
	}
}

func TestShortfallMessageGroupsAndOrdersReasons(t *testing.T) {
	dial := func(port int) error {
		return &url.Error{Op: "Post", URL: fmt.Sprintf("https://127.0.0.1:%d/api", port),
			Err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, Err: syscall.ECONNREFUSED}}
	}
	e := &coordinator.ShortfallError{Threshold: 3, Valid: 1, Members: 5, Failures: []coordinator.ParticipantFailure{
		{ID: 4, Err: dial(9104)},
		{ID: 2, Err: &coordinator.StatusError{Code: 412, Message: "double vote"}},
		{ID: 5, Err: dial(9105)},
		{ID: 3, Err: fmt.Errorf("calling: %w", context.DeadlineExceeded)},
	}}
	got := e.Error()
	want := "coordinator: no signature: 1 valid partial signature, 3 needed; " +
		"1 of 5 signers refused (status 412): double vote (participant 2); " +
		"2 of 5 signers failed: dial: connection refused (participants 4, 5); " +
		"1 of 5 signers failed: timed out (participant 3)"
	if got != want {
		t.Fatalf("message\n%q\nwant\n%q", got, want)
	}
}

// TestShortfallMessageIsBounded: a cluster of many participants, each
// failing for a long reason of its own, still gets a short message that
// counts what it leaves out.
func TestShortfallMessageIsBounded(t *testing.T) {
	for _, n := range []int{1, 16, 256, 4096} {
		e := &coordinator.ShortfallError{Threshold: n/2 + 1, Members: n}
		for i := 1; i <= n; i++ {
			e.Failures = append(e.Failures, coordinator.ParticipantFailure{ID: tss.ID(i),
				Err: &coordinator.StatusError{Code: 503, Message: fmt.Sprintf("reason %d: %s", i%7, strings.Repeat("é", 500))}})
		}
		msg := e.Error()
		if len(msg) > 2048 {
			t.Errorf("n=%d: message of %d bytes; want at most 2048", n, len(msg))
		}
		if n > 7 && !strings.Contains(msg, "for 3 other reasons") {
			t.Errorf("n=%d: message does not count the reasons left out: %q", n, msg[len(msg)-100:])
		}
		if !strings.HasPrefix(msg, fmt.Sprintf("coordinator: no signature: 0 valid partial signatures, %d needed", n/2+1)) {
			t.Errorf("n=%d: %q", n, msg[:80])
		}
	}
}
