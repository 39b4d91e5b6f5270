package clidoc

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"

	"github.com/rampart-signer/rampart/internal/suggest"
)

// placeholder matches a word that stands for a value the reader fills in:
// N, FILE, SEQ:HASH, 0xKEY, sha256:..., <name>, ..., and any word holding
// a command substitution or a variable.
var placeholder = regexp.MustCompile(`^(0x)?[A-Z][A-Z0-9_:]*$|\.\.\.|<[^>]*>|\$`)

// IsPlaceholder reports whether word stands for a value to fill in.
func IsPlaceholder(word string) bool { return placeholder.MatchString(word) }

// required matches a flag's usage text that marks it required: "(required)",
// "(...; required)" or "(required; ...)"; requiredWith one required only
// with another flag: "(required with --cluster)".
var (
	required     = regexp.MustCompile(`[(;] ?required[;)]`)
	requiredWith = regexp.MustCompile(`required with --([a-z0-9-]+)`)
)

// Check checks inv against root, the tree of inv.Program, and returns
// what is wrong, each problem a sentence without the location. A command
// in a fenced block must be complete: a command (not a group), a value
// for every flag, the required flags (usage text "(required)", the
// convention of our programs' --help) and arguments. An inline span may be
// a partial reference, but what it names must exist and parse.
func Check(root *cli.Command, inv Invocation) []string {
	args := unbracket(inv.Args)
	cmd, pathWords := root, []string{root.Name}
	for len(cmd.Subcommands) > 0 {
		if len(args) == 0 {
			if inv.Inline {
				return nil
			}
			return []string{fmt.Sprintf("%q names no command: want one of %s", strings.Join(pathWords, " "), names(cmd))}
		}
		a := args[0]
		if isHelp(a) || IsPlaceholder(a) || (cmd == root && (a == "--version" || a == "-version" || a == "version")) {
			return nil
		}
		next := find(cmd, a)
		if next == nil {
			return []string{fmt.Sprintf("%q has no command %q: want one of %s", strings.Join(pathWords, " "), a, names(cmd))}
		}
		cmd, args, pathWords = next, args[1:], append(pathWords, next.Name)
	}
	where := strings.Join(pathWords, " ")
	if len(args) > 0 && args[0] == "--version" && cmd == root {
		return nil
	}
	var problems []string
	fs := flagSet(cmd, where)
	scratch := flagSet(cmd, where) // for trying values without touching fs
	var parse, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "..." {
			continue
		}
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			parse = append(parse, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || IsPlaceholder(a) {
			positional = append(positional, a)
			parse = append(parse, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if isHelp("--" + name) {
			return nil
		}
		if len(positional) > 0 {
			problems = append(problems, fmt.Sprintf("%s: flag %s after the argument %q is not read as a flag (flags stop at the first argument): put it before", where, a, positional[0]))
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			problems = append(problems, fmt.Sprintf("%s has no flag --%s%s", where, name, nearest(fs, name)))
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++ // most likely its value
			}
			continue
		}
		if !hasValue && !isBool(f) {
			if i+1 >= len(args) {
				if !inv.Inline {
					problems = append(problems, fmt.Sprintf("%s: --%s needs a value", where, name))
				}
				continue
			}
			i++
			value, hasValue = args[i], true
		}
		if !hasValue {
			parse = append(parse, "--"+name)
			continue
		}
		if err := scratch.Lookup(name).Value.Set(value); err != nil {
			if !IsPlaceholder(value) {
				problems = append(problems, fmt.Sprintf("%s: --%s %q does not parse: %v", where, name, value, err))
				continue
			}
			value = f.DefValue // a placeholder for a typed value
		}
		parse = append(parse, "--"+name+"="+value)
	}
	if len(problems) > 0 {
		return problems
	}
	// The real parse, as cli.Run does it: what the program would refuse.
	if err := fs.Parse(parse); err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	min, max := arity(cmd.Args)
	if max >= 0 && len(positional) > max {
		if cmd.Args == "" {
			problems = append(problems, fmt.Sprintf("%s takes no arguments, got %q", where, positional))
		} else {
			problems = append(problems, fmt.Sprintf("%s takes %s, got %q", where, cmd.Args, positional))
		}
	}
	if inv.Inline { // a reference in prose may leave out what is required
		return problems
	}
	if len(positional) < min {
		problems = append(problems, fmt.Sprintf("%s: wants the argument %s", where, cmd.Args))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if required.MatchString(f.Usage) {
			problems = append(problems, fmt.Sprintf("%s: --%s is required", where, f.Name))
		} else if m := requiredWith.FindStringSubmatch(f.Usage); m != nil && set[m[1]] {
			problems = append(problems, fmt.Sprintf("%s: --%s is required with --%s", where, f.Name, m[1]))
		}
	})
	return problems
}

// CheckFiles extracts the invocations of root's program from each
// Markdown file and fails t with file:line and the problem for each that
// [Check] refuses. It returns the invocations, for callers that check
// more (which tests run them).
func CheckFiles(t testing.TB, root *cli.Command, files ...string) []Invocation {
	t.Helper()
	var all []Invocation
	for _, file := range files {
		md, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		invs := Extract(filepath.ToSlash(file), md, root.Name)
		for _, inv := range invs {
			for _, p := range Check(root, inv) {
				t.Errorf("%s:%d: %s\n\tin: %s", inv.File, inv.Line, p, inv.Text)
			}
		}
		all = append(all, invs...)
	}
	return all
}

// Path returns the command words of inv under root ("backup create"), as
// far as they name commands; "" for the root alone.
func Path(root *cli.Command, inv Invocation) string {
	var words []string
	cmd := root
	for _, a := range unbracket(inv.Args) {
		next := find(cmd, a)
		if next == nil {
			break
		}
		words = append(words, next.Name)
		cmd = next
	}
	return strings.Join(words, " ")
}

// unbracket removes the brackets of optional parts ("[--db FILE]").
func unbracket(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if strings.HasPrefix(a, "[-") || a == "[" {
			a = a[1:]
		}
		if strings.HasSuffix(a, "]") && !strings.Contains(a, "[") {
			a = a[:len(a)-1]
		}
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// arity returns how many arguments a usage's Args allow: "" none, "FILE"
// one, "FILE..." one or more (max -1), "[...]" any.
func arity(args string) (min, max int) {
	switch {
	case args == "":
		return 0, 0
	case strings.HasPrefix(args, "["):
		return 0, -1
	case strings.HasSuffix(args, "..."):
		return len(strings.Fields(args)), -1
	default:
		n := len(strings.Fields(args))
		return n, n
	}
}

func flagSet(cmd *cli.Command, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	return fs
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

func find(c *cli.Command, name string) *cli.Command {
	for _, s := range c.Subcommands {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func names(c *cli.Command) string {
	var n []string
	for _, s := range c.Subcommands {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// nearest suggests the flag of fs closest to name, as "; did you mean
// --x?", when one is within two edits.
func nearest(fs *flag.FlagSet, name string) string {
	best, dist := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := suggest.Distance(name, f.Name); d < dist {
			best, dist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return "; did you mean --" + best + "?"
}
