package systemd_test

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-signer/rampart/internal/bls"
)

// The BLS library (herumi mcl) carries a JIT code generator (xbyak). The
// units set MemoryDenyWriteExecute=yes, under which no mapping may become
// executable; this test proves signing still works then, so the setting
// cannot turn into a signer that crashes at its first signature. It re-runs
// the test binary with the kernel's equivalent, prctl(PR_SET_MDWE), set.

const mdweChildEnv = "RAMPART_MDWE_CHILD"

const (
	prSetMDWE            = 65 // PR_SET_MDWE, Linux 6.3
	prMDWERefuseExecGain = 1  // PR_MDWE_REFUSE_EXEC_GAIN
)

func TestBLSSignsUnderMemoryDenyWriteExecute(t *testing.T) {
	if os.Getenv(mdweChildEnv) == "1" {
		mdweChild(t)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBLSSignsUnderMemoryDenyWriteExecute$", "-test.count=1")
	cmd.Env = append(os.Environ(), mdweChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Skipf("kernel lacks PR_SET_MDWE (Linux 6.3+): %s", out)
	default:
		t.Fatalf("BLS signing under W^X failed: %v\n%s", err, out)
	}
}

func mdweChild(t *testing.T) {
	if err := unix.Prctl(prSetMDWE, prMDWERefuseExecGain, 0, 0, 0); err != nil {
		// Exit status 3 tells the parent to skip, not fail.
		os.Stderr.WriteString("prctl(PR_SET_MDWE): " + err.Error() + "\n")
		os.Exit(3)
	}
	// The restriction is in force: a fresh writable page cannot become
	// executable.
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(page, unix.PROT_READ|unix.PROT_EXEC); err == nil {
		t.Fatal("mprotect(PROT_EXEC) succeeded under PR_SET_MDWE: the test would prove nothing")
	}
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := [32]byte{1, 2, 3}
	if !sk.Sign(msg).Verify(sk.PublicKey(), msg) {
		t.Fatal("signature made under W^X does not verify")
	}
}
