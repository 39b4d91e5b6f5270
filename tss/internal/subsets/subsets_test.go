package subsets_test

import (
	"fmt"
	"testing"

	"github.com/rampart-signer/rampart/tss/internal/subsets"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want string
	}{
		{3, 2, "[[0 1] [0 2] [1 2]]"},
		{3, 0, "[[]]"},
		{2, 3, "[]"},
		{4, 4, "[[0 1 2 3]]"},
	} {
		if got := fmt.Sprint(subsets.Of(tc.n, tc.k)); got != tc.want {
			t.Errorf("Of(%d, %d) = %s, want %s", tc.n, tc.k, got, tc.want)
		}
	}
	if got := len(subsets.Of(10, 7)); got != 120 {
		t.Errorf("C(10,7) = %d", got)
	}
}
