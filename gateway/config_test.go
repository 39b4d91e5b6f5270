package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/gateway"
)

func TestExampleConfigIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile("gateway.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.Parse(data)
	if err != nil {
		t.Fatalf("gateway.example.yaml: %v", err)
	}
	// Every value the example shows is the default it documents.
	if def := gateway.DefaultConfig(); !reflect.DeepEqual(*cfg, def) {
		t.Fatalf("the example differs from the defaults:\n%+v\n%+v", *cfg, def)
	}
}

const minimal = "cluster:\n  file: /etc/rampart/cluster.yaml\n"

const key1 = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"

func TestParseConfigNamesTheWrongField(t *testing.T) {
	for _, tc := range []struct {
		name, add, field string
	}{
		{"accepts the minimal file with defaults", "", ""},
		{"accepts a unix socket", "listen: {api: \"unix:/run/rampart-gateway/api.sock\"}\n", ""},
		{"accepts a list of accounts and all types", "accounts: [\"" + key1 + "\"]\ntypes: all\n", ""},
		{"refuses an unknown field", "lisen: {}\n", "lisen"},
		{"refuses a certificate without its key", "cluster: {file: c.yaml, certificate: gw.pem}\n", "cluster.key"},
		{"refuses a zero signer timeout", "cluster: {file: c.yaml, timeout: 0s}\n", "cluster.timeout"},
		{"refuses a negative hedge delay", "cluster: {file: c.yaml, hedge_delay: -1s}\n", "cluster.hedge_delay"},
		{"refuses an API off loopback", "listen: {api: \"0.0.0.0:9400\"}\n", "listen.api"},
		{"refuses an API on a host name", "listen: {api: \"localhost:9400\"}\n", "listen.api"},
		{"refuses an API without a port", "listen: {api: \"127.0.0.1\"}\n", "listen.api"},
		{"refuses a relative socket path", "listen: {api: \"unix:api.sock\"}\n", "listen.api"},
		{"refuses a socket path longer than sun_path", "listen: {api: \"unix:/" + strings.Repeat("a", 120) + "\"}\n", "listen.api"},
		{"refuses an executable socket mode", "listen: {api: \"unix:/run/g.sock\", socket_mode: \"0770\"}\n", "listen.socket_mode"},
		{"refuses a socket mode its owner cannot use", "listen: {api: \"unix:/run/g.sock\", socket_mode: \"0060\"}\n", "listen.socket_mode"},
		{"refuses a non-octal socket mode", "listen: {socket_mode: \"rw\"}\n", "octal mode"},
		{"refuses operations off loopback", "listen: {operations: \"192.0.2.1:9401\"}\n", "listen.operations"},
		{"refuses operations on the API's address", "listen: {api: \"127.0.0.1:9400\", operations: \"127.0.0.1:9400\"}\n", "listen.operations"},
		{"refuses a malformed account", "accounts: [\"0x12\"]\n", "accounts[0]"},
		{"refuses an account listed twice", "accounts: [\"" + key1 + "\", \"" + strings.ToUpper(key1[2:]) + "\"]\n", "accounts[1]"},
		{"refuses an empty account list", "accounts: []\n", "accounts"},
		{"refuses an unknown request type", "types: [ATTESTATION, SIGN_ANYTHING]\n", "types[1]"},
		{"refuses a type listed twice", "types: [ATTESTATION, ATTESTATION]\n", "types[1]"},
		{"refuses an empty type list", "types: []\n", "types"},
		{"refuses a probe interval below a second", "health: {interval: 10ms}\n", "health.interval"},
		{"refuses an unknown log format", "log: {format: xml}\n", "log.format"},
		{"refuses a second document", "---\nlog: {level: info}\n", "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := minimal + tc.add
			if strings.HasPrefix(tc.add, "cluster:") {
				data = tc.add
			}
			cfg, err := gateway.Parse([]byte(data))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v; want one naming %q", err, tc.field)
			}
			if cfg != nil {
				t.Fatal("a configuration returned with the error")
			}
		})
	}
}

func TestDefaultTypesLeaveOutExitsDepositsAndGeneric(t *testing.T) {
	types := gateway.DefaultConfig().Types
	if types.All {
		t.Fatal("every type granted by default")
	}
	for _, tp := range []string{"VOLUNTARY_EXIT", "DEPOSIT", "GENERIC"} {
		if slices.Contains(types.List, tp) {
			t.Errorf("%s granted by default", tp)
		}
	}
	for _, tp := range []string{"ATTESTATION", "BLOCK_V2", "AGGREGATE_AND_PROOF_V2", "SYNC_COMMITTEE_MESSAGE", "VALIDATOR_REGISTRATION"} {
		if !slices.Contains(types.List, tp) {
			t.Errorf("duty %s not granted by default", tp)
		}
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte("cluster: {file: cluster.yaml, certificate: gw.pem, key: gw.key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cfg.Cluster.File, cfg.Cluster.Certificate, cfg.Cluster.Key} {
		if filepath.Dir(p) != dir {
			t.Errorf("%q not resolved next to the configuration", p)
		}
	}
}

// FuzzParseConfig: no input panics, and a configuration that parses
// writes out and parses back to the same value.
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("gateway.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "accounts: [\"" + key1 + "\"]\nlisten: {api: \"unix:/run/x.sock\", socket_mode: 0600}\n"))
	f.Add([]byte("types: 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := gateway.Parse(data)
		if err != nil {
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := gateway.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of written configuration: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", cfg, back)
		}
	})
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	cfg := gateway.DefaultConfig()
	if _, err := gateway.New(&cfg, gateway.Options{}); !errors.Is(err, gateway.ErrOptions) {
		t.Fatalf("New without collaborators: %v; want ErrOptions", err)
	}
	bad := gateway.DefaultConfig()
	bad.Listen.API = "0.0.0.0:9400"
	if _, err := gateway.New(&bad, gateway.Options{}); err == nil || !strings.HasPrefix(err.Error(), "listen.api:") {
		t.Fatalf("New with an invalid configuration: %v", err)
	}
}
