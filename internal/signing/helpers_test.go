package signing_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// loadExamples returns every request example of the Remote Signing API
// specification: the embedded copy, or the one $REMOTE_SIGNING_API_DIR
// names.
func loadExamples(t testing.TB) []specexamples.Example {
	t.Helper()
	examples, err := specexamples.Load(specexamples.FS())
	if err != nil {
		t.Fatalf("reading the specification's examples: %v", err)
	}
	return examples
}

// thresholdVectorPath is the distributed profile's 2-of-3 test vector
// (distributed/test-vectors/threshold-signing.json of the specification):
// $THRESHOLD_VECTOR, or the repository's copy.
func thresholdVectorPath() string {
	if p := os.Getenv("THRESHOLD_VECTOR"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "testdata", "remote-signing-distributed", "threshold-signing.json")
}

// value decodes an example's JSON into a generic value.
func value(t testing.TB, e specexamples.Example) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(e.JSON, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// exampleGVR is the genesis validators root every example's fork_info
// names.
var exampleGVR = mustRoot("0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673")

// exampleNetwork is a test network like the one the examples were made on:
// genesis fork version 0x00000001 (the minimal config's) and the examples'
// genesis validators root. Only VALIDATOR_REGISTRATION, exits after Deneb
// and the preset depend on it; every other root comes from fork_info.
func exampleNetwork(t testing.TB, preset string) *network.Network {
	t.Helper()
	n, err := network.ParseConfig([]byte(fmt.Sprintf("PRESET_BASE: %s\nCONFIG_NAME: examples-%s\nGENESIS_FORK_VERSION: 0x00000001\nSECONDS_PER_SLOT: 6\n", preset, preset)), exampleGVR)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRoot(s string) phase0.Root {
	var r phase0.Root
	if err := hexInto(r[:], s); err != nil {
		panic(err)
	}
	return r
}

func hexInto(dst []byte, s string) error {
	var b []byte
	if _, err := fmt.Sscanf(strings.TrimPrefix(s, "0x"), "%x", &b); err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%q has %d bytes, want %d", s, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// sameRequest reports whether two requests hold the same request: equal
// exported fields, whatever bytes each was decoded from.
func sameRequest(a, b *signing.Request) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		if va.Type().Field(i).IsExported() && !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}
