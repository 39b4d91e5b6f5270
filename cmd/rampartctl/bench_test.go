package main

import (
	"strings"
	"testing"
)

// Misuse of rampartctl bench is a usage error naming the flag, before
// anything is measured or sent.
func TestBenchRefusesMisuse(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint", []string{"bench", "--network", "hoodi"}, "--url or --cluster"},
		{"unknown mode", []string{"bench", "--url", "http://127.0.0.1:1", "--mode", "sideways"}, "--mode"},
		{"https without identity", []string{"bench", "--url", "https://127.0.0.1:1", "--network", "hoodi"}, "--ca, --cert and --key"},
		{"half an identity", []string{"bench", "--url", "https://127.0.0.1:1", "--ca", "ca.pem", "--cert", "c.pem"}, "--cert and --key go together"},
		{"no network", []string{"bench", "--url", "http://127.0.0.1:1"}, "the network is needed"},
		{"other scheme", []string{"bench", "--url", "ftp://127.0.0.1:1"}, "http:// or https://"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
		})
	}
}
