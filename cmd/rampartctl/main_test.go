package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"
)

// run executes rampartctl in-process with empty stdin and returns the exit
// status and both outputs.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(t.Context(), "rampartctl", root(), args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}
