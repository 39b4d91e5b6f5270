package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"
)

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Run(context.Background(), "devnet", root(), args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
	return code, out.String()
}

func TestCommandsRefuseMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"up needs --dir", []string{"up", "--bin", "/x"}, 2, "--dir is required"},
		{"up needs --bin", []string{"up", "--dir", t.TempDir()}, 2, "--bin is required"},
		{"up refuses a bad slots per epoch", []string{"up", "--dir", t.TempDir(), "--bin", "/x", "--slots-per-epoch", "16"}, 2, "SlotsPerEpoch"},
		{"down refuses a directory without a devnet", []string{"down", "--dir", t.TempDir()}, 1, "no devnet"},
		{"show refuses extra arguments", []string{"show", "--dir", t.TempDir(), "extra"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, out, tc.code, tc.want)
			}
		})
	}
}
