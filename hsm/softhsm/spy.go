package softhsm

import (
	"os"
	"path/filepath"
	"strings"
)

// SpyModule is OpenSC's PKCS#11 spy: a module that passes every call on
// to the module named by PKCS11SPY and logs it to PKCS11SPY_OUTPUT. Tests
// count login attempts with it.
const SpyModule = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"

// Spy is the spy in front of one module, for a process started with Env
// that opens SpyModule in the module's place.
type Spy struct {
	// Log receives the calls.
	Log string
	// Env is the environment the process needs for the spy.
	Env []string
}

// NewSpy returns the spy in front of module, logging into dir, or nil when
// OpenSC's spy is not installed.
func NewSpy(dir, module string) *Spy {
	if _, err := os.Stat(SpyModule); err != nil {
		return nil
	}
	log := filepath.Join(dir, "pkcs11-spy.log")
	return &Spy{Log: log, Env: []string{"PKCS11SPY=" + module, "PKCS11SPY_OUTPUT=" + log}}
}

// Logins counts the C_Login calls in the spy's log; -1 for a nil Spy (no
// spy installed).
func (s *Spy) Logins() (int, error) {
	if s == nil {
		return -1, nil
	}
	data, err := os.ReadFile(s.Log)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), "C_Login") {
			n++
		}
	}
	return n, nil
}
