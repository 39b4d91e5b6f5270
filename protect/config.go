package protect

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Config tunes a database. Start from [DefaultConfig]; a zero Config is not
// valid.
type Config struct {
	// HistoryEpochs is how much history each key keeps with signing roots:
	// attestations whose target is at least HistoryEpochs behind the key's
	// newest target, and blocks at least HistoryEpochs*SlotsPerEpoch slots
	// behind its newest block (except its newest 16, which are always kept),
	// are folded into the low watermarks, and so are the oldest
	// attestations beyond 2*HistoryEpochs records per key. Imported
	// history is kept and folded the same way. Folding never forgets a
	// refusal; it only turns an exact repeat or a gap-filling message that
	// old into a refusal. So a key holds at most 2*HistoryEpochs
	// attestation records and 16+HistoryEpochs*SlotsPerEpoch block records
	// whatever it signed or imported; memory and file size grow linearly
	// with it (a little over 1 KiB per key at the default in steady state).
	HistoryEpochs uint64
	// SlotsPerEpoch converts HistoryEpochs to slots for block history (32 on
	// mainnet and its test networks).
	SlotsPerEpoch uint64
	// LockTimeout bounds the wait for the file lock when another process
	// holds the database; Open then fails with ErrInUse instead of hanging.
	LockTimeout time.Duration
	// CheckpointInterval is how often Run looks at the journal to decide
	// whether to fold it into per-key snapshots.
	CheckpointInterval time.Duration
	// Limit returns how far ahead of the wall clock messages and imported
	// records may be ([Limit]); it is called once per approval call and per
	// import. While it is nil, approvals and imports fail with
	// [ErrNoLimit]; opening, registering, exporting and the rest work
	// without it.
	Limit func() Limit
	// UnsafeNoSync skips fsync on commit. A power cut can then lose records
	// of messages already signed, so it exists only for benchmarks and
	// tests; never set it on a signer.
	UnsafeNoSync bool
}

// DefaultConfig returns the configuration a signer should run with.
func DefaultConfig() Config {
	return Config{
		HistoryEpochs:      16,
		SlotsPerEpoch:      32,
		LockTimeout:        time.Second,
		CheckpointInterval: 30 * time.Second,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.HistoryEpochs == 0:
		return fmt.Errorf("protect: Config.HistoryEpochs is 0; want at least 1")
	case c.SlotsPerEpoch == 0:
		return fmt.Errorf("protect: Config.SlotsPerEpoch is 0; want at least 1")
	case c.LockTimeout <= 0:
		return fmt.Errorf("protect: Config.LockTimeout is %v; want a positive duration (zero would wait for the lock forever)", c.LockTimeout)
	case c.CheckpointInterval <= 0:
		return fmt.Errorf("protect: Config.CheckpointInterval is %v; want a positive duration", c.CheckpointInterval)
	}
	return nil
}

// horizon is the pruning distance for attestations (epochs) and blocks
// (slots). The block distance saturates instead of wrapping, so an absurdly
// large HistoryEpochs means "keep everything" rather than "keep nothing".
type horizon struct {
	epochs, slots uint64
	// maxAtts caps the attestation records a key keeps, whatever their
	// age: twice the one record per epoch an honest history has within
	// the horizon, so that imported histories full of conflicting records
	// cannot grow a key without bound either.
	maxAtts int
}

func (c Config) horizon() horizon {
	hi, lo := bits.Mul64(c.HistoryEpochs, c.SlotsPerEpoch)
	if hi != 0 {
		lo = ^uint64(0)
	}
	return horizon{epochs: c.HistoryEpochs, slots: lo, maxAtts: int(min(c.HistoryEpochs, math.MaxInt32/2)) * 2}
}
