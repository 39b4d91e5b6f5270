package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/network"
)

func TestNetworkShow(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("PRESET_BASE: minimal\nCONFIG_NAME: devnet\nGENESIS_FORK_VERSION: 0x10000038\nALTAIR_FORK_VERSION: 0x20000038\nALTAIR_FORK_EPOCH: 3\nSECONDS_PER_SLOT: 6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"shows sepolia with its gloas fork", []string{"--network", "sepolia"}, 0, []string{"sepolia (built-in)", "GLOAS      0x90000076  353024", "0x7f02C3E3c98b133055B8B348B2Ac625669Ed295D on chain 11155111"}},
		{"shows a custom network", []string{"--network-config", config, "--genesis-validators-root", "0x" + strings.Repeat("ab", 32)}, 0, []string{"devnet (custom)", "minimal (8 slots per epoch)", "ALTAIR  0x20000038  3", "genesis time             unknown"}},
		{"refuses a missing network", nil, 2, nil},
		{"refuses an unknown network", []string{"--network", "goerli"}, 2, nil},
		{"refuses arguments", []string{"--network", "mainnet", "x"}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"network", "show"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// The fork in effect is marked from the clock; one epoch before Fulu it is
// Electra.
func TestShowNetworkMarksTheForkInEffect(t *testing.T) {
	n := network.Mainnet()
	beforeFulu := n.GenesisTime().Add(time.Duration(411391) * 32 * 12 * time.Second)
	var out bytes.Buffer
	if err := showNetwork(&out, n, beforeFulu); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "in effect now") && !strings.HasPrefix(line, "ELECTRA") {
			t.Fatalf("marked %q", line)
		}
	}
	if !strings.Contains(out.String(), "in effect now") {
		t.Fatal("no fork marked")
	}
}
