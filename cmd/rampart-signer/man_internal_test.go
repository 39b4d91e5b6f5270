package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestManPageListsEveryOption keeps packaging/man/rampart-signer.8 in step with
// the program's flags and signals (issue 17: --check-config and SIGHUP
// were missing from the pages): every flag, --version and --help are an
// option item (a line ".B \-\-name" or ".BI \-\-name ...").
func TestManPageListsEveryOption(t *testing.T) {
	raw, err := os.ReadFile("../../packaging/man/rampart-signer.8")
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	names := []string{"version", "help"}
	fs := flag.NewFlagSet("rampart-signer", flag.ContinueOnError)
	root().Flags(fs)
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for _, name := range names {
		item := regexp.MustCompile(`(?m)^\.BI? \\-\\-` + regexp.QuoteMeta(strings.ReplaceAll(name, "-", `\-`)) + `( |$)`)
		if !item.MatchString(page) {
			t.Errorf("packaging/man/rampart-signer.8 has no option item for --%s", name)
		}
	}
	for _, w := range []string{"SIGHUP", ".SH SIGNALS"} {
		if !strings.Contains(page, w) {
			t.Errorf("packaging/man/rampart-signer.8 lacks %q", w)
		}
	}
}
