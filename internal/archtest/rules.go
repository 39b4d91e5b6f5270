package archtest

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the module path every rule is relative to.
const Module = "github.com/rampart-signer/rampart"

// leaves are rooms that import no sibling room.
var leaves = []string{"hsm", "tss", "protect", "beacon"}

// rooms are the top-level packages that hold one job each. Building blocks
// in internal/ may use tss, the pure threshold-cryptography leaf (no I/O),
// because the coordinator they share recovers signatures with it; every
// other room stays out of internal/.
var rooms = []string{"appliance", "hsm", "tss", "protect", "beacon", "vc", "gateway"}

// harnesses drive the whole system from outside (end-to-end and
// adversarial tests and their tools): like the mains in cmd/ they may see
// every room, and nothing may import them.
var harnesses = []string{"e2e", "redteam"}

// daemon is the signer daemon's package. Its sub-packages are its parts
// (ceremonies, the administrative API, the audit log, shared internals),
// which it wires: none of them imports it, so that none can reach the
// daemon's struct. The development tools that provision whole signers are
// the exception.
const daemon = "appliance"

// daemonTools are the sub-packages of the daemon that build whole signers
// for development and tests, and so import the daemon's configuration.
var daemonTools = []string{"appliance/localcluster", "appliance/devnet"}

// isDaemonPart reports whether pkg is a sub-package of the daemon other
// than a development tool.
func isDaemonPart(pkg string) bool {
	rest, ok := strings.CutPrefix(pkg, Module+"/"+daemon+"/")
	if !ok {
		return false
	}
	for _, t := range daemonTools {
		if p := strings.TrimPrefix(t, daemon+"/"); rest == p || strings.HasPrefix(rest, p+"/") {
			return false
		}
	}
	return true
}

// room returns the top-level directory of a module package ("" outside the
// module), e.g. "tss" for .../tss/dkg and "internal" for .../internal/bls.
func room(pkg string) string {
	if pkg != Module && !strings.HasPrefix(pkg, Module+"/") {
		return ""
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, Module), "/")
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Check applies the dependency rules to a graph mapping each module package
// to the full set of packages it depends on (directly or not), and returns
// one message per violation, sorted.
func Check(deps map[string][]string) []string {
	var bad []string
	for pkg, ds := range deps {
		from := room(pkg)
		seen := map[string]bool{}
		for _, d := range ds {
			to := room(d)
			if d == Module+"/"+daemon && isDaemonPart(pkg) {
				bad = append(bad, fmt.Sprintf("%s, a part of the daemon, imports the daemon %s: declare what it needs as an interface and let the daemon wire it", pkg, d))
			}
			if to == "" || to == from {
				continue
			}
			seen[to] = true
			switch {
			case to == "cmd":
				bad = append(bad, fmt.Sprintf("%s imports a main package %s", pkg, d))
			case contains(harnesses, to):
				bad = append(bad, fmt.Sprintf("%s imports the test harness %s", pkg, d))
			case contains(leaves, from) && contains(rooms, to):
				bad = append(bad, fmt.Sprintf("leaf %s depends on sibling %s (%s)", pkg, to, d))
			case (from == "vc" || from == "gateway") && (to == "appliance" || to == "hsm" || to == "protect"):
				// The clients of a cluster hold no share and no slashing
				// database: they reach the signers over the network only.
				bad = append(bad, fmt.Sprintf("%s package %s depends on %s (%s)", from, pkg, to, d))
			case from == "internal" && contains(rooms, to) && to != "tss":
				bad = append(bad, fmt.Sprintf("building block %s depends on room %s (%s)", pkg, to, d))
			}
		}
		if from != "appliance" && from != "cmd" && !contains(harnesses, from) && seen["hsm"] && seen["tss"] && seen["protect"] {
			bad = append(bad, fmt.Sprintf("%s sees hsm, tss and protect together; only appliance may", pkg))
		}
	}
	sort.Strings(bad)
	// One violation can be reached through many paths; report it once.
	out := bad[:0]
	for i, b := range bad {
		if i == 0 || b != bad[i-1] {
			out = append(out, b)
		}
	}
	return out
}
