package network

import (
	"os"
	"reflect"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// FuzzParseConfig feeds arbitrary bytes to the config parser: it must never
// panic, and whatever it accepts must survive MarshalConfig and a second
// parse unchanged, uninterpreted keys included.
func FuzzParseConfig(f *testing.F) {
	for _, file := range []string{"testdata/mainnet.yaml", "testdata/sepolia.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, n := range []*Network{Mainnet(), Sepolia(), Hoodi()} {
		data, err := n.MarshalConfig()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("PRESET_BASE: minimal\nGENESIS_FORK_VERSION: 0x00000001\nSECONDS_PER_SLOT: 6\nX: [1, {A: b}]\nY: 'q'\n"))
	f.Add([]byte(`{"data": {"PRESET_BASE": "mainnet", "GENESIS_FORK_VERSION": "0x00000001", "SLOT_DURATION_MS": "12000", "ALTAIR_FORK_VERSION": "0x01000001", "ALTAIR_FORK_EPOCH": "5"}}`))
	f.Add([]byte("PRESET_BASE: &p minimal\nCONFIG_NAME: *p\nGENESIS_FORK_VERSION: 0x00000001\nSECONDS_PER_SLOT: 1\n"))
	f.Add([]byte("PRESET_BASE: minimal\nGENESIS_FORK_VERSION: 0x00000001\nSECONDS_PER_SLOT: 1\nA: &a [1, 2]\nB: &b [*a, *a]\nC: [*b, *b]\n"))
	gvr := phase0.Root{0x42}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseConfig(data, gvr)
		if err != nil {
			return
		}
		out, err := n.MarshalConfig()
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		back, err := ParseConfig(out, gvr)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
		}
		if !back.Equal(n) || !reflect.DeepEqual(back.extra, n.extra) {
			t.Fatalf("round trip changed the network:\n%+v\n%+v\n%s", n, back, out)
		}
	})
}
