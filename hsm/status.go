package hsm

import (
	"context"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/internal/bls"
)

// TokenInfo describes a token as the module reports it (CK_TOKEN_INFO).
type TokenInfo struct {
	Label           string
	Manufacturer    string
	Model           string
	Serial          string
	HardwareVersion string
	FirmwareVersion string
	// Flags decoded from CK_TOKEN_INFO.
	Initialized        bool
	UserPINInitialized bool
	LoginRequired      bool
	UserPINCountLow    bool
	UserPINFinalTry    bool
	UserPINLocked      bool
}

// Check is one line of a status report.
type Check struct {
	Name   string // what was checked, e.g. "sealing key \"rampart-seal\""
	Detail string // what passing means
	Err    error  // nil when the check passed
}

// Status is the result of Token.Status.
type Status struct {
	Token  TokenInfo
	Checks []Check
}

// OK reports whether every check passed.
func (s *Status) OK() bool {
	for _, c := range s.Checks {
		if c.Err != nil {
			return false
		}
	}
	return true
}

// StatusRequest names the keys Token.Status examines; an Object with an
// empty label is skipped.
type StatusRequest struct {
	SealingKey Object
	TLSKey     Object
}

// Status reports the token's state, the mechanisms Rampart needs, and for
// each requested key its presence and attributes. The sealing key is also
// exercised: a random share is sealed and unsealed in memory (nothing is
// written to the token). Failures become failed checks; the error is only
// for the token itself being unusable.
func (t *Token) Status(ctx context.Context, req StatusRequest) (*Status, error) {
	st := &Status{}
	if err := t.run(ctx, "reading token information", func(c *conn) error {
		ti, err := c.p11.GetTokenInfo(c.slot)
		if err != nil {
			return callError("C_GetTokenInfo", err)
		}
		st.Token = tokenInfo(ti)
		return nil
	}); err != nil {
		return nil, err
	}
	ti := st.Token
	var pinErr error
	switch {
	case ti.UserPINLocked:
		pinErr = fmt.Errorf("%w: the user PIN is locked", ErrPINLocked)
	case ti.UserPINFinalTry:
		pinErr = fmt.Errorf("%w: one more wrong user PIN locks the token", ErrPINLocked)
	}
	st.add("token", "initialised, user PIN set, logged in", pinErr)
	for _, n := range []mechanismNeed{needAESGCM, needAESKeyGen, needECKeyGen, needECDSA} {
		st.add("mechanism "+mechanismName(n.mech), n.why, t.checkMechanisms(ctx, n))
	}
	if req.SealingKey.Label != "" {
		k, err := t.SealingKey(ctx, req.SealingKey)
		st.add("sealing key "+req.SealingKey.String(), "AES-256, sensitive, never extractable, AES-GCM only", err)
		if err == nil {
			st.add("seal and unseal self-test", "a random share sealed and unsealed in the HSM", k.selfTest(ctx))
		}
	}
	if req.TLSKey.Label != "" {
		_, err := t.TLSKey(ctx, req.TLSKey)
		st.add("TLS key "+req.TLSKey.String(), "ECDSA P-256, sensitive, never extractable, CKM_ECDSA only", err)
	}
	return st, nil
}

func (s *Status) add(name, detail string, err error) {
	s.Checks = append(s.Checks, Check{Name: name, Detail: detail, Err: err})
}

// selfTest seals and unseals a random throw-away share.
func (k *SealingKey) selfTest(ctx context.Context) error {
	share, err := bls.GenerateSecretKey(k.t.opts.Rand)
	if err != nil {
		return err
	}
	defer share.Zero()
	b := Binding{Participant: 1, Threshold: 1, CompositeKey: share.PublicKey()}
	blob, err := k.Seal(ctx, share, b)
	if err != nil {
		return err
	}
	back, err := k.Unseal(ctx, blob, Placement{Participant: 1})
	if err != nil {
		return err
	}
	defer back.Key.Zero()
	if !back.Key.Equal(share) {
		return fmt.Errorf("%w: the self-test share unsealed to another value", ErrModule)
	}
	return nil
}

func tokenInfo(ti pkcs11.TokenInfo) TokenInfo {
	return TokenInfo{
		Label:              ti.Label,
		Manufacturer:       ti.ManufacturerID,
		Model:              ti.Model,
		Serial:             ti.SerialNumber,
		HardwareVersion:    fmt.Sprintf("%d.%d", ti.HardwareVersion.Major, ti.HardwareVersion.Minor),
		FirmwareVersion:    fmt.Sprintf("%d.%d", ti.FirmwareVersion.Major, ti.FirmwareVersion.Minor),
		Initialized:        ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0,
		UserPINInitialized: ti.Flags&pkcs11.CKF_USER_PIN_INITIALIZED != 0,
		LoginRequired:      ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0,
		UserPINCountLow:    ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		UserPINFinalTry:    ti.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		UserPINLocked:      ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0,
	}
}

// Info returns the token's information as read when it was opened.
func (t *Token) Info() TokenInfo { return tokenInfo(t.current().info) }
