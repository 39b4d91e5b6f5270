// Package buildinfo carries the version stamped into every binary at build
// time with -ldflags "-X github.com/rampart-signer/rampart/internal/buildinfo.version=...".
package buildinfo

import (
	"fmt"
	"runtime"
)

// version is set by the linker; "dev" marks an unstamped build.
var version = "dev"

// Version returns the stamped version.
func Version() string { return version }

// String returns the line printed by every command's --version.
func String(program string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)", program, version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
