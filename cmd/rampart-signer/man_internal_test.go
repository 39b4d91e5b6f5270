package main

import (
	"testing"

	"github.com/rampart-signer/rampart/internal/clitest"
)

// TestManPageListsEveryOption keeps packaging/man/rampart-signer.8 in step with
// the program's flags and signals: every flag, --version and --help are
// an option item, and the signals have their section.
func TestManPageListsEveryOption(t *testing.T) {
	clitest.ManPageListsEveryOption(t, "../../packaging/man/rampart-signer.8", root(), "SIGHUP", ".SH SIGNALS")
}
