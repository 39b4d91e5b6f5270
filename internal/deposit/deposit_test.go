package deposit_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/deposit"
)

// depositVector is a deposit_data file written by staking-deposit-cli
// 2.7.0 (--chain custom, genesis fork version 0x20000089) for execution
// address 0x468c15d616B52FCEf0B932BF89D42157984BE2A5, as published in a
// public devnet guide: independent evidence that the roots, the DEPOSIT
// domain and the file layout are the deposit tools' own.
const depositVector = `[{"pubkey": "98db81971df910a5d46314d21320f897060d76fdf137d22f0eb91a8693a4767d2a22730a3aaa955f07d13ad604f968e9", "withdrawal_credentials": "010000000000000000000000468c15d616b52fcef0b932bf89d42157984be2a5", "amount": 32000000000, "signature": "a20d736d6807720cb2a2f48526eb3df83162b387b806bdf7d0d08bb31d3d4e4daaf4a11120dc194b188035e9e5c9bdbf00c3be3ca68adec9c4fb2fb59d936337b750ae08a9e7add56fb82526792876066456010a64c5629b7f1f564f9923ff8e", "deposit_message_root": "2304faca7c177b307c224757df6e8a955026c613c86045ea569ba5547f8d104c", "deposit_data_root": "e6260302845906138ebe075e9977e6086f02fc1c5142590bebdf54579c806bd3", "fork_version": "20000089", "network_name": "custom", "deposit_cli_version": "2.7.0"}]`

func vectorParams(t testing.TB) deposit.Params {
	t.Helper()
	wc, err := deposit.WithdrawalCredentials("0x468c15d616B52FCEf0B932BF89D42157984BE2A5")
	if err != nil {
		t.Fatal(err)
	}
	return deposit.Params{WithdrawalCredentials: wc, AmountGwei: 32_000_000_000, GenesisForkVersion: [4]byte{0x20, 0, 0, 0x89}, NetworkName: "custom"}
}

func TestDepositDataMatchesTheDepositTools(t *testing.T) {
	p := vectorParams(t)
	entries, err := deposit.ParseFile([]byte(depositVector), p)
	if err != nil {
		t.Fatalf("the deposit tools' own file does not verify: %v", err)
	}
	if got := deposit.MarshalFile(entries); string(got) != depositVector {
		t.Fatalf("re-encoded file differs from the deposit tools' layout:\n%s\n%s", got, depositVector)
	}
	// Rebuilding the entry from its public key and signature gives the
	// same roots.
	var pub api.PublicKey
	var sig api.Signature
	hex.Decode(pub[:], []byte(entries[0].Pubkey))
	hex.Decode(sig[:], []byte(entries[0].Signature))
	d, err := deposit.New(p, pub, sig)
	if err != nil {
		t.Fatal(err)
	}
	if d != entries[0] {
		t.Fatalf("rebuilt entry %+v differs from %+v", d, entries[0])
	}
}

func TestDepositDataRefuses(t *testing.T) {
	p := vectorParams(t)
	var good []map[string]any
	if err := json.Unmarshal([]byte(depositVector), &good); err != nil {
		t.Fatal(err)
	}
	edit := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range good[0] {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal([]any{m})
		return b
	}
	other := p
	other.WithdrawalCredentials[31] ^= 1
	otherAmount := p
	otherAmount.AmountGwei = 31_000_000_000
	otherFork := p
	otherFork.GenesisForkVersion = [4]byte{}
	for _, tc := range []struct {
		name string
		file []byte
		want deposit.Params
		also error // a second error the refusal must carry
	}{
		{"refuses a signature over another message", edit("signature", strings.Replace(good[0]["signature"].(string), "a20d", "a20e", 1)), p, nil},
		{"refuses a signature at infinity by name", edit("signature", "c0"+strings.Repeat("00", 95)), p, bls.ErrInfinity},
		{"refuses a wrong deposit_message_root", edit("deposit_message_root", strings.Repeat("00", 32)), p, nil},
		{"refuses a wrong deposit_data_root", edit("deposit_data_root", strings.Repeat("00", 32)), p, nil},
		{"refuses upper-case hex", edit("pubkey", strings.ToUpper(good[0]["pubkey"].(string))), p, nil},
		{"refuses 0x-prefixed hex", edit("fork_version", "0x20000089"), p, nil},
		{"refuses a short public key", edit("pubkey", "98db"), p, nil},
		{"refuses another amount in the file", edit("amount", 31000000000), p, nil},
		{"refuses an unknown field", edit("eth2_network_name", "custom"), p, nil},
		{"refuses another network name", edit("network_name", "mainnet"), p, nil},
		{"refuses credentials other than requested (front-running)", []byte(depositVector), other, nil},
		{"refuses an amount other than requested", []byte(depositVector), otherAmount, nil},
		{"refuses a deposit for another network", []byte(depositVector), otherFork, nil},
		{"refuses the same validator twice", []byte("[" + depositVector[1:len(depositVector)-1] + ", " + depositVector[1:]), p, nil},
		{"refuses data after the list", []byte(depositVector + "[]"), p, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deposit.ParseFile(tc.file, tc.want)
			if !errors.Is(err, deposit.ErrRefused) || (tc.also != nil && !errors.Is(err, tc.also)) {
				t.Fatalf("got %v, want ErrDepositData (and %v)", err, tc.also)
			}
		})
	}
}

func TestWithdrawalCredentials(t *testing.T) {
	want := "010000000000000000000000468c15d616b52fcef0b932bf89d42157984be2a5"
	for _, tc := range []struct {
		name, address string
		ok            bool
	}{
		{"accepts a checksummed address", "0x468c15d616B52FCEf0B932BF89D42157984BE2A5", true},
		{"accepts an all lower-case address", "0x468c15d616b52fcef0b932bf89d42157984be2a5", true},
		{"refuses a wrong checksum", "0x468c15d616B52FCEf0B932BF89D42157984BE2a5", false},
		{"refuses a missing 0x", "468c15d616b52fcef0b932bf89d42157984be2a5", false},
		{"refuses a short address", "0x468c15d616b52fcef0b932bf89d42157984be2", false},
		{"refuses non-hex", "0x468c15d616b52fcef0b932bf89d42157984be2zz", false},
		{"refuses the zero address (burnt withdrawals)", "0x0000000000000000000000000000000000000000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wc, err := deposit.WithdrawalCredentials(tc.address)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if tc.ok && hex.EncodeToString(wc[:]) != want {
				t.Fatalf("credentials %x", wc)
			}
		})
	}
}

func TestNewDepositDataRefusesAnotherKeysSignature(t *testing.T) {
	p := vectorParams(t)
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	other, _ := bls.GenerateSecretKey(rand.Reader)
	pub := api.PublicKey(sk.PublicKey().Bytes())
	if _, err := deposit.New(p, pub, other.Sign([32]byte{1}).Bytes()); !errors.Is(err, deposit.ErrRefused) {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseDepositFile: the parser never panics, refuses with
// ErrDepositData, and whatever it accepts re-encodes to a file it accepts
// again with the same entries.
func FuzzParseDepositFile(f *testing.F) {
	p := vectorParams(f)
	f.Add([]byte(depositVector))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{}]`))
	f.Add([]byte(strings.Replace(depositVector, "2.7.0", "2.8.0", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := deposit.ParseFile(b, p)
		if err != nil {
			if !errors.Is(err, deposit.ErrRefused) {
				t.Fatalf("error %v is not ErrDepositData", err)
			}
			return
		}
		again, err := deposit.ParseFile(deposit.MarshalFile(entries), p)
		if err != nil || len(again) != len(entries) {
			t.Fatalf("re-encoded file refused: %v", err)
		}
		for i := range again {
			if again[i] != entries[i] {
				t.Fatal("round trip changed an entry")
			}
		}
	})
}
