package main

import (
	"os"
	"strings"
	"testing"
)

// TestManPageDescribesEveryCommand keeps packaging/man/rampartctl.1 in step
// with the command tree (issue 17: the page described 8 of 17 commands):
// every top-level command needs an item of its own under COMMANDS, an
// ".TP" followed by a ".B" line that starts with the command's name.
func TestManPageDescribesEveryCommand(t *testing.T) {
	raw, err := os.ReadFile("../../packaging/man/rampartctl.1")
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]bool{}
	lines := strings.Split(string(raw), "\n")
	section := ""
	for i, l := range lines {
		if name, ok := strings.CutPrefix(l, ".SH "); ok {
			section = name
		}
		if section != "COMMANDS" || l != ".TP" || i+1 == len(lines) {
			continue
		}
		if head, ok := strings.CutPrefix(lines[i+1], ".B "); ok {
			items[strings.Fields(head)[0]] = true
		}
	}
	for _, c := range root().Subcommands {
		if !items[c.Name] {
			t.Errorf("packaging/man/rampartctl.1 has no item for rampartctl %s under COMMANDS: add a .TP with a .B line starting %q (see rampartctl %s --help)", c.Name, c.Name, c.Name)
		}
	}
	if len(items) == 0 {
		t.Fatal("no command items found under .SH COMMANDS")
	}
}
