package tss

import (
	"fmt"
	"strings"
)

// Tolerance is what a t-of-n cluster survives (DESIGN.md section 3,
// docs/threat-model.md "Slashing: how many compromised signers").
type Tolerance struct {
	// N is the number of signers and T the threshold.
	N, T int
	// Liveness is how many signers may be down while the cluster still
	// signs: n-t.
	Liveness int
	// Safety is how many compromised signers cannot get a slashable pair
	// of messages signed: 2t-n-1. Any two quorums of t signers share
	// 2t-n signers, and one honest signer among them refuses the second of
	// two conflicting messages.
	Safety int
	// KeyTheft is how many compromised signers can recover a whole key: t.
	KeyTheft int
}

// ToleranceOf returns the tolerance of a t-of-n cluster, or the error of
// [CheckThreshold] for a threshold Rampart does not allow (t <= n/2
// among them).
func ToleranceOf(threshold, n int) (Tolerance, error) {
	if err := CheckThreshold(threshold, n); err != nil {
		return Tolerance{}, err
	}
	return Tolerance{N: n, T: threshold, Liveness: n - threshold, Safety: 2*threshold - n - 1, KeyTheft: threshold}, nil
}

// LowSafety reports whether a single compromised signer, with a
// compromised or misled coordinator, can get a slashable pair signed: the
// safety tolerance is below 1.
func (t Tolerance) LowSafety() bool { return t.Safety < 1 }

// String describes the tolerance in one operator-facing sentence.
func (t Tolerance) String() string {
	return fmt.Sprintf("%d-of-%d: keeps signing with up to %d signer(s) down (n-t); up to %d compromised signer(s) cannot get a slashable message signed (2t-n-1); %d compromised signers can recover a key (t)",
		t.T, t.N, t.Liveness, t.Safety, t.KeyTheft)
}

// ToleranceTable returns the markdown table of every allowed (n, t) with
// n up to maxN, as docs/threat-model.md shows it (a test keeps the two
// equal).
func ToleranceTable(maxN int) string {
	var b strings.Builder
	b.WriteString("| n | t | signers down, still signing (n-t) | compromised, no slashable pair (2t-n-1) | compromised to steal a key (t) |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for n := 1; n <= maxN; n++ {
		for t := n/2 + 1; t <= n; t++ {
			tol, err := ToleranceOf(t, n)
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "| %d | %d | %d | %d | %d |\n", n, t, tol.Liveness, tol.Safety, tol.KeyTheft)
		}
	}
	return b.String()
}
