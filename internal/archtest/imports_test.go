package archtest_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/archtest"
)

// TestImportDirection runs the rules over the real module with go list -deps.
func TestImportDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, archtest.Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	if len(deps) < 3 {
		t.Fatalf("go list found only %d packages", len(deps))
	}
	for _, v := range archtest.Check(deps) {
		t.Error(v)
	}
}

func TestCheckCatchesViolations(t *testing.T) {
	m := archtest.Module + "/"
	for _, tc := range []struct {
		name string
		deps map[string][]string
		want string
	}{
		{"leaf importing a sibling", map[string][]string{m + "tss": {m + "hsm"}}, "leaf " + m + "tss depends on sibling hsm"},
		{"leaf sub-package importing a sibling", map[string][]string{m + "protect/x": {m + "beacon/y"}}, "depends on sibling beacon"},
		{"vc importing protect", map[string][]string{m + "vc": {m + "protect"}}, "vc package " + m + "vc depends on protect"},
		{"vc importing appliance", map[string][]string{m + "vc": {m + "appliance"}}, "depends on appliance"},
		{"gateway importing protect", map[string][]string{m + "gateway": {m + "protect"}}, "gateway package " + m + "gateway depends on protect"},
		{"gateway importing hsm", map[string][]string{m + "gateway": {m + "hsm"}}, "depends on hsm"},
		{"internal importing a room", map[string][]string{m + "internal/signing": {m + "protect"}}, "building block"},
		{"the peer client importing the daemon", map[string][]string{m + "internal/peer": {m + "appliance"}}, "building block"},
		{"deposit data importing slashing protection", map[string][]string{m + "internal/deposit": {m + "protect"}}, "building block"},
		{"the ceremonies importing the daemon", map[string][]string{m + "appliance/ceremony": {m + "appliance"}}, "a part of the daemon"},
		{"the administrative API importing the daemon", map[string][]string{m + "appliance/adminapi": {m + "appliance"}}, "a part of the daemon"},
		{"a daemon part reaching the daemon through a tool", map[string][]string{m + "appliance/ceremony": {m + "appliance/localcluster", m + "appliance"}}, "a part of the daemon"},
		{"importing a main", map[string][]string{m + "appliance": {m + "cmd/rampartctl"}}, "imports a main package"},
		{"third package seeing all three", map[string][]string{m + "vc/x": {m + "hsm", m + "tss", m + "protect"}}, "sees hsm, tss and protect together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := archtest.Check(tc.deps)
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Fatalf("violations %q lack %q", got, tc.want)
			}
		})
	}
	ok := map[string][]string{
		m + "appliance":              {m + "hsm", m + "tss", m + "protect", m + "internal/bls"},
		m + "vc":                     {m + "beacon", m + "internal/coordinator"},
		m + "gateway":                {m + "internal/coordinator", m + "internal/signing", m + "tss"},
		m + "tss":                    {m + "internal/bls", "fmt"},
		m + "cmd/rampartctl":         {m + "appliance", m + "hsm"},
		m + "internal/signing":       {m + "internal/bls"},
		m + "internal/coordinator":   {m + "tss", m + "internal/bls", m + "internal/peer"},
		m + "internal/peer":          {m + "tss", m + "internal/api"},
		m + "internal/deposit":       {m + "internal/bls", m + "internal/signing"},
		m + "appliance/ceremony":     {m + "appliance/adminapi", m + "appliance/internal/web", m + "hsm", m + "tss"},
		m + "appliance/localcluster": {m + "appliance", m + "hsm"},
		m + "appliance/devnet":       {m + "appliance", m + "appliance/localcluster"},
	}
	if got := archtest.Check(ok); len(got) != 0 {
		t.Fatalf("allowed graph reported: %q", got)
	}
}
