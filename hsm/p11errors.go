package hsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// returnCode extracts a PKCS#11 return value from err's chain.
func returnCode(err error) (uint, bool) {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

// codeName renders a return value as "CKR_PIN_INCORRECT (0xA0)".
func codeName(code uint) string {
	s := strings.TrimPrefix(pkcs11.Error(code).Error(), "pkcs11: ")
	if hexPart, name, ok := strings.Cut(s, ": "); ok && name != "" {
		return name + " (" + hexPart + ")"
	}
	return s
}

// callError turns a failed PKCS#11 call into this package's error for the
// decision the caller has to make. It keeps the return code's name for the
// operator but does not wrap the pkcs11 type, which stays an implementation
// detail. Module errors never contain PINs: PKCS#11 reports codes only.
func callError(op string, err error) error {
	code, ok := returnCode(err)
	if !ok {
		return fmt.Errorf("%w: %s: %w", ErrModule, op, err)
	}
	var sentinel error
	switch code {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		sentinel = ErrWrongPIN
	case pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		sentinel = ErrPINLocked
	case pkcs11.CKR_TOKEN_NOT_RECOGNIZED:
		sentinel = ErrTokenNotFound
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_SLOT_ID_INVALID,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID:
		// The slot was found and the session opened: the token went
		// away under it, or its login or handles did (issue 17: every
		// TLS handshake failing with CKR_OBJECT_HANDLE_INVALID).
		sentinel = ErrTokenRemoved
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID:
		sentinel = ErrMechanismUnsupported
	case pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, pkcs11.CKR_KEY_TYPE_INCONSISTENT:
		sentinel = ErrKeyAttributes
	case pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED:
		sentinel = ErrModuleInUse
	default:
		sentinel = ErrModule
	}
	return fmt.Errorf("%w: %s: %s", sentinel, op, codeName(code))
}
