package main

import (
	"testing"

	"github.com/rampart-signer/rampart/internal/clidoc"
)

// TestDocumentedCommandsExist checks every rampart-gateway command line of the
// guides against its real flags: each flag exists, typed values parse
// (issue 17; rampartctl's tests check the guides' rampartctl lines).
func TestDocumentedCommandsExist(t *testing.T) {
	clidoc.CheckFiles(t, root(), "../../docs/operations.md", "../../README.md", "../../docs/validator-client.md")
}
