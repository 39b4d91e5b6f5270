package specexamples_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// specDir is the shared specification.
func specDir() string { return specexamples.Dir(filepath.Join("..", "..", "..")) }

// The embedded copy is byte-identical to the shared specification, so the
// demo shows what the tests check.
func TestEmbeddedCopyIsUnedited(t *testing.T) {
	for _, file := range specexamples.Files() {
		shared, err := os.ReadFile(filepath.Join(specDir(), file))
		if err != nil {
			t.Fatal(err)
		}
		copied, err := fs.ReadFile(specexamples.Embedded(), file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared, copied) {
			t.Errorf("%s: embedded copy differs from %s", file, specDir())
		}
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
