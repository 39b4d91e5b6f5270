// Package clitest runs a command's test binary as the command itself, so
// that the tests of cmd/* see a real process: its exit status, its
// standard error, its signals. It is for tests only.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
