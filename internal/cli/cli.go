// Package cli is the small command-tree runner the three binaries share:
// standard library flags, subcommands, --help and --version, and exit codes
// (0 success, 1 failure, 2 usage error). It holds no global state; each main
// builds its tree and calls [Main].
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/rampart-signer/rampart/internal/buildinfo"
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command is one node of a command tree. A node either runs (Run) or groups
// subcommands (Subcommands), never both.
type Command struct {
	// Name is the word that selects the command.
	Name string
	// Args names positional arguments in the usage line, e.g. "FILE".
	Args string
	// Summary is a one-line description.
	Summary string
	// Description is optional longer help text.
	Description string
	// Flags registers the command's flags; values are captured by the
	// closures that Run uses.
	Flags func(fs *flag.FlagSet)
	// Run executes the command with the positional arguments left after
	// flag parsing.
	Run func(ctx context.Context, env *Env, args []string) error
	// Subcommands of a group.
	Subcommands []*Command
}

// UsageError marks an error as the caller's misuse (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitError asks for a specific exit status, e.g. 2 for a configuration
// a service manager must not retry.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// Exit statuses. The daemons' systemd units restart on ExitFailure and
// never on ExitNoRestart (RestartPreventExitStatus=2).
const (
	// ExitFailure: something failed that may work when tried again.
	ExitFailure = 1
	// ExitNoRestart: a usage or configuration error, or a failure that
	// trying again cannot fix and may make worse (a wrong HSM PIN).
	ExitNoRestart = 2
)

// NoRestart marks err for exit status [ExitNoRestart].
func NoRestart(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitNoRestart, Err: err}
}

// Usagef returns a [UsageError].
func Usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Main runs root with os.Args-style args (without the program name) and
// returns the process exit status. SIGINT and SIGTERM cancel the context.
func Main(program string, root *Command, args []string, env *Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, program, root, args, env)
}

// Run is [Main] with a caller-supplied context, for tests.
func Run(ctx context.Context, program string, root *Command, args []string, env *Env) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(env.Stdout, buildinfo.String(program))
		return 0
	}
	path := []string{program}
	cmd := root
	for len(cmd.Subcommands) > 0 {
		if len(args) == 0 || isHelp(args[0]) {
			printGroupUsage(env.Stdout, path, cmd)
			if len(args) == 0 {
				return 2
			}
			return 0
		}
		next := cmd.find(args[0])
		if next == nil {
			fmt.Fprintf(env.Stderr, "%s: unknown command %q\n", strings.Join(path, " "), args[0])
			printGroupUsage(env.Stderr, path, cmd)
			return 2
		}
		path = append(path, next.Name)
		cmd, args = next, args[1:]
	}
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	// flag prints its own error line; usage is printed here, to stdout
	// when asked for and to stderr after a mistake.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(env.Stdout, path, cmd, fs)
			return 0
		}
		printCommandUsage(env.Stderr, path, cmd, fs)
		return 2
	}
	if err := cmd.Run(ctx, env, fs.Args()); err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.Stderr, "%s: %v\n", strings.Join(path, " "), err)
			printCommandUsage(env.Stderr, path, cmd, fs)
			return 2
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", strings.Join(path, " "), err)
		var ee *ExitError
		if errors.As(err, &ee) && ee.Code > 0 {
			return ee.Code
		}
		return 1
	}
	return 0
}

func (c *Command) find(name string) *Command {
	for _, s := range c.Subcommands {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

func printGroupUsage(w io.Writer, path []string, c *Command) {
	fmt.Fprintf(w, "Usage: %s <command> [flags] [args]\n", strings.Join(path, " "))
	if c.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", c.Summary)
	}
	if c.Description != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Description))
	}
	fmt.Fprintf(w, "\nCommands:\n")
	subs := append([]*Command(nil), c.Subcommands...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	for _, s := range subs {
		fmt.Fprintf(w, "  %-16s %s\n", s.Name, s.Summary)
	}
	if len(path) == 1 {
		fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags; '%s --version' for the version.\n", path[0], path[0])
	}
}

func printCommandUsage(w io.Writer, path []string, c *Command, fs *flag.FlagSet) {
	line := strings.Join(path, " ") + " [flags]"
	if c.Args != "" {
		line += " " + c.Args
	}
	fmt.Fprintf(w, "Usage: %s\n", line)
	if c.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", c.Summary)
	}
	if c.Description != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Description))
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
