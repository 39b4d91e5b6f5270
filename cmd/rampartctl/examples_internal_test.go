package main

import (
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/signing"
)

func TestExamplesSignsEveryRequestType(t *testing.T) {
	code, out, errOut := run(t, "examples")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, typ := range signing.Types() {
		if !strings.Contains(out, "\n"+string(typ)+"  (") {
			t.Errorf("no %s in the demo output", typ)
		}
	}
	for _, want := range []string{
		"29 examples of 14 request types: 27 roots as published, 2 published roots wrong; every signature verified.",
		"is refused as published: fork_info.fork.currentVersion: unknown field",
		"0x548c9a015f4c96cb8b1ddbbdfca85846f85bf9f344a434c140f378cdfb5341f0  (as published)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Count(out, "(verified)") != 29 {
		t.Errorf("%d verified signatures, want 29", strings.Count(out, "(verified)"))
	}
}

func TestExamplesRefusesArguments(t *testing.T) {
	if code, _, _ := run(t, "demo", "extra"); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
