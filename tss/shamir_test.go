package tss_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/internal/subsets"
)

func TestCheckThreshold(t *testing.T) {
	for _, tc := range []struct {
		name string
		t, n int
		ok   bool
	}{
		{"accepts one of one", 1, 1, true},
		{"accepts two of three", 2, 3, true},
		{"accepts three of five", 3, 5, true},
		{"accepts seven of ten", 7, 10, true},
		{"accepts n of n", 4, 4, true},
		{"refuses half of an even group", 2, 4, false},
		{"refuses a minority", 2, 5, false},
		{"refuses threshold above n", 4, 3, false},
		{"refuses threshold zero", 0, 3, false},
		{"refuses negative threshold", -1, 3, false},
		{"refuses no participants", 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tss.CheckThreshold(tc.t, tc.n)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckThreshold(%d, %d) = %v", tc.t, tc.n, err)
			}
			if err != nil && !errors.Is(err, tss.ErrThreshold) {
				t.Fatalf("error %v is not ErrThreshold", err)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want tss.ID
		err  error
	}{
		{"accepts one", "1", 1, nil},
		{"accepts the largest uint64", "18446744073709551615", tss.ID(^uint64(0)), nil},
		{"refuses zero", "0", 0, tss.ErrInvalidID},
		{"refuses empty", "", 0, tss.ErrInvalidID},
		{"refuses leading zero", "01", 0, tss.ErrInvalidID},
		{"refuses sign", "+1", 0, tss.ErrInvalidID},
		{"refuses negative", "-1", 0, tss.ErrInvalidID},
		{"refuses hex", "0x1", 0, tss.ErrInvalidID},
		{"refuses space", " 1", 0, tss.ErrInvalidID},
		{"refuses overflow", "18446744073709551616", 0, tss.ErrInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tss.ParseID(tc.in)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) {
				t.Fatalf("ParseID(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
	var v struct{ ID tss.ID }
	if err := json.Unmarshal([]byte(`{"ID":"7"}`), &v); err != nil || v.ID != 7 {
		t.Fatalf("JSON decimal string: %d %v", v.ID, err)
	}
	if b, _ := json.Marshal(v); string(b) != `{"ID":"7"}` {
		t.Fatalf("JSON encoding %s", b)
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "0", "01", "18446744073709551615", "18446744073709551616", "-3", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := tss.ParseID(s)
		if err != nil {
			return
		}
		if id == 0 || id.String() != s {
			t.Fatalf("ParseID(%q) = %d, which prints as %q", s, id, id.String())
		}
	})
}

// TestEveryThresholdSubsetSignsAndNoSmallerOneDoes is the core property of
// the sharing: any t shares sign for the composite key, t-1 never do.
func TestEveryThresholdSubsetSignsAndNoSmallerOneDoes(t *testing.T) {
	for _, tc := range []struct{ t, n int }{{1, 1}, {2, 3}, {3, 5}, {4, 7}} {
		t.Run(fmt.Sprintf("%d of %d", tc.t, tc.n), func(t *testing.T) {
			d := deal(t, tc.t, tc.n)
			if err := d.Account.Validate(); err != nil {
				t.Fatalf("dealt account does not validate: %v", err)
			}
			root := [32]byte{1, 2, 3}
			ps := partials(d, root)
			for _, s := range subsets.Of(tc.n, tc.t) {
				res, err := tss.Recover(root, d.Account.Composite, tc.t, pick(ps, s))
				if err != nil {
					t.Fatalf("subset %v: %v", s, err)
				}
				if !d.Account.Composite.Verify(root, res.Signature) {
					t.Fatalf("subset %v: signature does not verify", s)
				}
				var cs []tss.Component
				for _, i := range s {
					cs = append(cs, d.Account.Components[i])
				}
				if pk, err := tss.RecoverPublicKey(cs); err != nil || !pk.Equal(d.Account.Composite) {
					t.Fatalf("subset %v: public key recovery: %v", s, err)
				}
				// Every member's component key, on the polynomial through
				// this subset's (a member whose shares are lost included).
				for _, c := range d.Account.Components {
					if pk, err := tss.PublicKeyAt(cs, c.ID); err != nil || !pk.Equal(c.PublicKey) {
						t.Fatalf("subset %v: component key of %s: %v", s, c.ID, err)
					}
				}
			}
			if tc.t == 1 {
				return
			}
			for _, s := range subsets.Of(tc.n, tc.t-1) {
				// Claiming a threshold of t-1 is the only way to even try:
				// the partials are valid, the combination is not.
				_, err := tss.Recover(root, d.Account.Composite, tc.t-1, pick(ps, s))
				if !errors.Is(err, tss.ErrInconsistentKeys) {
					t.Fatalf("subset %v of size t-1 recovered: %v", s, err)
				}
				_, err = tss.Recover(root, d.Account.Composite, tc.t, pick(ps, s))
				if !errors.Is(err, tss.ErrNotEnoughShares) {
					t.Fatalf("subset %v: %v, want ErrNotEnoughShares", s, err)
				}
				var cs []tss.Component
				for _, i := range s {
					cs = append(cs, d.Account.Components[i])
				}
				if pk, err := tss.RecoverPublicKey(cs); err == nil && pk.Equal(d.Account.Composite) {
					t.Fatalf("subset %v of size t-1 recovered the composite key", s)
				}
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sk   *bls.SecretKey
		t    int
		ids  []tss.ID
		want error
	}{
		{"refuses threshold at half", sk, 2, []tss.ID{1, 2, 3, 4}, tss.ErrThreshold},
		{"refuses threshold above n", sk, 4, []tss.ID{1, 2, 3}, tss.ErrThreshold},
		{"refuses duplicate ids", sk, 2, []tss.ID{1, 2, 2}, tss.ErrDuplicateID},
		{"refuses id zero", sk, 2, []tss.ID{0, 1, 2}, tss.ErrInvalidID},
		{"refuses no ids", sk, 1, nil, tss.ErrInvalidInput},
		{"refuses no secret", nil, 2, []tss.ID{1, 2, 3}, tss.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tss.Split(rand.Reader, tc.sk, tc.t, tc.ids)
			if !errors.Is(err, tc.want) || d != nil {
				t.Fatalf("Split = %v, %v; want %v", d, err, tc.want)
			}
		})
	}
	if _, err := tss.Split(failingReader{}, sk, 2, []tss.ID{1, 2, 3}); err == nil {
		t.Fatal("Split succeeded without randomness")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestSplitSortsIDsAndKeepsComposite(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := tss.Split(rand.Reader, sk, 3, []tss.ID{9, 2, 5, 100, 7})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Account.Composite.Equal(sk.PublicKey()) {
		t.Fatal("composite key is not the split key's public key")
	}
	if got := fmt.Sprint(d.Account.IDs()); got != "[2 5 7 9 100]" {
		t.Fatalf("ids %s, want ascending", got)
	}
	for i, s := range d.Shares {
		if s.ID() != d.Account.Components[i].ID || !s.PublicKey().Equal(d.Account.Components[i].PublicKey) {
			t.Fatalf("share %d does not match its component", i)
		}
		if pk, ok := d.Account.PublicKey(s.ID()); !ok || !pk.Equal(s.PublicKey()) {
			t.Fatalf("Account.PublicKey(%s) wrong", s.ID())
		}
	}
	if _, ok := d.Account.PublicKey(3); ok {
		t.Fatal("Account.PublicKey found a non-participant")
	}
}

// TestAccountValidateRefusesMixedAccounts is the discovery-time defence
// against combining partials of different accounts: a component key from
// another account (or a swapped one) makes the view inconsistent.
func TestAccountValidateRefusesMixedAccounts(t *testing.T) {
	a := deal(t, 3, 5)
	b := deal(t, 3, 5)
	mixed := func(mut func(*tss.Account)) tss.Account {
		acct := a.Account
		acct.Components = append([]tss.Component(nil), a.Account.Components...)
		mut(&acct)
		return acct
	}
	for _, tc := range []struct {
		name string
		acct tss.Account
		want error
	}{
		{"refuses a component of another account among the first t", mixed(func(x *tss.Account) { x.Components[1] = b.Account.Components[1] }), tss.ErrInconsistentKeys},
		{"refuses a component of another account beyond the first t", mixed(func(x *tss.Account) { x.Components[4] = b.Account.Components[4] }), tss.ErrInconsistentKeys},
		{"refuses another account's composite key", mixed(func(x *tss.Account) { x.Composite = b.Account.Composite }), tss.ErrInconsistentKeys},
		{"refuses swapped component keys", mixed(func(x *tss.Account) {
			x.Components[0].PublicKey, x.Components[1].PublicKey = x.Components[1].PublicKey, x.Components[0].PublicKey
		}), tss.ErrInconsistentKeys},
		{"accepts a threshold above the polynomial degree plus one", mixed(func(x *tss.Account) { x.Threshold = 4 }), nil},
		{"refuses a minority threshold", mixed(func(x *tss.Account) { x.Threshold = 2 }), tss.ErrThreshold},
		{"refuses duplicate ids", mixed(func(x *tss.Account) { x.Components[1].ID = 1 }), tss.ErrDuplicateID},
		{"refuses descending ids", mixed(func(x *tss.Account) { x.Components[0], x.Components[1] = x.Components[1], x.Components[0] }), tss.ErrInvalidInput},
		{"refuses id zero", mixed(func(x *tss.Account) { x.Components[0].ID = 0 }), tss.ErrInvalidID},
		{"refuses a missing key", mixed(func(x *tss.Account) { x.Components[2].PublicKey = nil }), tss.ErrInvalidInput},
		{"refuses a missing composite key", mixed(func(x *tss.Account) { x.Composite = nil }), tss.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.acct.Validate()
			if tc.want == nil {
				// A degree-2 polynomial also fits "threshold 4": every
				// point still lies on it, so the account is consistent.
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestShareRedactsAndZeroes(t *testing.T) {
	d := deal(t, 2, 3)
	s := d.Shares[0]
	b := s.Bytes()
	secretHex := fmt.Sprintf("%x", b[:])
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("share", "share", s)
	outs := []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %x %s %q", s, s, s, s, s, s), logBuf.String()}
	if _, err := json.Marshal(s); err == nil {
		t.Error("json.Marshal of a share succeeded")
	}
	for _, o := range outs {
		if strings.Contains(o, secretHex) || !strings.Contains(o, "REDACTED") {
			t.Errorf("share leaked or not redacted: %q", o)
		}
	}
	back, err := tss.ShareFromBytes(s.ID(), b[:])
	if err != nil || !back.PublicKey().Equal(s.PublicKey()) {
		t.Fatalf("share round trip: %v", err)
	}
	s.Zero()
	if z := s.Bytes(); z != [32]byte{} {
		t.Fatal("Zero left key material")
	}
	if _, err := tss.NewShare(0, nil); !errors.Is(err, tss.ErrInvalidID) {
		t.Fatalf("NewShare(0) = %v", err)
	}
	if _, err := tss.ShareFromBytes(1, make([]byte, 32)); err == nil {
		t.Fatal("zero share accepted")
	}
}
