package systemd_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

var shippedUnitRE = regexp.MustCompile(`(?m)^\s*dst: /lib/systemd/system/(\S+)\s*$`)

// TestPackagesShipEveryMeasuredUnit keeps three lists the same: the unit
// files here, the units the sandbox tests measure, and the units the .deb
// packages install (packaging/nfpm). A unit written but never packaged, or
// packaged but never measured, fails here.
func TestPackagesShipEveryMeasuredUnit(t *testing.T) {
	files, err := filepath.Glob("*.service")
	if err != nil {
		t.Fatal(err)
	}
	configs, err := filepath.Glob(filepath.Join("..", "packaging", "nfpm", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) == 0 {
		t.Fatal("no package definitions in ../packaging/nfpm")
	}
	var shipped []string
	for _, c := range configs {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range shippedUnitRE.FindAllSubmatch(b, -1) {
			shipped = append(shipped, string(m[1]))
		}
	}
	measured := slices.Clone(units)
	for _, l := range [][]string{files, shipped, measured} {
		slices.Sort(l)
	}
	if !slices.Equal(files, measured) {
		t.Errorf("unit files %v, but the sandbox tests measure %v", files, measured)
	}
	if !slices.Equal(shipped, measured) {
		t.Errorf("the packages install %v, but the sandbox tests measure %v", shipped, measured)
	}
}
