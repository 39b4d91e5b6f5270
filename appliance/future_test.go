package appliance_test

import (
	"crypto/rand"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// TestAttackFarFutureMessagesCannotStopAValidator is issue 13, item 3,
// through real signers: an ATTESTATION 150001 -> 2^64-2 was signed and
// every normal attestation after it refused as surrounded (412); a BLOCK_V2
// at slot 2^64-1 was signed too. Now both are refused with 400 by the
// coordinator and by every participant asked directly, by each signer's own
// clock (Options.Now), nothing is recorded, and the validator's normal
// attestations still sign. The bound moves with the clock, and an EIP-3076
// history with a far-future record is refused by the keymanager import,
// naming the record.
func TestAttackFarFutureMessagesCannotStopAValidator(t *testing.T) {
	clock := newFakeClock(time.Now())
	now := clock.Now
	tc := newTestClusterWithClock(t, clock, 3, 2, 1, func(c *appliance.Config) {
		c.Keymanager = &appliance.KeymanagerConfig{}
	})
	token := tc.lc.AdminToken.Hex()
	key := tc.keys[0]
	epoch, ok := tc.net.LatestEpochAt(now())
	if !ok {
		t.Fatal("test network has no genesis time")
	}
	e := uint64(epoch)
	refused := func(name string, r response, want ...string) {
		t.Helper()
		if r.code != http.StatusBadRequest || errorCode(t, r) != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.code, r.body)
			return
		}
		for _, w := range want {
			if !strings.Contains(string(r.body), w) {
				t.Errorf("%s: %s lacks %q", name, r.body, w)
			}
		}
	}

	poison := attestationRequest(tc.net, 150001, math.MaxUint64-1, 0x41)
	horizon := "the last this signer signs for now (current epoch " + u(e) + " + 1 epoch allowed ahead)"
	refused("far-future attestation at the coordinator", tc.sign(0, key, poison),
		"attestation.target.epoch 18446744073709551614 is after epoch "+u(e+1), horizon)
	for i := range tc.lc.Signers {
		r := post(t, tc.client(i, "vc-1"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), poison)
		refused("far-future attestation at participant "+u(uint64(i+1)), r, "attestation.target.epoch 18446744073709551614")
	}
	refused("far-future block", tc.sign(1, key, blockRequest(tc.net, math.MaxUint64, 0x42)),
		"beacon_block.block_header.slot 18446744073709551615 is in epoch 576460752303423487")
	refused("source after target", tc.sign(0, key, attestationRequest(tc.net, e, e-1, 0x43)),
		"attestation.source.epoch "+u(e)+" is after attestation.target.epoch "+u(e-1))

	// Nothing was recorded: the validator attests as usual, up to the
	// allowance.
	normal := attestationRequest(tc.net, e-1, e, 0x44)
	tc.checkSigned("normal attestation after the far-future ones", tc.sign(0, key, normal), key, normal)
	ahead := attestationRequest(tc.net, e, e+1, 0x45)
	tc.checkSigned("attestation one epoch ahead", tc.sign(2, key, ahead), key, ahead)
	next := attestationRequest(tc.net, e+1, e+2, 0x46)
	refused("attestation two epochs ahead", tc.sign(0, key, next), "attestation.target.epoch "+u(e+2))
	// One epoch later by the signers' clock it is one epoch ahead.
	clock.Advance(12 * 32 * time.Second)
	tc.checkSigned("the same attestation an epoch later", tc.sign(0, key, next), key, next)

	// An EIP-3076 history holding a far-future record is refused whole.
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := api.PublicKey(sk.PublicKey().Bytes())
	opts := keystore.DefaultOptions()
	opts.ScryptN = 1 << 10
	ks, err := keystore.Encrypt(rand.Reader, sk, []byte("correct horse"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ksJSON, _ := json.Marshal(ks)
	hist := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + testGVR + `"},"data":[{"pubkey":"` + pub.String() +
		`","signed_blocks":[],"signed_attestations":[{"source_epoch":"1","target_epoch":"2"},{"source_epoch":"150001","target_epoch":"18446744073709551614"}]}]}`
	r := tc.keymanager(t, 0, "admin", token, http.MethodPost, map[string]any{"keystores": []string{string(ksJSON)}, "passwords": []string{"correct horse"}, "slashing_protection": hist})
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"error"`) ||
		!strings.Contains(string(r.body), "data[0].signed_attestations[1] (validator "+pub.String()+"): target epoch 18446744073709551614 is beyond the last epoch allowed now") {
		t.Fatalf("keymanager import of a far-future history: %d %s", r.code, r.body)
	}
	if r := tc.keymanager(t, 0, "admin", token, http.MethodGet, nil); strings.Contains(string(r.body), pub.String()) {
		t.Fatalf("the refused key was imported: %s", r.body)
	}
}
