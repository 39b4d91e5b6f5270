package network

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Selection names a network the way operators write it: a built-in Name,
// or a consensus ConfigPath together with its GenesisValidatorsRoot (hex)
// and optionally its GenesisTime (Unix seconds; zero when not given) for
// a network whose genesis is not MIN_GENESIS_TIME + GENESIS_DELAY. Command
// flags and configuration files both resolve through it.
type Selection struct {
	Name                  string
	ConfigPath            string
	GenesisValidatorsRoot string
	GenesisTime           uint64
}

// Names are what a Selection's parts are called where the operator wrote
// them, so that errors point at the right flag or field.
type Names struct {
	Name, ConfigPath, GenesisValidatorsRoot, GenesisTime string
}

// SelectionError is a Selection that does not name exactly one network.
type SelectionError struct{ Msg string }

func (e *SelectionError) Error() string { return e.Msg }

func selectionErrorf(format string, a ...any) error {
	return &SelectionError{Msg: fmt.Sprintf(format, a...)}
}

// Load resolves the selection. A misuse (both forms, neither, half of the
// custom form, an unknown name, a malformed root) is a [*SelectionError];
// a config file that cannot be read or parsed is an ordinary error naming
// the file.
func (s Selection) Load(ctx context.Context, names Names) (*Network, error) {
	switch {
	case s.Name != "" && (s.ConfigPath != "" || s.GenesisValidatorsRoot != ""):
		return nil, selectionErrorf("give either %s or %s with %s, not both", names.Name, names.ConfigPath, names.GenesisValidatorsRoot)
	case s.Name != "" && s.GenesisTime != 0:
		return nil, selectionErrorf("%s is only for a custom network (%s): built-in networks know their genesis time", names.GenesisTime, names.ConfigPath)
	case s.Name != "":
		n, err := Builtin(s.Name)
		if err != nil {
			return nil, selectionErrorf("%s: %v", names.Name, err)
		}
		return n, nil
	case s.ConfigPath == "" && s.GenesisValidatorsRoot == "":
		return nil, selectionErrorf("no network: give %s NAME (%s) or %s FILE with %s HEX", names.Name, strings.Join(BuiltinNames(), ", "), names.ConfigPath, names.GenesisValidatorsRoot)
	case s.ConfigPath == "":
		return nil, selectionErrorf("%s needs %s", names.GenesisValidatorsRoot, names.ConfigPath)
	case s.GenesisValidatorsRoot == "":
		return nil, selectionErrorf("%s needs %s", names.ConfigPath, names.GenesisValidatorsRoot)
	}
	var gvr phase0.Root
	if err := decodeHexInto(gvr[:], s.GenesisValidatorsRoot); err != nil {
		return nil, selectionErrorf("%s: %v", names.GenesisValidatorsRoot, err)
	}
	data, err := readConfig(ctx, s.ConfigPath, names.ConfigPath)
	if err != nil {
		return nil, err
	}
	n, err := ParseConfig(data, gvr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", names.ConfigPath, s.ConfigPath, err)
	}
	if s.GenesisTime != 0 {
		if s.GenesisTime > math.MaxInt64/4 {
			return nil, selectionErrorf("%s: %d is out of range", names.GenesisTime, s.GenesisTime)
		}
		if n, err = n.WithGenesisTime(time.Unix(int64(s.GenesisTime), 0)); err != nil {
			return nil, fmt.Errorf("%s: %w", names.GenesisTime, err)
		}
	}
	return n, nil
}

// readConfig reads at most MaxConfigSize+1 bytes, so that an oversized file
// is reported instead of being read whole.
func readConfig(ctx context.Context, path, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, path, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%s %s: %w: larger than %d bytes", name, path, ErrInvalidConfig, MaxConfigSize)
	}
	return data, nil
}
