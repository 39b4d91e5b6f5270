package signing_test

import (
	"errors"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
)

// Attack: a client granted GENERIC asks for a signature in a domain that a
// typed request exists for (a voluntary exit, a deposit with its own
// withdrawal credentials, a RANDAO reveal, a builder registration...), so
// as to get what the typed request's grant or checks would refuse.
func TestCheckGenericDomainTypeRefusesEveryTypedDomain(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    phase0.DomainType
	}{
		{"refuses the proposer domain", phase0.DomainType{0x00, 0, 0, 0}},
		{"refuses the attester domain", phase0.DomainType{0x01, 0, 0, 0}},
		{"refuses the RANDAO domain", phase0.DomainType{0x02, 0, 0, 0}},
		{"refuses the deposit domain", phase0.DomainType{0x03, 0, 0, 0}},
		{"refuses the voluntary exit domain", phase0.DomainType{0x04, 0, 0, 0}},
		{"refuses the selection proof domain", phase0.DomainType{0x05, 0, 0, 0}},
		{"refuses the aggregate-and-proof domain", phase0.DomainType{0x06, 0, 0, 0}},
		{"refuses the sync committee domain", phase0.DomainType{0x07, 0, 0, 0}},
		{"refuses the sync committee selection proof domain", phase0.DomainType{0x08, 0, 0, 0}},
		{"refuses the contribution-and-proof domain", phase0.DomainType{0x09, 0, 0, 0}},
		{"refuses the BLS-to-execution change domain", phase0.DomainType{0x0a, 0, 0, 0}},
		{"refuses the application builder domain", phase0.DomainType{0, 0, 0, 0x01}},
		{"refuses Rampart's proof of possession domain", signing.DomainRampartProof},
		{"refuses a future fork's domain of the consensus form", phase0.DomainType{0x0c, 0, 0, 0}},
		{"refuses the highest domain of the consensus form", phase0.DomainType{0xff, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := signing.CheckGenericDomainType(tc.d); !errors.Is(err, signing.ErrGenericTypedDomain) {
				t.Fatalf("%x: got %v", tc.d, err)
			}
		})
	}
}

func TestCheckGenericDomainTypeAcceptsOtherDomains(t *testing.T) {
	for _, d := range []phase0.DomainType{
		{'t', 'e', 's', 't'},
		{0x01, 0, 0, 0x01}, // not of the consensus form, not the builder's
		{0, 0, 0, 0x02},
		{0x00, 0x01, 0, 0},
	} {
		if err := signing.CheckGenericDomainType(d); err != nil {
			t.Errorf("%x: %v", d, err)
		}
	}
}

func TestDutyTypes(t *testing.T) {
	for _, typ := range signing.Types() {
		want := true
		switch typ {
		case signing.TypeDeposit, signing.TypeVoluntaryExit, signing.TypeGeneric:
			want = false
		}
		if typ.Duty() != want {
			t.Errorf("%s: Duty() = %v", typ, typ.Duty())
		}
	}
	if got := len(signing.DutyTypes()); got != len(signing.Types())-3 {
		t.Errorf("%d duty types", got)
	}
}
