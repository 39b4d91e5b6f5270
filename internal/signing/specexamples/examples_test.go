package specexamples_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// The embedded copy is the unedited specification: each file has the
// sha256 its PROVENANCE.md records and, when $REMOTE_SIGNING_API_DIR names
// another copy, the same bytes as that copy.
func TestEmbeddedCopyIsUnedited(t *testing.T) {
	prov, err := fs.ReadFile(specexamples.Embedded(), "PROVENANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, line := range strings.Split(string(prov), "\n") {
		f := strings.Split(line, "|")
		if len(f) == 5 && len(strings.TrimSpace(f[3])) == 64 {
			recorded[strings.TrimSpace(f[1])] = strings.TrimSpace(f[3])
		}
	}
	other := os.Getenv(specexamples.DirEnv)
	for _, file := range specexamples.Files() {
		copied, err := fs.ReadFile(specexamples.Embedded(), file)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(copied)
		if got, want := hex.EncodeToString(sum[:]), recorded[file]; got != want {
			t.Errorf("%s: sha256 %s, PROVENANCE.md records %q", file, got, want)
		}
		if other == "" {
			continue
		}
		theirs, err := os.ReadFile(filepath.Join(other, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(theirs, copied) {
			t.Errorf("%s: embedded copy differs from %s", file, other)
		}
	}
	if len(recorded) != len(specexamples.Files()) {
		t.Errorf("PROVENANCE.md records %d files, the package reads %d", len(recorded), len(specexamples.Files()))
	}
}

func TestLoadFindsEveryExample(t *testing.T) {
	examples, err := specexamples.Load(specexamples.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	var minimal, camel, wrong, batch int
	for _, e := range examples {
		switch {
		case e.Preset == "minimal":
			minimal++
		case e.CamelCase:
			camel++
		case e.WrongRoot:
			wrong++
		}
		if e.Batch {
			batch++
		}
	}
	if len(examples) != 29 || minimal != 2 || camel != 2 || wrong != 2 || batch != 2 {
		t.Fatalf("%d examples (%d minimal, %d camelCase, %d wrong roots, %d batches)", len(examples), minimal, camel, wrong, batch)
	}
}

func TestSchemaSpelling(t *testing.T) {
	got, err := specexamples.SchemaSpelling([]byte(`{"signingRoot":"0x01","fork_info":{"fork":{"previousVersion":"0x00"}},"block":{"eth1Data":{"depositCount":8}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"block":{"eth1_data":{"deposit_count":"8"}},"fork_info":{"fork":{"previous_version":"0x00"}},"signingRoot":"0x01"}`
	if string(got) != want {
		t.Fatalf("got %s", got)
	}
}
