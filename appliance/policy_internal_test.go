package appliance

import (
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
)

// TestPolicyIsTheRulesAlone: a client's grants are its rule's, bounded by
// its account list for every type; "all" types excludes GENERIC, which a
// rule must name; a client without a rule (an administrator) gets nothing.
func TestPolicyIsTheRulesAlone(t *testing.T) {
	k1, k2 := api.PublicKey{1}, api.PublicKey{2}
	p := newPolicy([]Rule{
		{Client: "vc-1", Accounts: Selector{List: []string{k1.String()}}, Types: Selector{List: []string{string(signing.TypeAttestation), string(signing.TypeBlockV2)}}},
		{Client: "vc-all", Accounts: Selector{All: true}, Types: Selector{All: true}},
		{Client: "generic", Accounts: Selector{All: true}, Types: Selector{List: []string{string(signing.TypeGeneric)}}},
	})
	for _, tc := range []struct {
		client string
		key    api.PublicKey
		t      signing.Type
		want   bool
	}{
		{"vc-1", k1, signing.TypeAttestation, true},
		{"vc-1", k2, signing.TypeAttestation, false},
		{"vc-1", k2, signing.TypeGeneric, false},
		{"vc-1", k2, anyType, false},
		{"admin", k1, signing.TypeGeneric, false},
		{"admin", k1, anyType, false},
	} {
		if got := p.account(tc.client, tc.key, tc.t); got != tc.want {
			t.Errorf("%s using %x for %q: %v, want %v", tc.client, tc.key[:1], tc.t, got, tc.want)
		}
	}
	for _, tc := range []struct {
		client string
		t      signing.Type
		want   bool
	}{
		{"vc-all", signing.TypeVoluntaryExit, true},
		{"vc-all", signing.TypeGeneric, false},
		{"generic", signing.TypeGeneric, true},
		{"generic", signing.TypeAttestation, false},
		{"vc-1", signing.TypeGeneric, false},
		{"admin", signing.TypeGeneric, false},
		{"admin", signing.TypeAttestation, false},
	} {
		if got := p.requestType(tc.client, tc.t); got != tc.want {
			t.Errorf("%s asking for %s: %v, want %v", tc.client, tc.t, got, tc.want)
		}
	}
	if p.known("admin") || p.allAccounts("admin", signing.TypeGeneric) {
		t.Error("a client without a rule is granted something")
	}
}
