package keystore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/rampart-signer/rampart/internal/bls"
)

// KDF names.
const (
	Scrypt = "scrypt"
	PBKDF2 = "pbkdf2"
)

// Limits on what Parse accepts.
const (
	maxInput = 64 << 10
	maxSalt  = 1024
	// maxScryptMemory bounds scrypt's memory (128·n·r bytes): 1 GiB, four
	// times the EIP's default.
	maxScryptMemory = 1 << 30
	maxScryptP      = 16
	// maxPBKDF2Iterations is 64 times the EIP's default.
	maxPBKDF2Iterations = 1 << 24
)

// KDF holds the key-derivation parameters of a keystore.
type KDF struct {
	// Function is Scrypt or PBKDF2.
	Function string
	// N, R and P are scrypt's cost parameters.
	N, R, P int
	// C is PBKDF2's iteration count.
	C int
}

// Keystore is a parsed EIP-2335 keystore. Its fields are public data; the
// secret stays encrypted until Decrypt or Split.
type Keystore struct {
	// KDF is the key derivation in use.
	KDF KDF
	// PublicKey is the keystore's pubkey: the key the secret must match.
	PublicKey *bls.PublicKey
	// Path is the EIP-2334 derivation path, or "".
	Path string
	// UUID is the keystore's RFC 4122 identifier.
	UUID string
	// Description is optional free text.
	Description string
	// Name is an optional label some tools (ethdo, Prysm) write.
	Name string

	salt     []byte
	checksum [32]byte
	iv       [16]byte
	cipher   [32]byte
}

var (
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	pathPattern = regexp.MustCompile(`^(m(/[0-9]{1,10})*)?$`)
)

// Parse decodes an EIP-2335 keystore strictly: see the package
// documentation.
func Parse(b []byte) (*Keystore, error) {
	if len(b) > maxInput {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), maxInput)
	}
	// "name" is not in EIP-2335 but ethdo and Prysm write it; it is a
	// label with no effect on the key, read and kept like description.
	top, err := object(b, "keystore", []string{"crypto", "pubkey", "path", "uuid", "version"}, []string{"description", "name"})
	if err != nil {
		return nil, err
	}
	version, err := intField(top["version"], "version")
	if err != nil {
		return nil, err
	}
	if version != 4 {
		return nil, fmt.Errorf("%w: version is %d, want 4", ErrMalformed, version)
	}
	k := &Keystore{}
	if k.Path, err = stringField(top["path"], "path"); err != nil {
		return nil, err
	}
	if !pathPattern.MatchString(k.Path) {
		return nil, fmt.Errorf("%w: path %q is not an EIP-2334 path", ErrMalformed, k.Path)
	}
	if k.UUID, err = stringField(top["uuid"], "uuid"); err != nil {
		return nil, err
	}
	if !uuidPattern.MatchString(k.UUID) {
		return nil, fmt.Errorf("%w: uuid is not an RFC 4122 UUID", ErrMalformed)
	}
	if raw, ok := top["description"]; ok {
		if k.Description, err = stringField(raw, "description"); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["name"]; ok {
		if k.Name, err = stringField(raw, "name"); err != nil {
			return nil, err
		}
	}
	pub, err := hexField(top["pubkey"], "pubkey", bls.PublicKeyLength, bls.PublicKeyLength)
	if err != nil {
		return nil, err
	}
	if k.PublicKey, err = bls.PublicKeyFromBytes(pub); err != nil {
		return nil, fmt.Errorf("%w: pubkey: %w", ErrMalformed, err)
	}
	crypto, err := object(top["crypto"], "crypto", []string{"kdf", "checksum", "cipher"}, nil)
	if err != nil {
		return nil, err
	}
	if err := k.parseKDF(crypto["kdf"]); err != nil {
		return nil, err
	}
	checksum, err := module(crypto["checksum"], "crypto.checksum", "sha256", nil)
	if err != nil {
		return nil, err
	}
	sum, err := hexField(checksum.message, "crypto.checksum.message", 32, 32)
	if err != nil {
		return nil, err
	}
	copy(k.checksum[:], sum)
	cipher, err := module(crypto["cipher"], "crypto.cipher", "aes-128-ctr", []string{"iv"})
	if err != nil {
		return nil, err
	}
	iv, err := hexField(cipher.params["iv"], "crypto.cipher.params.iv", 16, 16)
	if err != nil {
		return nil, err
	}
	copy(k.iv[:], iv)
	ct, err := hexField(cipher.message, "crypto.cipher.message", 32, 32)
	if err != nil {
		return nil, err
	}
	copy(k.cipher[:], ct)
	return k, nil
}

type parsedModule struct {
	params  map[string]json.RawMessage
	message json.RawMessage
}

// module decodes a {function, params, message} module whose function must
// be want and whose params must be exactly params.
func module(raw json.RawMessage, where, want string, params []string) (*parsedModule, error) {
	m, err := object(raw, where, []string{"function", "params", "message"}, nil)
	if err != nil {
		return nil, err
	}
	fn, err := stringField(m["function"], where+".function")
	if err != nil {
		return nil, err
	}
	if fn != want {
		return nil, fmt.Errorf("%w: %s.function %q (want %q)", ErrUnsupported, where, fn, want)
	}
	p, err := object(m["params"], where+".params", params, nil)
	if err != nil {
		return nil, err
	}
	return &parsedModule{params: p, message: m["message"]}, nil
}

func (k *Keystore) parseKDF(raw json.RawMessage) error {
	m, err := object(raw, "crypto.kdf", []string{"function", "params", "message"}, nil)
	if err != nil {
		return err
	}
	fn, err := stringField(m["function"], "crypto.kdf.function")
	if err != nil {
		return err
	}
	var p map[string]json.RawMessage
	switch fn {
	case Scrypt:
		if p, err = object(m["params"], "crypto.kdf.params", []string{"dklen", "n", "p", "r", "salt"}, nil); err != nil {
			return err
		}
		for _, f := range []struct {
			name string
			dst  *int
		}{{"n", &k.KDF.N}, {"r", &k.KDF.R}, {"p", &k.KDF.P}} {
			if *f.dst, err = intField(p[f.name], "crypto.kdf.params."+f.name); err != nil {
				return err
			}
		}
	case PBKDF2:
		if p, err = object(m["params"], "crypto.kdf.params", []string{"c", "dklen", "prf", "salt"}, nil); err != nil {
			return err
		}
		if k.KDF.C, err = intField(p["c"], "crypto.kdf.params.c"); err != nil {
			return err
		}
		prf, err := stringField(p["prf"], "crypto.kdf.params.prf")
		if err != nil {
			return err
		}
		if prf != "hmac-sha256" {
			return fmt.Errorf("%w: crypto.kdf.params.prf %q (want hmac-sha256)", ErrUnsupported, prf)
		}
	default:
		return fmt.Errorf("%w: crypto.kdf.function %q (want scrypt or pbkdf2)", ErrUnsupported, fn)
	}
	k.KDF.Function = fn
	dklen, err := intField(p["dklen"], "crypto.kdf.params.dklen")
	if err != nil {
		return err
	}
	if dklen != 32 {
		return fmt.Errorf("%w: crypto.kdf.params.dklen is %d, want 32", ErrUnsupported, dklen)
	}
	if k.salt, err = hexField(p["salt"], "crypto.kdf.params.salt", 1, maxSalt); err != nil {
		return err
	}
	if msg, err := stringField(m["message"], "crypto.kdf.message"); err != nil || msg != "" {
		return fmt.Errorf("%w: crypto.kdf.message must be the empty string", ErrMalformed)
	}
	return k.KDF.check()
}

// check bounds the KDF's cost.
func (f *KDF) check() error {
	switch f.Function {
	case Scrypt:
		if f.N < 2 || f.N&(f.N-1) != 0 {
			return fmt.Errorf("%w: scrypt n %d is not a power of two above 1", ErrUnsupported, f.N)
		}
		if f.R < 1 || f.P < 1 || f.P > maxScryptP {
			return fmt.Errorf("%w: scrypt r %d or p %d out of range (r >= 1, 1 <= p <= %d)", ErrUnsupported, f.R, f.P, maxScryptP)
		}
		if f.R > maxScryptMemory/128 || f.N > maxScryptMemory/(128*f.R) {
			return fmt.Errorf("%w: scrypt n %d, r %d need more than %d bytes of memory", ErrUnsupported, f.N, f.R, maxScryptMemory)
		}
	case PBKDF2:
		if f.C < 1 || f.C > maxPBKDF2Iterations {
			return fmt.Errorf("%w: pbkdf2 c %d out of range (1 to %d)", ErrUnsupported, f.C, maxPBKDF2Iterations)
		}
	default:
		return fmt.Errorf("%w: kdf %q", ErrUnsupported, f.Function)
	}
	return nil
}

// hexField decodes a JSON string of hex (no 0x prefix) of min..max bytes.
func hexField(raw json.RawMessage, field string, min, max int) ([]byte, error) {
	s, err := stringField(raw, field)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not hex", ErrMalformed, field)
	}
	if len(b) < min || len(b) > max {
		if min == max {
			return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrMalformed, field, len(b), min)
		}
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d to %d", ErrMalformed, field, len(b), min, max)
	}
	return b, nil
}

// The EIP's layout, in its field order, for MarshalJSON.
type (
	jsonModule struct {
		Function string `json:"function"`
		Params   any    `json:"params"`
		Message  string `json:"message"`
	}
	jsonCrypto struct {
		KDF      jsonModule `json:"kdf"`
		Checksum jsonModule `json:"checksum"`
		Cipher   jsonModule `json:"cipher"`
	}
	jsonKeystore struct {
		Crypto      jsonCrypto `json:"crypto"`
		Description string     `json:"description,omitempty"`
		Name        string     `json:"name,omitempty"`
		Pubkey      string     `json:"pubkey"`
		Path        string     `json:"path"`
		UUID        string     `json:"uuid"`
		Version     int        `json:"version"`
	}
	scryptParams struct {
		DKLen int    `json:"dklen"`
		N     int    `json:"n"`
		P     int    `json:"p"`
		R     int    `json:"r"`
		Salt  string `json:"salt"`
	}
	pbkdf2Params struct {
		DKLen int    `json:"dklen"`
		C     int    `json:"c"`
		PRF   string `json:"prf"`
		Salt  string `json:"salt"`
	}
	cipherParams struct {
		IV string `json:"iv"`
	}
)

// MarshalJSON encodes the keystore in the EIP's layout, hex in lower case.
func (k *Keystore) MarshalJSON() ([]byte, error) {
	var params any
	switch k.KDF.Function {
	case Scrypt:
		params = scryptParams{DKLen: 32, N: k.KDF.N, P: k.KDF.P, R: k.KDF.R, Salt: hex.EncodeToString(k.salt)}
	case PBKDF2:
		params = pbkdf2Params{DKLen: 32, C: k.KDF.C, PRF: "hmac-sha256", Salt: hex.EncodeToString(k.salt)}
	default:
		return nil, fmt.Errorf("%w: kdf %q", ErrUnsupported, k.KDF.Function)
	}
	if k.PublicKey == nil {
		return nil, fmt.Errorf("%w: no public key", ErrMalformed)
	}
	pub := k.PublicKey.Bytes()
	return json.MarshalIndent(jsonKeystore{
		Crypto: jsonCrypto{
			KDF:      jsonModule{Function: k.KDF.Function, Params: params},
			Checksum: jsonModule{Function: "sha256", Params: struct{}{}, Message: hex.EncodeToString(k.checksum[:])},
			Cipher:   jsonModule{Function: "aes-128-ctr", Params: cipherParams{IV: hex.EncodeToString(k.iv[:])}, Message: hex.EncodeToString(k.cipher[:])},
		},
		Description: k.Description,
		Name:        k.Name,
		Pubkey:      hex.EncodeToString(pub[:]),
		Path:        k.Path,
		UUID:        k.UUID,
		Version:     4,
	}, "", "  ")
}
