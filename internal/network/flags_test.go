package network_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/network"
)

func TestFlagsSelectOneNetwork(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(devnetConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("PRESET_BASE: gnosis\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gvr := "0xde7e000000000000000000000000000000000000000000000000000000000000"

	for _, tc := range []struct {
		name     string
		args     []string
		wantName string
		usage    string
		wantErr  string
	}{
		{name: "selects a built-in network", args: []string{"--network", "hoodi"}, wantName: "hoodi"},
		{name: "loads a custom network", args: []string{"--network-config", config, "--genesis-validators-root", gvr}, wantName: "devnet-7"},
		{name: "refuses both forms", args: []string{"--network", "mainnet", "--network-config", config, "--genesis-validators-root", gvr}, usage: "not both"},
		{name: "refuses a built-in name with a root", args: []string{"--network", "mainnet", "--genesis-validators-root", gvr}, usage: "not both"},
		{name: "refuses no network", args: nil, usage: "no network: give --network NAME (hoodi, mainnet, sepolia)"},
		{name: "refuses an unknown name", args: []string{"--network", "holesky"}, usage: `--network: unknown network "holesky"`},
		{name: "refuses a config without root", args: []string{"--network-config", config}, usage: "--network-config needs --genesis-validators-root"},
		{name: "refuses a root without config", args: []string{"--genesis-validators-root", gvr}, usage: "--genesis-validators-root needs --network-config"},
		{name: "refuses a malformed root", args: []string{"--network-config", config, "--genesis-validators-root", "0xde7e"}, usage: "--genesis-validators-root: \"0xde7e\" has 4 hex digits, want 64"},
		{name: "reports a missing file", args: []string{"--network-config", filepath.Join(dir, "nope.yaml"), "--genesis-validators-root", gvr}, wantErr: "no such file"},
		{name: "takes a custom network's genesis time", args: []string{"--network-config", config, "--genesis-validators-root", gvr, "--genesis-time", "1700000300"}, wantName: "devnet-7"},
		{name: "refuses a genesis time for a built-in network", args: []string{"--network", "hoodi", "--genesis-time", "1742213400"}, usage: "--genesis-time is only for a custom network (--network-config)"},
		{name: "refuses a genesis time before MIN_GENESIS_TIME", args: []string{"--network-config", config, "--genesis-validators-root", gvr, "--genesis-time", "1699999999"}, wantErr: "--genesis-time: 1699999999 is before the config's MIN_GENESIS_TIME 1700000000"},
		{name: "reports a bad config with its file name", args: []string{"--network-config", broken, "--genesis-validators-root", gvr}, wantErr: broken + `: invalid network config: PRESET_BASE: unknown preset "gnosis"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f network.Flags
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			n, err := f.Load(context.Background())
			var ue *cli.UsageError
			switch {
			case tc.usage != "":
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.usage) {
					t.Fatalf("got %v, want usage error %q", err, tc.usage)
				}
			case tc.wantErr != "":
				if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if n.Name() != tc.wantName {
					t.Fatalf("network %q, want %q", n.Name(), tc.wantName)
				}
			}
		})
	}
}

func TestFlagsLoadHonoursCancellation(t *testing.T) {
	var f network.Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--network-config", "x", "--genesis-validators-root", "0x" + strings.Repeat("11", 32)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
