package vc_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/vc"
)

// TestExampleConfigIsValid: the shipped example is refused for its
// placeholder fee recipient alone (it passed before, and a client started
// from it paid every block's fees to 0x...0001); with an address of the
// operator's it is valid and documents the defaults.
func TestExampleConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("vc.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Parse(data); err == nil || !strings.Contains(err.Error(), "fee_recipient") || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("the example's placeholder fee recipient was accepted: %v", err)
	}
	data = []byte(strings.Replace(string(data), "0x0000000000000000000000000000000000000001", "0x5241d0000000000000000000000000000000d0fe", 1))
	cfg, err := vc.Parse(data)
	if err != nil {
		t.Fatalf("vc.example.yaml: %v", err)
	}
	def := vc.DefaultConfig()
	// The example shows every default it does not replace with an example.
	if cfg.Cluster.Timeout != def.Cluster.Timeout || cfg.Doppelganger != def.Doppelganger || cfg.Redundancy != def.Redundancy ||
		cfg.Builder != def.Builder || cfg.Listen != def.Listen || cfg.Keymanager != def.Keymanager || cfg.Log != def.Log || !cfg.Accounts.All {
		t.Fatalf("the example's values differ from the defaults it documents: %+v", cfg)
	}
	if len(cfg.BeaconNodes) != 2 || cfg.FeeRecipient == "" {
		t.Fatalf("example: %+v", cfg)
	}
}

const minimal = `cluster:
  file: /etc/rampart/cluster.yaml
beacon_nodes:
  - name: lighthouse-1
    url: http://127.0.0.1:5052
fee_recipient: "0x5241d0000000000000000000000000000000d0fe"
`

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, field string
	}{
		{"accepts the minimal file with defaults", "", "", ""},
		{"refuses an unknown field", "fee_recipient:", "fee_recipents: x\nfee_recipient:", "fee_recipents"},
		{"refuses a missing cluster file", "  file: /etc/rampart/cluster.yaml\n", "  file: \"\"\n", "cluster.file"},
		{"refuses a certificate without its key", "  file: /etc/rampart/cluster.yaml\n", "  file: /etc/rampart/cluster.yaml\n  certificate: vc.pem\n", "cluster.key"},
		{"refuses a negative hedge delay", "  file: /etc/rampart/cluster.yaml\n", "  file: /etc/rampart/cluster.yaml\n  hedge_delay: -1s\n", "cluster.hedge_delay"},
		{"refuses a zero signer timeout", "  file: /etc/rampart/cluster.yaml\n", "  file: /etc/rampart/cluster.yaml\n  timeout: 0s\n", "cluster.timeout"},
		{"refuses no beacon node", "  - name: lighthouse-1\n    url: http://127.0.0.1:5052\n", "  []\n", "beacon_nodes"},
		{"refuses a node name with spaces", "name: lighthouse-1", "name: light house", "beacon_nodes[0].name"},
		{"refuses a non-http node URL", "url: http://127.0.0.1:5052", "url: ftp://127.0.0.1:5052", "beacon_nodes[0].url"},
		{"refuses a node URL with a query", "url: http://127.0.0.1:5052", "url: http://127.0.0.1:5052/?token=x", "beacon_nodes[0].url"},
		{"refuses a repeated node name", "    url: http://127.0.0.1:5052\n", "    url: http://127.0.0.1:5052\n  - name: lighthouse-1\n    url: http://127.0.0.2:5052\n", "beacon_nodes[1].name"},
		{"refuses a missing fee recipient", `fee_recipient: "0x5241d0000000000000000000000000000000d0fe"`, "", "fee_recipient"},
		{"refuses a short fee recipient", `"0x5241d0000000000000000000000000000000d0fe"`, `"0x00fe"`, "fee_recipient"},
		{"refuses the zero fee recipient", `"0x5241d0000000000000000000000000000000d0fe"`, `"0x0000000000000000000000000000000000000000"`, "fee_recipient"},
		{"refuses graffiti over 32 bytes", "", "graffiti: 0123456789012345678901234567890123\n", "graffiti"},
		{"refuses a malformed account", "", "accounts: [\"0x12\"]\n", "accounts[0]"},
		{"refuses an account listed twice", "", "accounts: [\"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c\", \"0xA99A76ED7796F7BE22D5B7E85DEEB7C5677E88E511E0B337618F8C4EB61349B4BF2D153F649F7B53359FE8B94A38E44C\"]\n", "accounts[1]"},
		{"refuses accounts other than all or a list", "", "accounts: some\n", "want \"all\" or a list"},
		{"refuses zero doppelganger epochs", "", "doppelganger: {enabled: true, epochs: 0}\n", "doppelganger.epochs"},
		{"refuses a builder gas limit below the minimum", "", "builder: {enabled: true, gas_limit: 10}\n", "builder.gas_limit"},
		{"refuses instance 16", "", "redundancy: {instance: 16}\n", "redundancy.instance"},
		{"refuses a proposal delay beyond 4 s", "", "redundancy: {proposal_delay: 5s}\n", "redundancy.proposal_delay"},
		{"refuses an attestation delay beyond 4 s", "", "redundancy: {attestation_delay: 5s}\n", "redundancy.attestation_delay"},
		{"refuses a negative attestation delay", "", "redundancy: {attestation_delay: -1s}\n", "redundancy.attestation_delay"},
		{"refuses an operations listener off loopback", "", "listen: {operations: \"0.0.0.0:9300\"}\n", "listen.operations"},
		{"refuses an unknown log level", "", "log: {level: loud}\n", "log.level"},
		{"refuses a second document", "", "---\nlog: {level: info}\n", "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := minimal
			if tc.old != "" {
				if !strings.Contains(data, tc.old) {
					t.Fatalf("test bug: %q not in the minimal file", tc.old)
				}
				data = strings.Replace(data, tc.old, tc.new, 1)
			} else {
				data += tc.new
			}
			cfg, err := vc.Parse([]byte(data))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !cfg.Doppelganger.Enabled || cfg.Redundancy.ProposalDelay != time.Second || !cfg.Accounts.All {
					t.Fatalf("defaults not applied: %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v; want one naming %q", err, tc.field)
			}
		})
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vc.yaml")
	data := strings.Replace(minimal, "/etc/rampart/cluster.yaml", "cluster.yaml", 1)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := vc.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.File != filepath.Join(dir, "cluster.yaml") {
		t.Fatalf("cluster.file %q, want it next to the configuration", cfg.Cluster.File)
	}
}

// FuzzParseConfig: no input panics, and a configuration that parses
// writes out and parses back to the same value.
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("vc.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "accounts: [\"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c\"]\n"))
	f.Add([]byte("beacon_nodes: 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := vc.Parse(data)
		if err != nil {
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := vc.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of written configuration: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", cfg, back)
		}
	})
}
