package appliance

import (
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
)

// TestAdministratorKeepsItsAccountLimits: making a client an administrator
// lets it use every account for GENERIC (import checks) and nothing more;
// its own rule's account list still bounds every other type.
func TestAdministratorKeepsItsAccountLimits(t *testing.T) {
	k1, k2 := api.PublicKey{1}, api.PublicKey{2}
	p := newPolicy([]Rule{{
		Client:   "vc-1",
		Accounts: Selector{List: []string{k1.String()}},
		Types:    Selector{List: []string{string(signing.TypeAttestation), string(signing.TypeBlockV2)}},
	}})
	p.grantGeneric("vc-1")
	p.grantGeneric("signer-2") // an administrator with no rule of its own

	for _, tc := range []struct {
		client string
		key    api.PublicKey
		t      signing.Type
		want   bool
	}{
		{"vc-1", k1, signing.TypeAttestation, true},
		{"vc-1", k2, signing.TypeAttestation, false},
		{"vc-1", k2, signing.TypeBlockV2, false},
		{"vc-1", k2, signing.TypeGeneric, true},
		{"vc-1", k2, anyType, true},
		{"signer-2", k2, signing.TypeGeneric, true},
		{"signer-2", k2, signing.TypeAttestation, false},
		{"vc-2", k1, signing.TypeGeneric, false},
	} {
		if got := p.account(tc.client, tc.key, tc.t); got != tc.want {
			t.Errorf("%s using %x for %q: %v, want %v", tc.client, tc.key[:1], tc.t, got, tc.want)
		}
	}
	if p.allAccounts("vc-1", signing.TypeAttestation) {
		t.Error("an administrator with an account list is told every account exists for ATTESTATION (404 instead of 403)")
	}
	if !p.allAccounts("vc-1", signing.TypeGeneric) {
		t.Error("an administrator may use every account for GENERIC")
	}
	if !p.requestType("vc-1", signing.TypeGeneric) || p.requestType("signer-2", signing.TypeAttestation) {
		t.Error("the GENERIC grant changed other types")
	}
}
