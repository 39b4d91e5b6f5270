// Package deposit is a validator's deposit data: the parameters every
// deposit of a key-generation ceremony commits to (0x01 withdrawal
// credentials, amount, genesis fork version, network), the DEPOSIT
// signing request and root, and the deposit_data-<time>.json file of the
// staking-deposit-cli, written byte for byte as the deposit tools write it
// and verified completely when read (every root recomputed, every
// signature checked under its validator's key).
//
// # Security
//
// Deposit data sends 32 ETH to a withdrawal address: every entry is
// verified against the parameters the operator asked for, never against
// what the file says about itself, and a signature at infinity is refused
// by name. The package holds no secret.
package deposit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"golang.org/x/crypto/sha3"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Deposit data in the format of the staking-deposit-cli's
// deposit_data-<time>.json, which the staking launchpad and the deposit
// tools read: a JSON list with one object per validator, byte strings in
// lower-case hex without 0x, the amount in Gwei as a number.

// CLIVersion is the staking-deposit-cli release whose deposit data
// format Rampart writes; the launchpad checks the field.
const CLIVersion = "2.7.0"

// Deposit amounts in Gwei that the deposit tools accept for 0x01
// withdrawal credentials.
const (
	MinGwei = 1_000_000_000
	MaxGwei = 32_000_000_000
)

// ErrRefused is returned for deposit data that does not verify: a
// malformed field, a signature that is not the validator's over the
// DEPOSIT signing root, a root that is not the one recomputed, or values
// other than those the ceremony was asked for.
var ErrRefused = errors.New("deposit data refused")

// Params is what every deposit of a ceremony commits to.
type Params struct {
	// WithdrawalCredentials are 0x01 credentials: 0x01, 11 zero bytes and
	// the execution address that receives withdrawals.
	WithdrawalCredentials [32]byte
	// AmountGwei is the deposit of each validator.
	AmountGwei uint64
	// GenesisForkVersion selects the network of the DEPOSIT domain.
	GenesisForkVersion [4]byte
	// NetworkName is written into the file for the launchpad.
	NetworkName string
}

// Validate names the first parameter that is wrong.
func (p Params) Validate() error {
	wc := p.WithdrawalCredentials
	if wc[0] != 0x01 || !bytes.Equal(wc[1:12], make([]byte, 11)) {
		return fmt.Errorf("withdrawal_credentials: %#x are not 0x01 execution-address credentials (0x01, 11 zero bytes, the address)", wc[:])
	}
	if bytes.Equal(wc[12:], make([]byte, 20)) {
		return errors.New("withdrawal_credentials: the withdrawal address is zero; withdrawals would be burnt")
	}
	if p.AmountGwei < MinGwei || p.AmountGwei > MaxGwei {
		return fmt.Errorf("amount: %d Gwei is not between %d and %d", p.AmountGwei, uint64(MinGwei), uint64(MaxGwei))
	}
	if p.NetworkName == "" {
		return errors.New("network_name: empty")
	}
	return nil
}

// WithdrawalCredentials returns the 0x01 credentials of an execution
// address given as 0x and 40 hex digits. A mixed-case address must carry a
// valid EIP-55 checksum, which catches typing mistakes; an address in one
// case carries none.
func WithdrawalCredentials(address string) ([32]byte, error) {
	var wc [32]byte
	hexPart, ok := strings.CutPrefix(address, "0x")
	if !ok || len(hexPart) != 40 {
		return wc, fmt.Errorf("withdrawal address %q: want 0x and 40 hex digits", address)
	}
	raw, err := hex.DecodeString(hexPart)
	if err != nil {
		return wc, fmt.Errorf("withdrawal address %q: not hexadecimal", address)
	}
	if hexPart != strings.ToLower(hexPart) && hexPart != strings.ToUpper(hexPart) && checksumAddress(raw) != "0x"+hexPart {
		return wc, fmt.Errorf("withdrawal address %q: wrong EIP-55 checksum (mixed case); expected %s", address, checksumAddress(raw))
	}
	wc[0] = 0x01
	copy(wc[12:], raw)
	if bytes.Equal(raw, make([]byte, 20)) {
		return wc, fmt.Errorf("withdrawal address %q is zero; withdrawals would be burnt", address)
	}
	return wc, nil
}

// checksumAddress writes an address with its EIP-55 checksum: a letter is
// upper case where the matching nibble of Keccak-256(lower-case hex) is 8
// or more.
func checksumAddress(addr []byte) string {
	lower := hex.EncodeToString(addr)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// Data is one validator's entry of deposit_data-<time>.json.
type Data struct {
	Pubkey                string `json:"pubkey"`
	WithdrawalCredentials string `json:"withdrawal_credentials"`
	Amount                uint64 `json:"amount"`
	Signature             string `json:"signature"`
	DepositMessageRoot    string `json:"deposit_message_root"`
	DepositDataRoot       string `json:"deposit_data_root"`
	ForkVersion           string `json:"fork_version"`
	NetworkName           string `json:"network_name"`
	CLIVersion            string `json:"deposit_cli_version"`
}

// RequestBody is the DEPOSIT signing request (Remote Signing API
// JSON) of pubkey.
func (p Params) RequestBody(pubkey api.PublicKey) ([]byte, error) {
	return json.Marshal(map[string]any{"type": signing.TypeDeposit, "deposit": map[string]string{
		"pubkey":                 pubkey.String(),
		"withdrawal_credentials": "0x" + hex.EncodeToString(p.WithdrawalCredentials[:]),
		"amount":                 strconv.FormatUint(p.AmountGwei, 10),
		"genesis_fork_version":   "0x" + hex.EncodeToString(p.GenesisForkVersion[:]),
	}})
}

// SigningRoot is the root a deposit signature signs: the DepositMessage
// root under the DEPOSIT domain of the genesis fork version (and a zero
// genesis validators root, since deposits precede genesis).
func SigningRoot(p Params, pubkey api.PublicKey) (phase0.Root, error) {
	msg := &phase0.DepositMessage{PublicKey: phase0.BLSPubKey(pubkey), WithdrawalCredentials: p.WithdrawalCredentials[:], Amount: phase0.Gwei(p.AmountGwei)}
	objectRoot, err := msg.HashTreeRoot()
	if err != nil {
		return phase0.Root{}, err
	}
	domain := signing.ComputeDomain(phase0.DomainType{0x03, 0, 0, 0}, phase0.Version(p.GenesisForkVersion), phase0.Root{})
	return signing.ComputeSigningRoot(objectRoot, domain), nil
}

// New builds and verifies one entry.
func New(p Params, pubkey api.PublicKey, sig api.Signature) (Data, error) {
	msg := &phase0.DepositMessage{PublicKey: phase0.BLSPubKey(pubkey), WithdrawalCredentials: p.WithdrawalCredentials[:], Amount: phase0.Gwei(p.AmountGwei)}
	msgRoot, err := msg.HashTreeRoot()
	if err != nil {
		return Data{}, err
	}
	data := &phase0.DepositData{PublicKey: msg.PublicKey, WithdrawalCredentials: msg.WithdrawalCredentials, Amount: msg.Amount, Signature: phase0.BLSSignature(sig)}
	dataRoot, err := data.HashTreeRoot()
	if err != nil {
		return Data{}, err
	}
	d := Data{
		Pubkey:                hex.EncodeToString(pubkey[:]),
		WithdrawalCredentials: hex.EncodeToString(p.WithdrawalCredentials[:]),
		Amount:                p.AmountGwei,
		Signature:             hex.EncodeToString(sig[:]),
		DepositMessageRoot:    hex.EncodeToString(msgRoot[:]),
		DepositDataRoot:       hex.EncodeToString(dataRoot[:]),
		ForkVersion:           hex.EncodeToString(p.GenesisForkVersion[:]),
		NetworkName:           p.NetworkName,
		CLIVersion:            CLIVersion,
	}
	if err := d.Verify(p); err != nil {
		return Data{}, err
	}
	return d, nil
}

// Verify checks one entry completely against the deposit the ceremony was
// asked for: every field decodes strictly, the public key and signature
// are valid points, the signature verifies under the public key over the
// DEPOSIT signing root, both roots equal the ones recomputed here, and the
// credentials, amount, fork version and network are the expected ones.
func (d *Data) Verify(want Params) error {
	pk, root, s, err := d.check(want)
	if err != nil {
		return err
	}
	if !pk.Verify(root, s) {
		return fmt.Errorf("%w: the signature of %s does not verify over its DEPOSIT signing root", ErrRefused, d.Pubkey)
	}
	return nil
}

// check is Verify but for the signature check itself: it returns the key,
// the DEPOSIT signing root and the signature to verify.
func (d *Data) check(want Params) (*bls.PublicKey, [32]byte, *bls.Signature, error) {
	fail := func(err error) (*bls.PublicKey, [32]byte, *bls.Signature, error) { return nil, [32]byte{}, nil, err }
	var pub [48]byte
	var wc, msgRoot, dataRoot [32]byte
	var sig [96]byte
	var fork [4]byte
	for _, f := range []struct {
		name, value string
		dst         []byte
	}{
		{"pubkey", d.Pubkey, pub[:]},
		{"withdrawal_credentials", d.WithdrawalCredentials, wc[:]},
		{"signature", d.Signature, sig[:]},
		{"deposit_message_root", d.DepositMessageRoot, msgRoot[:]},
		{"deposit_data_root", d.DepositDataRoot, dataRoot[:]},
		{"fork_version", d.ForkVersion, fork[:]},
	} {
		if err := LowerHex(f.value, f.dst); err != nil {
			return fail(fmt.Errorf("%w: %s: %v", ErrRefused, f.name, err))
		}
	}
	switch {
	case wc != want.WithdrawalCredentials:
		return fail(fmt.Errorf("%w: withdrawal_credentials %s, the ceremony asked for %x", ErrRefused, d.WithdrawalCredentials, want.WithdrawalCredentials[:]))
	case d.Amount != want.AmountGwei:
		return fail(fmt.Errorf("%w: amount %d, the ceremony asked for %d", ErrRefused, d.Amount, want.AmountGwei))
	case fork != want.GenesisForkVersion:
		return fail(fmt.Errorf("%w: fork_version %s, the network's genesis fork version is %x", ErrRefused, d.ForkVersion, want.GenesisForkVersion[:]))
	case d.NetworkName != want.NetworkName:
		return fail(fmt.Errorf("%w: network_name %q, want %q", ErrRefused, d.NetworkName, want.NetworkName))
	case d.CLIVersion != CLIVersion:
		return fail(fmt.Errorf("%w: deposit_cli_version %q, want %q", ErrRefused, d.CLIVersion, CLIVersion))
	}
	pk, err := bls.PublicKeyFromBytes(pub[:])
	if err != nil {
		return fail(fmt.Errorf("%w: pubkey: %v", ErrRefused, err))
	}
	s, err := bls.SignatureFromBytes(sig[:])
	if err != nil {
		return fail(fmt.Errorf("%w: signature of %s: %v", ErrRefused, d.Pubkey, err))
	}
	// Policy: a deposit signature at infinity decodes (the BLS layer follows
	// the specification) but verifies under no key and no honest ceremony
	// produces one: refuse it by name before any root is compared.
	if s.IsInfinity() {
		return fail(fmt.Errorf("%w: signature of %s: %w", ErrRefused, d.Pubkey, bls.ErrInfinity))
	}
	msg := &phase0.DepositMessage{PublicKey: phase0.BLSPubKey(pub), WithdrawalCredentials: wc[:], Amount: phase0.Gwei(d.Amount)}
	gotMsgRoot, err := msg.HashTreeRoot()
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRefused, err))
	}
	if gotMsgRoot != msgRoot {
		return fail(fmt.Errorf("%w: deposit_message_root of %s is %s, recomputed %x", ErrRefused, d.Pubkey, d.DepositMessageRoot, gotMsgRoot))
	}
	data := &phase0.DepositData{PublicKey: msg.PublicKey, WithdrawalCredentials: wc[:], Amount: msg.Amount, Signature: phase0.BLSSignature(sig)}
	gotDataRoot, err := data.HashTreeRoot()
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRefused, err))
	}
	if gotDataRoot != dataRoot {
		return fail(fmt.Errorf("%w: deposit_data_root of %s is %s, recomputed %x", ErrRefused, d.Pubkey, d.DepositDataRoot, gotDataRoot))
	}
	root, err := SigningRoot(want, api.PublicKey(pub))
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRefused, err))
	}
	return pk, root, s, nil
}

// LowerHex decodes lower-case hex without 0x of exactly len(dst) bytes:
// the deposit tools' encoding, which ceremony transcripts share.
func LowerHex(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%d hex digits, want %d", len(s), 2*len(dst))
	}
	if s != strings.ToLower(s) {
		return errors.New("not lower-case hex")
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}

// MarshalFile encodes entries exactly as the staking-deposit-cli
// writes deposit_data-<time>.json (Python's json.dump: one line, ", " and
// ": " separators, fields in the deposit tools' order, no final newline).
func MarshalFile(entries []Data) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range entries {
		if i > 0 {
			b.WriteString(", ")
		}
		fields := []struct{ k, v string }{
			{"pubkey", strconv.Quote(d.Pubkey)},
			{"withdrawal_credentials", strconv.Quote(d.WithdrawalCredentials)},
			{"amount", strconv.FormatUint(d.Amount, 10)},
			{"signature", strconv.Quote(d.Signature)},
			{"deposit_message_root", strconv.Quote(d.DepositMessageRoot)},
			{"deposit_data_root", strconv.Quote(d.DepositDataRoot)},
			{"fork_version", strconv.Quote(d.ForkVersion)},
			{"network_name", strconv.Quote(d.NetworkName)},
			{"deposit_cli_version", strconv.Quote(d.CLIVersion)},
		}
		b.WriteByte('{')
		for j, f := range fields {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: %s", f.k, f.v)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// ParseFile decodes a deposit data file strictly (no unknown
// field, nothing after the list) and verifies every entry against want.
func ParseFile(data []byte, want Params) ([]Data, error) {
	var out []Data
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the list", ErrRefused)
	}
	seen := map[string]int{}
	keys := make([]*bls.PublicKey, len(out))
	roots := make([][32]byte, len(out))
	sigs := make([]*bls.Signature, len(out))
	for i := range out {
		var err error
		if keys[i], roots[i], sigs[i], err = out[i].check(want); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if j, dup := seen[out[i].Pubkey]; dup {
			return nil, fmt.Errorf("%w: entries %d and %d are for the same validator %s", ErrRefused, j, i, out[i].Pubkey)
		}
		seen[out[i].Pubkey] = i
	}
	// Every signature in one multi-pairing; only if that fails are they
	// checked one by one, to name the first bad entry.
	if len(out) > 0 && !bls.BatchVerify(keys, roots, sigs) {
		for i := range out {
			if !keys[i].Verify(roots[i], sigs[i]) {
				return nil, fmt.Errorf("entry %d: %w: the signature of %s does not verify over its DEPOSIT signing root", i, ErrRefused, out[i].Pubkey)
			}
		}
		return nil, fmt.Errorf("%w: the signatures do not verify together", ErrRefused)
	}
	return out, nil
}
