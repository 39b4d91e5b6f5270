package reshare

import (
	"testing"
)

// BenchmarkRedistribute1000 reshares 1,000 validators from 3-of-5 to
// 5-of-7 with every member in this process, one after the other: the
// computation of a whole session on one machine, without the network.
func BenchmarkRedistribute1000(b *testing.B) {
	c := newCurrent(b, 3, idsOf(1, 2, 3, 4, 5), benchValidators)
	b.ResetTimer()
	for range b.N {
		cfg := c.config(b, ModeRedistribute, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
		s := newSession(b, cfg, c)
		s.run()
		s.results()
	}
}

// BenchmarkRefresh1000 refreshes 1,000 validators' 3-of-5 shares.
func BenchmarkRefresh1000(b *testing.B) {
	c := newCurrent(b, 3, idsOf(1, 2, 3, 4, 5), benchValidators)
	b.ResetTimer()
	for range b.N {
		cfg := c.config(b, ModeRefresh, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5), 3)
		s := newSession(b, cfg, c)
		s.run()
		s.results()
	}
}

const benchValidators = 1000
