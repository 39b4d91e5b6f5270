package clidoc_test

import (
	"context"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clidoc"
)

// tree is a small command tree shaped like rampartctl's.
func tree() *cli.Command {
	run := func(context.Context, *cli.Env, []string) error { return nil }
	return &cli.Command{
		Name: "tool",
		Subcommands: []*cli.Command{
			{Name: "backup", Subcommands: []*cli.Command{
				{Name: "create", Args: "FILE", Run: run, Flags: func(fs *flag.FlagSet) {
					fs.String("cluster", "", "cluster file (required)")
					fs.Uint64("node", 0, "participant id (required with --cluster)")
					fs.Duration("timeout", time.Minute, "how long")
					fs.Bool("force", false, "replace FILE")
				}},
				{Name: "verify", Args: "FILE", Run: run},
			}},
			{Name: "audit", Subcommands: []*cli.Command{
				{Name: "verify", Args: "[DIR | FILE...]", Run: run, Flags: func(fs *flag.FlagSet) {
					fs.String("config", "", "configuration")
					fs.String("key", "", "key URI")
					fs.Bool("no-anchor", false, "no anchor")
				}},
			}},
			{Name: "status", Run: run, Flags: func(fs *flag.FlagSet) {
				fs.String("cluster", "", "cluster file")
				fs.Int("count", 1, "how many")
			}},
		},
	}
}

func TestExtractFindsCommandsInShellBlocksAndSpans(t *testing.T) {
	md := "# Title\n" + // 1
		"Run `tool status --cluster c.yaml` or `other thing`.\n" + // 2
		"\n" + // 3
		"```sh\n" + // 4
		"# a comment naming tool backup create\n" + // 5
		"sudo -u op FOO=1 tool backup create --cluster /c.yaml \\\n" + // 6
		"    --node 1 /b-$(date +%F).tar   # trailing comment\n" + // 7
		"tool backup verify /b.tar | tee log && /usr/bin/tool status 2>&1 >/dev/null\n" + // 8
		"cat > f <<'EOF'\n" + // 9
		"tool status --not-a-command-here\n" + // 10
		"EOF\n" + // 11
		"x=$(tool status --count 3)\n" + // 12
		"find . |\n" + // 13
		"  tool audit verify --no-anchor .\n" + // 14
		"```\n" + // 15
		"```yaml\n" + // 16
		"cmd: tool status --bogus\n" + // 17
		"```\n" + // 18
		"   ```sh\n" + // 19: indented, inside a list item
		"   tool backup verify x.tar\n" + // 20
		"   ```\n" + // 21
		"See `tool backup create\n" + // 22
		"--force` and ``tool status``.\n" // 23
	got := clidoc.Extract("d.md", []byte(md), "tool")
	type row struct {
		line   int
		inline bool
		args   string
	}
	var rows []row
	for _, inv := range got {
		rows = append(rows, row{inv.Line, inv.Inline, strings.Join(inv.Args, " ")})
	}
	want := []row{
		{6, false, "backup create --cluster /c.yaml --node 1 /b-$(date +%F).tar"},
		{8, false, "backup verify /b.tar"},
		{8, false, "status"},
		{12, false, "status --count 3"},
		{13, false, "audit verify --no-anchor ."},
		{20, false, "backup verify x.tar"},
		{2, true, "status --cluster c.yaml"},
		{22, true, "backup create --force"},
		{23, true, "status"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("Extract:\n got %v\nwant %v", rows, want)
	}
}

func TestExtractReadsUsageAlternativesAsOneCommand(t *testing.T) {
	md := "```sh\ntool audit verify [--config F | --no-anchor] [--key URI]\n```\n"
	got := clidoc.Extract("d.md", []byte(md), "tool")
	if len(got) != 1 || strings.Join(got[0].Args, " ") != "audit verify [--config F --no-anchor] [--key URI]" {
		t.Fatalf("Extract = %+v", got)
	}
	if p := clidoc.Check(tree(), got[0]); p != nil {
		t.Errorf("Check = %q", p)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inline bool
		args   string
		want   string // a fragment of the only problem; "" for none
	}{
		{"accepts a complete command", false, "backup create --cluster c.yaml --node 1 --timeout 5m --force out.tar", ""},
		{"accepts placeholders for typed values", false, "backup create --cluster FILE --node N --timeout ... <file>", ""},
		{"accepts --flag=value", false, "status --count=3", ""},
		{"accepts help anywhere", false, "backup create --help", ""},
		{"accepts a placeholder command", true, "COMMAND --help", ""},
		{"accepts a group named in prose", true, "backup", ""},
		{"accepts a partial reference in prose", true, "backup create --timeout", ""},
		{"refuses an unknown command", false, "backup take x.tar", `"tool backup" has no command "take": want one of create, verify`},
		{"refuses a group alone in a block", false, "backup", `names no command`},
		{"refuses an unknown flag, suggesting the nearest", true, "status --clster c.yaml", "tool status has no flag --clster; did you mean --cluster?"},
		{"refuses an int that does not parse", true, "status --count three", `--count "three" does not parse`},
		{"refuses a duration without unit", false, "backup create --cluster c --node 1 --timeout 5 x.tar", `--timeout "5" does not parse`},
		{"refuses a missing value in a block", false, "status --cluster", "--cluster needs a value"},
		{"refuses a missing required flag", false, "backup create x.tar", "--cluster is required"},
		{"refuses a flag required with another", false, "backup create --cluster c.yaml x.tar", "--node is required with --cluster"},
		{"refuses a missing argument", false, "backup verify", "wants the argument FILE"},
		{"refuses an extra argument", false, "backup verify a.tar b.tar", `takes FILE, got ["a.tar" "b.tar"]`},
		{"refuses an argument to a command taking none", true, "status extra", "takes no arguments"},
		{"refuses a flag after an argument", true, "backup verify x.tar --force", "is not read as a flag"},
		{"accepts optional arguments", false, "audit verify --no-anchor a b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := clidoc.Invocation{Program: "tool", Args: strings.Fields(tc.args), Inline: tc.inline}
			got := clidoc.Check(tree(), inv)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("Check(%q) = %q, want no problem", tc.args, got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("Check(%q) = %q, want one problem with %q", tc.args, got, tc.want)
			}
		})
	}
}

func TestPath(t *testing.T) {
	inv := clidoc.Invocation{Args: []string{"backup", "create", "--cluster", "c"}}
	if got := clidoc.Path(tree(), inv); got != "backup create" {
		t.Errorf("Path = %q", got)
	}
}
