package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"golang.org/x/crypto/scrypt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// deriveKey runs the KDF over the processed password. The caller zeroes
// the 32-byte result.
func (k *Keystore) deriveKey(password []byte) ([]byte, error) {
	pw, err := normalizePassword(password)
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	switch k.KDF.Function {
	case Scrypt:
		dk, err := scrypt.Key(pw, k.salt, k.KDF.N, k.KDF.R, k.KDF.P, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: scrypt: %v", ErrUnsupported, err)
		}
		return dk, nil
	case PBKDF2:
		dk, err := pbkdf2.Key(sha256.New, string(pw), k.salt, k.KDF.C, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: pbkdf2: %v", ErrUnsupported, err)
		}
		return dk, nil
	}
	return nil, fmt.Errorf("%w: kdf %q", ErrUnsupported, k.KDF.Function)
}

// checksum is SHA-256(DK[16:32] | cipher message).
func checksum(dk []byte, ct []byte) [32]byte {
	h := sha256.New()
	h.Write(dk[16:32])
	h.Write(ct)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// ctr applies AES-128-CTR with DK[0:16].
func ctr(dk []byte, iv [16]byte, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(dk[:16])
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv[:]).XORKeyStream(out, in)
	return out, nil
}

// Decrypt derives the key from password, checks the checksum, decrypts the
// secret and checks that it is the keystore's public key's secret. The
// caller zeroes the key when done; prefer [Keystore.Split], which never
// hands the whole key out.
func (k *Keystore) Decrypt(password []byte) (*bls.SecretKey, error) {
	dk, err := k.deriveKey(password)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	sum := checksum(dk, k.cipher[:])
	if subtle.ConstantTimeCompare(sum[:], k.checksum[:]) != 1 {
		return nil, ErrWrongPassword
	}
	secret, err := ctr(dk, k.iv, k.cipher[:])
	if err != nil {
		return nil, fmt.Errorf("keystore: decrypting: %w", err)
	}
	defer clear(secret)
	sk, err := bls.SecretKeyFromBytes(secret)
	if err != nil {
		return nil, ErrInvalidSecret
	}
	if !sk.PublicKey().Equal(k.PublicKey) {
		sk.Zero()
		return nil, fmt.Errorf("%w %s", ErrPublicKeyMismatch, k.PublicKey)
	}
	return sk, nil
}

// Split decrypts the keystore, shares its key t-of-n among ids with
// [tss.Split] and zeroes the key before returning: the whole key exists
// only for the duration of the call.
func (k *Keystore) Split(rand io.Reader, password []byte, threshold int, ids []tss.ID) (*tss.Dealing, error) {
	sk, err := k.Decrypt(password)
	if err != nil {
		return nil, err
	}
	defer sk.Zero()
	return tss.Split(rand, sk, threshold, ids)
}

// Options choose how [Encrypt] protects a key.
type Options struct {
	// KDF is Scrypt or PBKDF2.
	KDF string
	// ScryptN, ScryptR and ScryptP are scrypt's costs.
	ScryptN, ScryptR, ScryptP int
	// PBKDF2Iterations is PBKDF2's iteration count.
	PBKDF2Iterations int
	// Path is the EIP-2334 derivation path, or "".
	Path string
	// Description is optional free text.
	Description string
}

// DefaultOptions returns the EIP's recommended parameters: scrypt with
// n = 2^18, r = 8, p = 1 (PBKDF2, when chosen, with 2^18 iterations).
func DefaultOptions() Options {
	return Options{KDF: Scrypt, ScryptN: 1 << 18, ScryptR: 8, ScryptP: 1, PBKDF2Iterations: 1 << 18}
}

// Encrypt writes a keystore for sk under password, with a fresh random
// salt, IV and UUID from rand. Tests may pass cheap KDF costs.
func Encrypt(rand io.Reader, sk *bls.SecretKey, password []byte, opts Options) (*Keystore, error) {
	if sk == nil {
		return nil, fmt.Errorf("%w: no secret key", ErrOptions)
	}
	k := &Keystore{PublicKey: sk.PublicKey(), Path: opts.Path, Description: opts.Description}
	switch opts.KDF {
	case Scrypt:
		k.KDF = KDF{Function: Scrypt, N: opts.ScryptN, R: opts.ScryptR, P: opts.ScryptP}
	case PBKDF2:
		k.KDF = KDF{Function: PBKDF2, C: opts.PBKDF2Iterations}
	default:
		return nil, fmt.Errorf("%w: KDF %q (want %q or %q)", ErrOptions, opts.KDF, Scrypt, PBKDF2)
	}
	if err := k.KDF.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if !pathPattern.MatchString(opts.Path) {
		return nil, fmt.Errorf("%w: Path %q is not an EIP-2334 path", ErrOptions, opts.Path)
	}
	if pw, err := normalizePassword(password); err != nil {
		return nil, err
	} else if len(pw) == 0 {
		return nil, fmt.Errorf("%w: the password is empty after normalisation", ErrOptions)
	} else {
		clear(pw)
	}
	var rnd [32 + 16 + 16]byte
	if _, err := io.ReadFull(rand, rnd[:]); err != nil {
		return nil, fmt.Errorf("keystore: reading randomness: %w", err)
	}
	k.salt = append([]byte(nil), rnd[:32]...)
	copy(k.iv[:], rnd[32:48])
	u := rnd[48:]
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	k.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	dk, err := k.deriveKey(password)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	secret := sk.Bytes()
	defer clear(secret[:])
	ct, err := ctr(dk, k.iv, secret[:])
	if err != nil {
		return nil, fmt.Errorf("keystore: encrypting: %w", err)
	}
	copy(k.cipher[:], ct)
	k.checksum = checksum(dk, k.cipher[:])
	return k, nil
}
