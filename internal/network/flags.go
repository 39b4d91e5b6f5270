package network

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/cli"
)

// Flags selects the network a command works on, in one of two forms:
// --network NAME for a built-in network, or --network-config FILE together
// with --genesis-validators-root HEX for a custom one. Every command that
// needs a network registers these flags, so they read the same everywhere.
type Flags struct {
	name       string
	configPath string
	gvr        string
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "network", "", "built-in `network`: "+strings.Join(BuiltinNames(), ", "))
	fs.StringVar(&f.configPath, "network-config", "", "consensus config.yaml of a custom network (`file`; needs --genesis-validators-root)")
	fs.StringVar(&f.gvr, "genesis-validators-root", "", "genesis validators root of the custom network (0x-prefixed `hex`)")
}

// Load returns the network the flags select. Misuse (both forms, neither,
// half of the custom form, an unknown name) is a [cli.UsageError]; a config
// file that cannot be read or parsed is an ordinary error naming the file.
func (f *Flags) Load(ctx context.Context) (*Network, error) {
	switch {
	case f.name != "" && (f.configPath != "" || f.gvr != ""):
		return nil, cli.Usagef("give either --network or --network-config with --genesis-validators-root, not both")
	case f.name != "":
		n, err := Builtin(f.name)
		if err != nil {
			return nil, cli.Usagef("--network: %v", err)
		}
		return n, nil
	case f.configPath == "" && f.gvr == "":
		return nil, cli.Usagef("no network: give --network NAME (%s) or --network-config FILE --genesis-validators-root HEX", strings.Join(BuiltinNames(), ", "))
	case f.configPath == "":
		return nil, cli.Usagef("--genesis-validators-root needs --network-config")
	case f.gvr == "":
		return nil, cli.Usagef("--network-config needs --genesis-validators-root")
	}
	var gvr phase0.Root
	if err := decodeHexInto(gvr[:], f.gvr); err != nil {
		return nil, cli.Usagef("--genesis-validators-root: %v", err)
	}
	data, err := readConfig(ctx, f.configPath)
	if err != nil {
		return nil, err
	}
	n, err := ParseConfig(data, gvr)
	if err != nil {
		return nil, fmt.Errorf("--network-config %s: %w", f.configPath, err)
	}
	return n, nil
}

// readConfig reads at most MaxConfigSize+1 bytes, so that an oversized file
// is reported by ParseConfig instead of being read whole.
func readConfig(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--network-config: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("--network-config %s: %w", path, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("--network-config %s: %w: larger than %d bytes", path, ErrInvalidConfig, MaxConfigSize)
	}
	return data, nil
}
