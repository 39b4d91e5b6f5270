package hsm

import (
	"context"
	"fmt"

	"github.com/miekg/pkcs11"
)

// mechanismNeed is a mechanism an operation requires, with the usage flags
// and key size it must support.
type mechanismNeed struct {
	mech    uint
	flags   uint
	keySize uint // in the module's unit for the mechanism (bytes for AES, bits for EC)
	why     string
}

var (
	needAESKeyGen = mechanismNeed{pkcs11.CKM_AES_KEY_GEN, pkcs11.CKF_GENERATE, 32, "to create the AES-256 sealing key"}
	needAESGCM    = mechanismNeed{pkcs11.CKM_AES_GCM, pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT, 32, "to seal and unseal shares"}
	needECKeyGen  = mechanismNeed{pkcs11.CKM_EC_KEY_PAIR_GEN, pkcs11.CKF_GENERATE_KEY_PAIR, 256, "to create P-256 TLS keys"}
	needECDSA     = mechanismNeed{pkcs11.CKM_ECDSA, pkcs11.CKF_SIGN, 256, "to sign TLS handshakes and certificates"}
)

// checkMechanism asks the token whether it supports the need.
func (t *Token) checkMechanism(c *conn, need mechanismNeed) error {
	info, err := c.p11.GetMechanismInfo(c.slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(need.mech, nil)})
	if err != nil {
		if code, ok := returnCode(err); ok && code == pkcs11.CKR_MECHANISM_INVALID {
			return fmt.Errorf("%w: token %v lacks %s, needed %s", ErrMechanismUnsupported, &t.uri, mechanismName(need.mech), need.why)
		}
		return callError("C_GetMechanismInfo("+mechanismName(need.mech)+")", err)
	}
	if info.Flags&need.flags != need.flags {
		return fmt.Errorf("%w: token %v: %s lacks the usage flags needed %s (has 0x%x, needs 0x%x)", ErrMechanismUnsupported, &t.uri, mechanismName(need.mech), need.why, info.Flags, need.flags)
	}
	// Some modules report 0..0 when they do not state key sizes.
	if (info.MinKeySize != 0 || info.MaxKeySize != 0) && (need.keySize < info.MinKeySize || need.keySize > info.MaxKeySize) {
		return fmt.Errorf("%w: token %v: %s supports key sizes %d..%d, needs %d, %s", ErrMechanismUnsupported, &t.uri, mechanismName(need.mech), info.MinKeySize, info.MaxKeySize, need.keySize, need.why)
	}
	return nil
}

// checkMechanisms runs checkMechanism for each need under the call timeout.
func (t *Token) checkMechanisms(ctx context.Context, needs ...mechanismNeed) error {
	return t.run(ctx, "checking mechanisms", func(c *conn) error {
		for _, n := range needs {
			if err := t.checkMechanism(c, n); err != nil {
				return err
			}
		}
		return nil
	})
}
