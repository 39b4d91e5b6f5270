package hsm

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Options tune how a token is used. Start from [DefaultOptions]; the zero
// value is not valid.
type Options struct {
	// CallTimeout bounds every HSM operation (and each share of a bulk
	// unseal). PKCS#11 calls cannot be interrupted, so on timeout the
	// caller gets ErrTimeout at once and the session the call holds is
	// discarded when the call finally returns.
	CallTimeout time.Duration
	// MaxSessions bounds the PKCS#11 sessions this package opens on the
	// token for sealing, and separately for TLS keys. Bulk unseal runs
	// this many workers at most.
	MaxSessions int
	// Rand supplies AES-GCM IVs, key ids and certificate serial numbers.
	Rand io.Reader
	// CredentialsDir is the systemd credentials directory that
	// pin-source=credential:NAME is read from.
	CredentialsDir string
}

// Bounds and defaults for Options.
const (
	// DefaultCallTimeout is the call timeout of DefaultOptions: long enough
	// for a network HSM under load, short enough for systemd's watchdog.
	DefaultCallTimeout = 30 * time.Second
	minCallTimeout     = time.Millisecond
	maxCallTimeout     = time.Hour
	maxSessionsLimit   = 1024
)

// DefaultOptions returns the defaults: a 30 s call timeout, twice as many
// sessions as usable CPUs (at least 4), crypto/rand, and CredentialsDir
// from $CREDENTIALS_DIRECTORY as systemd sets it for the service.
func DefaultOptions() Options {
	return Options{
		CallTimeout:    DefaultCallTimeout,
		MaxSessions:    max(4, 2*runtime.GOMAXPROCS(0)),
		Rand:           rand.Reader,
		CredentialsDir: os.Getenv("CREDENTIALS_DIRECTORY"),
	}
}

// Validate reports the first field that is out of range.
func (o Options) Validate() error {
	switch {
	case o.CallTimeout < minCallTimeout || o.CallTimeout > maxCallTimeout:
		return fmt.Errorf("%w: CallTimeout %v is outside [%v, %v]", ErrInvalidOptions, o.CallTimeout, minCallTimeout, maxCallTimeout)
	case o.MaxSessions < 2 || o.MaxSessions > maxSessionsLimit:
		return fmt.Errorf("%w: MaxSessions %d is outside [2, %d]", ErrInvalidOptions, o.MaxSessions, maxSessionsLimit)
	case o.Rand == nil:
		return fmt.Errorf("%w: Rand is nil", ErrInvalidOptions)
	}
	return nil
}
