package network

import (
	"context"
	"errors"
	"flag"
	"strings"

	"github.com/rampart-signer/rampart/internal/cli"
)

// Flags selects the network a command works on, in one of two forms:
// --network NAME for a built-in network, or --network-config FILE together
// with --genesis-validators-root HEX for a custom one. Every command that
// needs a network registers these flags, so they read the same everywhere.
type Flags struct {
	name        string
	configPath  string
	gvr         string
	genesisTime uint64
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "network", "", "built-in `network`: "+strings.Join(BuiltinNames(), ", "))
	fs.StringVar(&f.configPath, "network-config", "", "consensus config.yaml of a custom network (`file`; needs --genesis-validators-root)")
	fs.StringVar(&f.gvr, "genesis-validators-root", "", "genesis validators root of the custom network (0x-prefixed `hex`)")
	fs.Uint64Var(&f.genesisTime, "genesis-time", 0, "genesis time of the custom network in Unix `seconds`, when it is not MIN_GENESIS_TIME + GENESIS_DELAY (as /eth/v1/beacon/genesis reports it)")
}

// Selection returns what the flags say, unresolved.
func (f *Flags) Selection() Selection {
	return Selection{Name: f.name, ConfigPath: f.configPath, GenesisValidatorsRoot: f.gvr, GenesisTime: f.genesisTime}
}

// Given reports whether any of the flags was set.
func (f *Flags) Given() bool { return f.Selection() != Selection{} }

// Load returns the network the flags select. Misuse (both forms, neither,
// half of the custom form, an unknown name) is a [cli.UsageError]; a config
// file that cannot be read or parsed is an ordinary error naming the file.
func (f *Flags) Load(ctx context.Context) (*Network, error) {
	n, err := f.Selection().Load(ctx, Names{
		Name: "--network", ConfigPath: "--network-config", GenesisValidatorsRoot: "--genesis-validators-root", GenesisTime: "--genesis-time",
	})
	var se *SelectionError
	if errors.As(err, &se) {
		return nil, cli.Usagef("%s", se.Msg)
	}
	return n, err
}
