package reshare

import "github.com/rampart-signer/rampart/tss/internal/wire"

// reader decodes big-endian fields and remembers the first error, which
// names the field that was short; its errors wrap [ErrMalformed].
type reader = wire.Reader

func newReader(b []byte) *reader { return wire.NewReader(b, ErrMalformed) }
