package devnet

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/tss/keystore"
)

// writeKeystores writes one EIP-2335 keystore per interop validator,
// keystore-NNNN.json in validator-index order, and the password beside them.
// The scrypt cost is c.ScryptN (cheap by default, see [Config]); r and p are
// the EIP's 8 and 1.
func writeKeystores(c Config, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	opts := keystore.Options{
		KDF:     keystore.Scrypt,
		ScryptN: c.ScryptN, ScryptR: 8, ScryptP: 1,
	}
	for i := 0; i < c.Validators; i++ {
		sk, err := InteropKey(uint64(i))
		if err != nil {
			return err
		}
		opts.Description = fmt.Sprintf("rampart devnet interop validator %d (public test key)", i)
		ks, err := keystore.Encrypt(rand.Reader, sk, []byte(c.KeystorePassword), opts)
		sk.Zero()
		if err != nil {
			return fmt.Errorf("keystore %d: %w", i, err)
		}
		data, err := json.MarshalIndent(ks, "", "  ")
		if err != nil {
			return fmt.Errorf("keystore %d: %w", i, err)
		}
		if err := os.WriteFile(filepath.Join(dir, KeystoreName(i)), data, 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, passwordFile), []byte(c.KeystorePassword+"\n"), 0o600)
}

// KeystoreName is the file name of interop validator i's keystore.
func KeystoreName(i int) string { return fmt.Sprintf("keystore-%04d.json", i) }

// passwordFile holds the keystores' password, beside them.
const passwordFile = "password.txt"
