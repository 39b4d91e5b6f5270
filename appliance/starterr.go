package appliance

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/protect"
)

// StartError is a failure of the signer's start-up: everything Run does
// before it is ready (configuration, HSM, TLS identity, shares, slashing
// database, audit log, listeners). Permanent says that restarting cannot
// fix it, and may do harm: each start logs into the HSM once, and a wrong
// PIN tried again locks many HSMs' PIN. rampart-signer exits with status 2
// on a permanent failure (its unit's RestartPreventExitStatus) and 1
// otherwise; docs/operations.md lists the classification.
type StartError struct {
	Err error
	// Permanent: the operator must act (fix the configuration, the PIN,
	// the token, a file) before the signer is started again.
	Permanent bool
	// Fix says what to do, when the cause is known.
	Fix string
}

func (e *StartError) Error() string {
	if e.Fix == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + "; " + e.Fix
}

func (e *StartError) Unwrap() error { return e.Err }

// errMisconfigured marks start-up failures the signer itself finds in
// what the configuration names (see misconfigured).
var errMisconfigured = errors.New("misconfigured")

type misconfiguredError struct{ err error }

func (e misconfiguredError) Error() string        { return e.err.Error() }
func (e misconfiguredError) Unwrap() error        { return e.err }
func (e misconfiguredError) Is(target error) bool { return target == errMisconfigured }

// misconfigured marks err as a configuration problem (permanent), keeping
// its message.
func misconfigured(err error) error {
	if err == nil {
		return nil
	}
	return misconfiguredError{err}
}

// Fixes named in start-up errors.
const (
	fixRestart    = "the signer does not retry: fix it, then systemctl reset-failed rampart-signer && systemctl start rampart-signer"
	fixWrongPIN   = "the HSM refused the user PIN read from pin-source: put the right PIN there (one login was tried; each failed login brings the token closer to locking the PIN); " + fixRestart
	fixPINLocked  = "the token's user PIN is locked or was never set: an HSM administrator must unlock or set it with the security officer PIN (for example pkcs11-tool --login --login-type so --init-pin); " + fixRestart
	fixPINSource  = "pin-source must name an existing regular file of the service user with mode 0600 (or a systemd credential loaded with LoadCredential=); " + fixRestart
	fixToken      = "check the token attributes (token=, serial=) and module-path of the pkcs11: URI and that the HSM is connected (rampartctl hsm status --key URI); " + fixRestart
	fixKey        = "check object= in the pkcs11: URI (rampartctl hsm status --key URI shows what the token holds; rampartctl hsm init creates the sealing key); " + fixRestart
	fixTLS        = "tls.certificate must be the certificate issued by tls.ca for the key tls.key names, naming this node's tls_name (rampartctl tls csr, then tls sign on the CA host); " + fixRestart
	fixShares     = "the share files named were refused: they belong to another cluster or participant, or were altered; restore them from a backup or remove them; " + fixRestart
	fixConfig     = "fix the configuration (rampart-signer --check-config validates it); " + fixRestart
	fixFile       = "a file or directory the configuration names is missing or unreadable by the service user: create it or fix the path; " + fixRestart
	fixDatabase   = "the slashing protection database cannot be used as it is: see docs/operations.md (Back up) to restore it; " + fixRestart
	fixHardening  = "the environment refuses process hardening (see the message); run under the shipped systemd unit or set process.hardening; " + fixRestart
	fixPermission = "the service may not bind that port: use a port above 1023 or grant CAP_NET_BIND_SERVICE; " + fixRestart
	fixAudit      = "the audit log was cut, emptied, deleted or rewritten since the head anchored in the slashing protection database or vouched for by its HSM checkpoints: keep a copy of it as evidence, run rampartctl audit verify for the details, then rampartctl audit acknowledge-loss (docs/operations.md, The audit log); " + fixRestart
)

// startError classifies a start-up failure.
func startError(err error) error {
	if err == nil {
		return nil
	}
	var se *StartError
	if errors.As(err, &se) {
		return err
	}
	permanent, fix := classifyStart(err)
	return &StartError{Err: err, Permanent: permanent, Fix: fix}
}

// classifyStart decides whether a start-up failure is permanent, by the
// sentinel errors of the packages it comes from, never by its text.
func classifyStart(err error) (permanent bool, fix string) {
	var ue *hsm.UnsealError
	switch {
	// What a restart can fix: the HSM busy, failing or slow, the
	// database held by another process, a port still held by the
	// previous instance or an address not yet configured at boot.
	case hsm.Transient(err):
		return false, ""
	case errors.Is(err, protect.ErrInUse):
		return false, ""
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return false, ""

	case errors.Is(err, hsm.ErrWrongPIN):
		return true, fixWrongPIN
	case errors.Is(err, hsm.ErrPINLocked):
		return true, fixPINLocked
	case errors.Is(err, hsm.ErrPINSource):
		return true, fixPINSource
	case errors.Is(err, hsm.ErrTokenNotFound), errors.Is(err, hsm.ErrTokenAmbiguous), errors.Is(err, hsm.ErrModuleNotFound):
		return true, fixToken
	case errors.Is(err, hsm.ErrKeyNotFound), errors.Is(err, hsm.ErrKeyAmbiguous), errors.Is(err, hsm.ErrKeyAttributes), errors.Is(err, hsm.ErrMechanismUnsupported):
		return true, fixKey
	case errors.Is(err, hsm.ErrCertificate), errors.Is(err, hsm.ErrInvalidName):
		return true, fixTLS
	case errors.As(err, &ue):
		return true, fixShares
	case errors.Is(err, hsm.ErrHardening):
		return true, fixHardening
	case hsm.Permanent(err):
		return true, fixConfig
	case errors.Is(err, protect.ErrNotDatabase), errors.Is(err, protect.ErrCorrupt), errors.Is(err, protect.ErrSchemaVersion), errors.Is(err, protect.ErrWrongNetwork):
		return true, fixDatabase
	case errors.Is(err, audit.ErrBroken):
		return true, "the audit log's hash chain is broken: keep the file for investigation and move it aside; " + fixRestart
	case errors.Is(err, audit.ErrTruncated), errors.Is(err, audit.ErrAnchor), errors.Is(err, audit.ErrCheckpoint):
		return true, fixAudit
	case errors.Is(err, errMisconfigured):
		return true, fixConfig
	case errors.Is(err, syscall.EACCES) && isListenError(err):
		return true, fixPermission
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return true, fixFile
	}
	// Anything else (an I/O error, a failure not foreseen) is worth a
	// restart: the unit tries a few times, then stays failed.
	return false, ""
}

// listenError marks a failure to bind a listener.
type listenError struct{ err error }

func (e listenError) Error() string { return e.err.Error() }
func (e listenError) Unwrap() error { return e.err }

func isListenError(err error) bool {
	var le listenError
	return errors.As(err, &le)
}
