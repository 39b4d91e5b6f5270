package network_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// wantFork is one row of a published fork schedule.
type wantFork struct {
	name    spec.DataVersion
	version string
	epoch   phase0.Epoch
}

// The published constants, written out independently of builtin.go so a
// typo in either shows up. Sources: see builtin.go.
var published = []struct {
	name            string
	gvr             string
	genesisTime     int64
	depositChainID  uint64
	depositContract string
	forks           []wantFork
}{
	{
		name: "mainnet", gvr: "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
		genesisTime: 1606824023, depositChainID: 1, depositContract: "0x00000000219ab540356cbb839cbe05303d7705fa",
		forks: []wantFork{
			{spec.DataVersionPhase0, "0x00000000", 0},
			{spec.DataVersionAltair, "0x01000000", 74240},
			{spec.DataVersionBellatrix, "0x02000000", 144896},
			{spec.DataVersionCapella, "0x03000000", 194048},
			{spec.DataVersionDeneb, "0x04000000", 269568},
			{spec.DataVersionElectra, "0x05000000", 364032},
			{spec.DataVersionFulu, "0x06000000", 411392},
		},
	},
	{
		name: "sepolia", gvr: "0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078",
		genesisTime: 1655733600, depositChainID: 11155111, depositContract: "0x7f02c3e3c98b133055b8b348b2ac625669ed295d",
		forks: []wantFork{
			{spec.DataVersionPhase0, "0x90000069", 0},
			{spec.DataVersionAltair, "0x90000070", 50},
			{spec.DataVersionBellatrix, "0x90000071", 100},
			{spec.DataVersionCapella, "0x90000072", 56832},
			{spec.DataVersionDeneb, "0x90000073", 132608},
			{spec.DataVersionElectra, "0x90000074", 222464},
			{spec.DataVersionFulu, "0x90000075", 272640},
			{spec.DataVersionGloas, "0x90000076", 353024},
		},
	},
	{
		name: "hoodi", gvr: "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f",
		genesisTime: 1742213400, depositChainID: 560048, depositContract: "0x00000000219ab540356cbb839cbe05303d7705fa",
		forks: []wantFork{
			{spec.DataVersionPhase0, "0x10000910", 0},
			{spec.DataVersionAltair, "0x20000910", 0},
			{spec.DataVersionBellatrix, "0x30000910", 0},
			{spec.DataVersionCapella, "0x40000910", 0},
			{spec.DataVersionDeneb, "0x50000910", 0},
			{spec.DataVersionElectra, "0x60000910", 2048},
			{spec.DataVersionFulu, "0x70000910", 50688},
		},
	},
}

func TestBuiltinNetworksMatchPublishedConstants(t *testing.T) {
	if got := network.BuiltinNames(); fmt.Sprint(got) != "[hoodi mainnet sepolia]" {
		t.Fatalf("BuiltinNames() = %v", got)
	}
	for _, want := range published {
		t.Run(want.name, func(t *testing.T) {
			n, err := network.Builtin(want.name)
			if err != nil {
				t.Fatal(err)
			}
			if !n.Builtin() || n.Name() != want.name {
				t.Errorf("name %q builtin %v", n.Name(), n.Builtin())
			}
			if got := fmt.Sprintf("%#x", n.GenesisValidatorsRoot()); got != want.gvr {
				t.Errorf("genesis validators root %s, want %s", got, want.gvr)
			}
			if got := n.GenesisTime(); !got.Equal(time.Unix(want.genesisTime, 0)) {
				t.Errorf("genesis time %s, want %d", got, want.genesisTime)
			}
			if n.SlotDuration() != 12*time.Second || n.Preset() != network.MainnetPreset() {
				t.Errorf("slot %s preset %+v", n.SlotDuration(), n.Preset())
			}
			chainID, addr, ok := n.DepositContract()
			if !ok || chainID != want.depositChainID || fmt.Sprintf("%#x", addr[:]) != want.depositContract {
				t.Errorf("deposit contract %d %#x %v", chainID, addr[:], ok)
			}
			forks := n.Forks()
			if len(forks) != len(want.forks) {
				t.Fatalf("%d forks, want %d", len(forks), len(want.forks))
			}
			for i, f := range forks {
				w := want.forks[i]
				if f.Name != w.name || fmt.Sprintf("%#x", f.Version) != w.version || f.Epoch != w.epoch {
					t.Errorf("fork %d is %s %#x@%d, want %s %s@%d", i, f.Name, f.Version, f.Epoch, w.name, w.version, w.epoch)
				}
				prev := forks[0].Version
				if i > 0 {
					prev = forks[i-1].Version
				}
				if f.PreviousVersion != prev {
					t.Errorf("fork %s previous version %#x, want %#x", f.Name, f.PreviousVersion, prev)
				}
			}
			if n.GenesisForkVersion() != forks[0].Version {
				t.Errorf("genesis fork version %#x", n.GenesisForkVersion())
			}
		})
	}
}

func TestBuiltinRefusesUnknownName(t *testing.T) {
	for _, name := range []string{"", "Mainnet", "holesky", "goerli", "mainnet "} {
		if _, err := network.Builtin(name); !errors.Is(err, network.ErrUnknownNetwork) {
			t.Errorf("Builtin(%q): %v", name, err)
		}
	}
}

// The copies of the published configs in testdata/ parse to the built-in
// networks, so the built-in constants agree with their sources.
func TestPublishedConfigsParseToBuiltins(t *testing.T) {
	for _, tc := range []struct {
		file string
		want *network.Network
	}{
		{"testdata/mainnet.yaml", network.Mainnet()},
		{"testdata/sepolia.yaml", network.Sepolia()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			n, err := network.ParseConfig(data, tc.want.GenesisValidatorsRoot())
			if err != nil {
				t.Fatal(err)
			}
			if !n.Equal(tc.want) {
				t.Errorf("parsed %+v, want the built-in %+v", n.Forks(), tc.want.Forks())
			}
			if v, ok := n.ConfigValue("BLOB_SCHEDULE"); !ok || v == "" {
				t.Errorf("BLOB_SCHEDULE not kept: %q %v", v, ok)
			}
		})
	}
}

func TestForkAtEpochAtBoundaries(t *testing.T) {
	for _, tc := range []struct {
		n     *network.Network
		epoch phase0.Epoch
		want  spec.DataVersion
	}{
		{network.Mainnet(), 0, spec.DataVersionPhase0},
		{network.Mainnet(), 74239, spec.DataVersionPhase0},
		{network.Mainnet(), 74240, spec.DataVersionAltair},
		{network.Mainnet(), 269567, spec.DataVersionCapella},
		{network.Mainnet(), 269568, spec.DataVersionDeneb},
		{network.Mainnet(), 411392, spec.DataVersionFulu},
		{network.Mainnet(), network.FarFutureEpoch, spec.DataVersionFulu},
		{network.Hoodi(), 0, spec.DataVersionDeneb},
		{network.Hoodi(), 2047, spec.DataVersionDeneb},
		{network.Hoodi(), 2048, spec.DataVersionElectra},
		{network.Sepolia(), 353024, spec.DataVersionGloas},
	} {
		if got := tc.n.ForkAtEpoch(tc.epoch).Name; got != tc.want {
			t.Errorf("%s epoch %d: %s, want %s", tc.n.Name(), tc.epoch, got, tc.want)
		}
	}
	if e := network.Mainnet().EpochAtSlot(64); e != 2 {
		t.Errorf("EpochAtSlot(64) = %d", e)
	}
}

func TestMarshalConfigRoundTripsBuiltins(t *testing.T) {
	for _, name := range network.BuiltinNames() {
		n, _ := network.Builtin(name)
		data, err := n.MarshalConfig()
		if err != nil {
			t.Fatal(err)
		}
		back, err := network.ParseConfig(data, n.GenesisValidatorsRoot())
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if !back.Equal(n) {
			t.Errorf("%s does not round-trip:\n%s", name, data)
		}
	}
}

// Forks returns a copy: a caller cannot change a network's schedule.
func TestForksReturnsCopy(t *testing.T) {
	n := network.Mainnet()
	forks := n.Forks()
	forks[1].Epoch = 0
	if n.ForkAtEpoch(0).Name != spec.DataVersionPhase0 {
		t.Fatal("caller changed the schedule")
	}
}
