package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"
)

func tree(ran *string) *cli.Command {
	var name string
	return &cli.Command{
		Name:    "prog",
		Summary: "test program",
		Subcommands: []*cli.Command{
			{
				Name:    "hello",
				Summary: "says hello",
				Flags:   func(fs *flag.FlagSet) { fs.StringVar(&name, "name", "world", "who to greet") },
				Run: func(_ context.Context, env *cli.Env, args []string) error {
					*ran = "hello " + name
					return nil
				},
			},
			{
				Name: "fail",
				Run: func(context.Context, *cli.Env, []string) error {
					return errors.New("boom")
				},
			},
			{
				Name: "misuse",
				Run: func(context.Context, *cli.Env, []string) error {
					return cli.Usagef("needs FILE")
				},
			},
		},
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		out    string
		ran    string
		errOut string
	}{
		{name: "prints version", args: []string{"--version"}, code: 0, out: "prog dev"},
		{name: "prints help", args: []string{"--help"}, code: 0, out: "hello"},
		{name: "no command is a usage error", args: nil, code: 2, out: "Commands:"},
		{name: "unknown command", args: []string{"nope"}, code: 2, errOut: `unknown command "nope"`},
		{name: "runs with flags", args: []string{"hello", "--name", "ops"}, code: 0, ran: "hello ops"},
		{name: "command help", args: []string{"hello", "--help"}, code: 0, out: "who to greet"},
		{name: "failure exits 1", args: []string{"fail"}, code: 1, errOut: "prog fail: boom"},
		{name: "usage error exits 2", args: []string{"misuse"}, code: 2, errOut: "needs FILE"},
		{name: "bad flag exits 2", args: []string{"hello", "--bogus"}, code: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran string
			var out, errOut bytes.Buffer
			code := cli.Run(context.Background(), "prog", tree(&ran), tc.args, &cli.Env{Stdout: &out, Stderr: &errOut})
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.out)
			}
			if !strings.Contains(errOut.String(), tc.errOut) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.errOut)
			}
			if ran != tc.ran {
				t.Errorf("ran %q, want %q", ran, tc.ran)
			}
		})
	}
}

func TestNewLoggerLevelAndFormat(t *testing.T) {
	var b strings.Builder
	log := cli.LogConfig{Level: "warn", Format: "json"}.NewLogger(&b)
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if out := b.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Fatalf("logged %q; want only the warning, as JSON", out)
	}
}

func TestLogConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		c    cli.LogConfig
		want string
	}{
		{cli.LogConfig{Level: "info", Format: "text"}, ""},
		{cli.LogConfig{Level: "debug", Format: "json"}, ""},
		{cli.LogConfig{Level: "verbose", Format: "text"}, "log.level"},
		{cli.LogConfig{Level: "info", Format: "xml"}, "log.format"},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want+":")):
			t.Errorf("%+v: got %v, want an error naming %s", tc.c, err, tc.want)
		}
	}
}
