package buildinfo_test

import (
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/buildinfo"
)

func TestStringNamesProgramAndVersion(t *testing.T) {
	s := buildinfo.String("rampartctl")
	if !strings.HasPrefix(s, "rampartctl "+buildinfo.Version()+" ") {
		t.Fatalf("unexpected version line %q", s)
	}
}
