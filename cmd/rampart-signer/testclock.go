package main

import (
	"fmt"
	"time"
)

// testClockOffsetEnv shifts the signer's clock by a duration, for the
// chaos tests only (e2e/chaos: "a signer whose clock is off by several
// seconds", where faketime is not available). It is not a configuration
// field on purpose: no operator should ever set it, and the signer warns
// at every start when it is set. Its value is a Go duration ("-12s").
const testClockOffsetEnv = "RAMPART_TEST_CLOCK_OFFSET"

// testClock returns the clock the environment asks for: nil (the real
// clock) when testClockOffsetEnv is unset or empty.
func testClock(getenv func(string) string) (func() time.Time, time.Duration, error) {
	v := getenv(testClockOffsetEnv)
	if v == "" {
		return nil, 0, nil
	}
	off, err := time.ParseDuration(v)
	if err != nil {
		return nil, 0, fmt.Errorf("%s=%q: %w (a duration such as -12s; unset it outside the chaos tests)", testClockOffsetEnv, v, err)
	}
	return func() time.Time { return time.Now().Add(off) }, off, nil
}
