// Package clitest runs a command's test binary as the command itself, so
// that the tests of cmd/* see a real process: its exit status, its
// standard error, its signals. It is for tests only.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/cli"
)

// Main runs main instead of the tests when the environment variable
// switch is "1" (set by Run); call it from TestMain.
func Main(m *testing.M, switchVar string, main func()) {
	if os.Getenv(switchVar) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// Run runs this test binary as the command (switchVar=1) with args and
// env added to this process's environment, for at most two minutes, and
// returns its exit status and what it wrote to standard error.
func Run(t testing.TB, switchVar string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), switchVar+"=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatalf("running %s as the command: %v\n%s", os.Args[0], err, stderr.String())
	}
	return 0, stderr.String()
}

// LastJSONLog returns the last line of stderr that is a JSON object (a
// log line of a daemon logging in JSON), failing the test when there is
// none.
func LastJSONLog(t testing.TB, stderr string) map[string]any {
	t.Helper()
	lines := strings.Split(stderr, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil {
			return m
		}
	}
	t.Fatalf("no JSON log line in:\n%s", stderr)
	return nil
}

// ManPageListsEveryOption keeps a daemon's manual page in step with its
// flags and signals (issue 17: --check-config and SIGHUP were missing from
// the pages): every flag of cmd, --version and --help are an option item
// of the page at path (a line ".B \-\-name" or ".BI \-\-name ..."), and
// the page holds each of the words given (a SIGNALS section, say).
func ManPageListsEveryOption(t testing.TB, path string, cmd *cli.Command, words ...string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	names := []string{"version", "help"}
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for _, name := range names {
		item := regexp.MustCompile(`(?m)^\.BI? \\-\\-` + regexp.QuoteMeta(strings.ReplaceAll(name, "-", `\-`)) + `( |$)`)
		if !item.MatchString(page) {
			t.Errorf("%s has no option item for --%s", path, name)
		}
	}
	for _, w := range words {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", path, w)
		}
	}
}

// StoppedWithError checks that a daemon logging JSON ended with its
// "stopped" line at level ERROR, whose err holds want: a fatal start-up
// error reaches JSON logs too (issue 17: it was only printed as text).
func StoppedWithError(t testing.TB, stderr, want string) {
	t.Helper()
	last := LastJSONLog(t, stderr)
	if errText, _ := last["err"].(string); last["msg"] != "stopped" || last["level"] != "ERROR" || !strings.Contains(errText, want) {
		t.Fatalf("last JSON log line %v; want msg stopped, level ERROR and %q in err:\n%s", last, want, stderr)
	}
}
