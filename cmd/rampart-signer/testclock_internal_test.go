package main

import (
	"testing"
	"time"
)

func TestTestClockOffset(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == testClockOffsetEnv {
				return v
			}
			return ""
		}
	}
	if now, _, err := testClock(env("")); now != nil || err != nil {
		t.Fatalf("unset: want the real clock, got a shifted one (%v)", err)
	}
	now, off, err := testClock(env("-12s"))
	if err != nil || off != -12*time.Second {
		t.Fatalf("-12s: %v %v", off, err)
	}
	before := time.Now()
	got := now()
	after := time.Now()
	if got.Before(before.Add(off)) || got.After(after.Add(off)) {
		t.Errorf("the shifted clock reads %s, want between %s and %s", got, before.Add(off), after.Add(off))
	}
	if _, _, err := testClock(env("twelve")); err == nil {
		t.Error("a value that is not a duration was accepted")
	}
}
