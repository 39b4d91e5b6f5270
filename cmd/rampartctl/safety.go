package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/tss"
)

// acceptLowSafetyFlag is the flag that accepts, without a question, a
// threshold whose safety tolerance is below 1.
const acceptLowSafetyFlag = "accept-low-safety"

func registerAcceptLowSafety(fs *flag.FlagSet, v *bool) {
	fs.BoolVar(v, acceptLowSafetyFlag, false, "accept a threshold at which one compromised signer (with a misled coordinator) can get a slashable message signed (2t-n-1 < 1), without asking")
}

// errLowSafetyRefused is returned when the operator did not confirm a
// threshold with a safety tolerance below 1.
var errLowSafetyRefused = errors.New("threshold not confirmed")

// checkThreshold is the threshold safety check of every command that sets
// a threshold: it refuses t <= n/2, prints the liveness tolerance (n-t
// signers down) and the safety tolerance (2t-n-1 compromised signers
// cannot get a slashable message signed), and below a safety tolerance of
// 1 asks the operator to type "yes" unless accept is set. It asks only on
// an interactive input: a pipe or a file is never read, and the answer is
// then --accept-low-safety.
func checkThreshold(env *cli.Env, threshold, n int, accept bool) error {
	tol, err := tss.ToleranceOf(threshold, n)
	if err != nil {
		return cli.Usagef("--threshold: %v (a threshold must be more than half the signers: two disjoint quorums could otherwise sign conflicting messages with nobody compromised)", err)
	}
	fmt.Fprintf(env.Stderr, "threshold %d-of-%d: liveness: signing continues with up to %d signer(s) down (n-t = %d)\n", threshold, n, tol.Liveness, tol.Liveness)
	fmt.Fprintf(env.Stderr, "threshold %d-of-%d: safety: up to %d compromised signer(s) cannot get a slashable message signed (2t-n-1 = %d)\n", threshold, n, tol.Safety, tol.Safety)
	if !tol.LowSafety() {
		return nil
	}
	fmt.Fprintf(env.Stderr, "warning: at %d-of-%d a single compromised signer, with a compromised or misled coordinator, can get a slashable message signed: slashing protection then rests on every signer being honest. %s\n", threshold, n, saferThreshold(n))
	if accept {
		fmt.Fprintf(env.Stderr, "accepted by --%s\n", acceptLowSafetyFlag)
		return nil
	}
	if !interactive(env.Stdin) {
		return cli.Usagef("--threshold: %d-of-%d has a safety tolerance of %d: confirm with --%s, or choose a higher threshold", threshold, n, tol.Safety, acceptLowSafetyFlag)
	}
	fmt.Fprintf(env.Stderr, "type yes to continue with %d-of-%d: ", threshold, n)
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 64)).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: reading the answer: %w", errLowSafetyRefused, err)
		}
		return fmt.Errorf("%w: %d-of-%d (answer %q, not yes); run again with a higher --threshold, or with --%s", errLowSafetyRefused, threshold, n, strings.TrimSpace(line), acceptLowSafetyFlag)
	}
	return nil
}

// saferThreshold suggests the smallest threshold of n signers with a
// safety tolerance of at least 1, if there is one.
func saferThreshold(n int) string {
	for t := n/2 + 1; t <= n; t++ {
		if tol, err := tss.ToleranceOf(t, n); err == nil && !tol.LowSafety() {
			return fmt.Sprintf("With %d signers, --threshold %d tolerates 1 compromised signer and %d down.", n, t, tol.Liveness)
		}
	}
	return fmt.Sprintf("With %d signer(s) no threshold tolerates a compromised signer: add signers.", n)
}

// interactive reports whether the answer can come from an operator: a
// terminal (a character device), or an in-process reader of a test. A
// pipe or a regular file is never read, so a script cannot hang here.
func interactive(r io.Reader) bool {
	switch f := r.(type) {
	case nil:
		return false
	case *os.File:
		fi, err := f.Stat()
		return err == nil && fi.Mode()&os.ModeCharDevice != 0
	default:
		return true
	}
}
