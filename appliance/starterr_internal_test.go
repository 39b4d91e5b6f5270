package appliance

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/protect"
)

// TestStartFailuresAreClassifiedBySentinel: what a restart cannot fix
// (exit status 2) and what it can (1), decided by sentinel errors however
// they are wrapped, never by text.
func TestStartFailuresAreClassifiedBySentinel(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("hsm.sealing_key: %w", err) }
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		fix       string
	}{
		{"wrong PIN", wrap(fmt.Errorf("%w: opening token: CKR_PIN_INCORRECT (0xA0)", hsm.ErrWrongPIN)), true, "right PIN"},
		{"PIN locked", wrap(hsm.ErrPINLocked), true, "unlock"},
		{"missing PIN file", wrap(fmt.Errorf("%w: PIN file /x: %w", hsm.ErrPINSource, fs.ErrNotExist)), true, "pin-source"},
		{"token not found", wrap(hsm.ErrTokenNotFound), true, "token="},
		{"key not found", wrap(hsm.ErrKeyNotFound), true, "object="},
		{"certificate does not match", fmt.Errorf("tls.key with tls.certificate: %w", hsm.ErrCertificate), true, "tls.certificate"},
		{"shares of another cluster", &hsm.UnsealError{Total: 1}, true, "share files"},
		{"configuration", misconfigured(errors.New("slashing.database belongs to another network")), true, "check-config"},
		{"missing file", fmt.Errorf("tls.ca: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}), true, "missing"},
		{"database of another network", fmt.Errorf("slashing.database: %w", protect.ErrWrongNetwork), true, "slashing protection database"},
		{"audit chain broken", audit.ErrBroken, true, "audit log"},
		{"audit log cut off before its anchor", &audit.Error{File: "audit-1.log", Seq: 95, Err: audit.ErrTruncated}, true, "acknowledge-loss"},
		{"audit log differing from its anchor", &audit.Error{Seq: 96, Err: audit.ErrAnchor}, true, "acknowledge-loss"},
		{"audit checkpoint tag forged", fmt.Errorf("audit log /x: %w", &audit.Error{Seq: 96, Err: audit.ErrCheckpoint}), true, "acknowledge-loss"},
		{"port needs privilege", listenError{fmt.Errorf("listen.coordinator: %w", syscall.EACCES)}, true, "port"},
		{"HSM busy", wrap(fmt.Errorf("%w: C_Login: CKR_DEVICE_ERROR", hsm.ErrModule)), false, ""},
		{"HSM timeout", wrap(hsm.ErrTimeout), false, ""},
		{"database in use", fmt.Errorf("slashing.database: %w", protect.ErrInUse), false, ""},
		{"port in use", listenError{fmt.Errorf("listen.participant: %w", syscall.EADDRINUSE)}, false, ""},
		{"I/O error", fmt.Errorf("reading: %w", syscall.EIO), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := startError(tc.err)
			var se *StartError
			if !errors.As(err, &se) || se.Permanent != tc.permanent || !strings.Contains(se.Error(), tc.fix) {
				t.Fatalf("%v: permanent=%v, want %v, fix %q", err, se != nil && se.Permanent, tc.permanent, tc.fix)
			}
			if !errors.Is(err, tc.err) {
				t.Fatal("the cause is lost")
			}
		})
	}
}
