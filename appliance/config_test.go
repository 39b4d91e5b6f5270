package appliance_test

import (
	"os"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
)

func TestExampleConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := appliance.Parse(data)
	if err != nil {
		t.Fatalf("signer.example.yaml: %v", err)
	}
	if cfg.Node.ID != 1 || len(cfg.Cluster.Participants) != 3 || cfg.Self().TLSName != "signer-1.example.internal" {
		t.Fatalf("unexpected example: %+v", cfg)
	}
	if cfg.Slashing.FutureEpochs != 1 || appliance.Defaults().Slashing.FutureEpochs != 1 {
		t.Fatalf("slashing.future_epochs: example %d, default %d, want 1", cfg.Slashing.FutureEpochs, appliance.Defaults().Slashing.FutureEpochs)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		from, to  string
		wantField string
	}{
		{"refuses unknown field", "data_dir:", "dta_dir: x\ndata_dir:", "dta_dir"},
		{"refuses zero node id", "  id: 1\n\nnetwork", "  id: 0\n\nnetwork", "node.id"},
		{"refuses unknown network", "name: mainnet", "name: nonet", "network.name"},
		{"refuses plain-HTTP endpoint", "endpoint: https://signer-2.example.internal:9100", "endpoint: http://signer-2.example.internal:9100", "cluster.participants[1].endpoint"},
		{"refuses duplicate participant id", "    - id: 3\n", "    - id: 2\n", "cluster.participants"},
		{"refuses node absent from participants", "  id: 1\n\nnetwork", "  id: 7\n\nnetwork", "cluster.participants"},
		{"refuses PIN in the URI", "pin-source=credential:hsm-pin\"\n  # Upper", "pin-value=1234\"\n  # Upper", "hsm.sealing_key"},
		{"refuses non-loopback plain listener", `coordinator_insecure_loopback: ""`, `coordinator_insecure_loopback: "0.0.0.0:9001"`, "listen.coordinator_insecure_loopback"},
		{"refuses unknown request type", "types: [AGGREGATION_SLOT,", "types: [SIGN_ANYTHING,", "authorization[0].types[0]"},
		{"refuses malformed account key", "  - client: signer-3.example.internal\n    accounts: all", "  - client: signer-3.example.internal\n    accounts: [0x1234]", "authorization[1].accounts[0]"},
		{"refuses duplicate client rule", "client: signer-3.example.internal", "client: signer-2.example.internal", "authorization[1].client"},
		{"refuses relative data dir", "data_dir: /var/lib/rampart-signer", "data_dir: var/lib", "data_dir"},
		{"refuses bad log level", "level: info", "level: loud", "log.level"},
		{"refuses bad hardening", "hardening: required", "hardening: sometimes", "process.hardening"},
		{"refuses no allowance for the future", "future_epochs: 1", "future_epochs: 0", "slashing.future_epochs"},
		{"refuses a long allowance for the future", "future_epochs: 1", "future_epochs: 1025", "slashing.future_epochs"},
		{"refuses a genesis time for a built-in network", "name: mainnet", "name: mainnet\n  genesis_time: 1606824023", "network.genesis_time"},
		{"refuses a grace period below an hour", "destroy_after: 24h", "destroy_after: 5m", "accounts.destroy_after"},
		{"refuses administrators without the token", "  token: credential:admin-token\n", "", "admin.token"},
		{"refuses a token source that is not a path or credential", "token: credential:admin-token", "token: admin-token", "admin.token"},
		{"refuses the old keymanager token file, naming its successor", "# keymanager:\n#   threshold: 2", "keymanager:\n  token_file: /etc/rampart/keymanager.token\n#", "admin.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(string(base), tc.from, tc.to, 1)
			if in == string(base) {
				t.Fatalf("test edit %q did not apply", tc.from)
			}
			_, err := appliance.Parse([]byte(in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantField) {
				t.Fatalf("error %q does not name %s", err, tc.wantField)
			}
		})
	}
}

// Attack: one compromised signer asks the others for a VOLUNTARY_EXIT or
// a DEPOSIT (with its own withdrawal credentials) of any validator, and
// gets a full signature, because the configuration grants peers "all".
// Peers may be granted validator duties only.
func TestConfigRefusesPeerGrantsBeyondDuties(t *testing.T) {
	base, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rule := "  - client: signer-2.example.internal\n    accounts: all\n    types: [AGGREGATION_SLOT, AGGREGATE_AND_PROOF_V2, ATTESTATION, BLOCK_V2, RANDAO_REVEAL, SYNC_COMMITTEE_MESSAGE, SYNC_COMMITTEE_SELECTION_PROOF, SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF, VALIDATOR_REGISTRATION]\n"
	if !strings.Contains(string(base), rule) {
		t.Fatal("the example's peer rule changed; update this test")
	}
	for _, tc := range []struct {
		name, types, field string
	}{
		{"refuses all for a peer", "all", "authorization[0].types"},
		{"refuses DEPOSIT for a peer", "[ATTESTATION, DEPOSIT]", "authorization[0].types[1]"},
		{"refuses VOLUNTARY_EXIT for a peer", "[VOLUNTARY_EXIT]", "authorization[0].types[0]"},
		{"refuses GENERIC for a peer", "[BLOCK_V2, GENERIC]", "authorization[0].types[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(string(base), rule, "  - client: signer-2.example.internal\n    accounts: all\n    types: "+tc.types+"\n", 1)
			_, err := appliance.Parse([]byte(in))
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "rampartctl exit") {
				t.Fatalf("got %v, want an error naming %s and what to do instead", err, tc.field)
			}
		})
	}
	t.Run("accepts every duty type and no more for a peer", func(t *testing.T) {
		if _, err := appliance.Parse(base); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a validator client may still be granted everything", func(t *testing.T) {
		in := strings.Replace(string(base), "  - client: vc-1.example.internal\n    accounts: all\n    types: [AGGREGATION_SLOT,", "  - client: vc-1.example.internal\n    accounts: all\n    types: [DEPOSIT, VOLUNTARY_EXIT, GENERIC, AGGREGATION_SLOT,", 1)
		if _, err := appliance.Parse([]byte(in)); err != nil {
			t.Fatal(err)
		}
	})
}

// Attack: a peer signer listed as an administrator can, alone, remove
// every share of a validator at every other signer. One name holding both
// roles is refused, unless the operator accepts it explicitly.
func TestConfigRefusesPeerAdministrators(t *testing.T) {
	base, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Replace(string(base), "    - operator.example.internal\n", "    - operator.example.internal\n    - signer-3.example.internal\n", 1)
	_, err = appliance.Parse([]byte(in))
	if err == nil || !strings.Contains(err.Error(), "admin.clients[1]") || !strings.Contains(err.Error(), "allow_peer_administrators") {
		t.Fatalf("got %v", err)
	}
	in = strings.Replace(in, "allow_peer_administrators: false", "allow_peer_administrators: true", 1)
	if _, err := appliance.Parse([]byte(in)); err != nil {
		t.Fatalf("with allow_peer_administrators: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	data, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("node: {id: 1}"))
	f.Add([]byte("authorization: [{client: a, accounts: all, types: all}]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = appliance.Parse(in)
	})
}
