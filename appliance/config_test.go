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
		{"refuses unknown request type", "types: [AGGREGATION_SLOT,", "types: [SIGN_ANYTHING,", "authorization[2].types[0]"},
		{"refuses malformed account key", "  - client: signer-3.example.internal\n    accounts: all", "  - client: signer-3.example.internal\n    accounts: [0x1234]", "authorization[1].accounts[0]"},
		{"refuses duplicate client rule", "client: signer-3.example.internal", "client: signer-2.example.internal", "authorization[1].client"},
		{"refuses relative data dir", "data_dir: /var/lib/rampart-signer", "data_dir: var/lib", "data_dir"},
		{"refuses bad log level", "level: info", "level: loud", "log.level"},
		{"refuses bad hardening", "hardening: required", "hardening: sometimes", "process.hardening"},
		{"refuses no allowance for the future", "future_epochs: 1", "future_epochs: 0", "slashing.future_epochs"},
		{"refuses a long allowance for the future", "future_epochs: 1", "future_epochs: 1025", "slashing.future_epochs"},
		{"refuses a genesis time for a built-in network", "name: mainnet", "name: mainnet\n  genesis_time: 1606824023", "network.genesis_time"},
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
