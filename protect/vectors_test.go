package protect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// The EIP-3076 interchange test suite (eth-clients/slashing-protection-
// interchange-tests), run as its SOURCE.md says, against the complete-
// strategy expectations (should_succeed_complete). Each case also checks:
//
//   - contains_slashable_data against the import's conflict count;
//   - should_succeed (the minimal-strategy expectation) against a small
//     independent minimal-strategy model, so that no expectation in a case
//     file goes unchecked;
//   - export then import into a fresh database gives the same decisions.

const vectorsEnv = "INTERCHANGE_TESTS_DIR"

func vectorsDir() string {
	if d := os.Getenv(vectorsEnv); d != "" {
		return d
	}
	return filepath.Join("..", "testdata", "slashing-interchange", "tests", "generated")
}

type vectorCase struct {
	Name                  string       `json:"name"`
	GenesisValidatorsRoot string       `json:"genesis_validators_root"`
	Steps                 []vectorStep `json:"steps"`
}

type vectorStep struct {
	ShouldSucceed         bool            `json:"should_succeed"`
	ContainsSlashableData bool            `json:"contains_slashable_data"`
	Interchange           json.RawMessage `json:"interchange"`
	Blocks                []vectorBlock   `json:"blocks"`
	Attestations          []vectorAtt     `json:"attestations"`
}

type vectorBlock struct {
	Pubkey                string `json:"pubkey"`
	Slot                  uint64 `json:"slot,string"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         bool   `json:"should_succeed"`
	ShouldSucceedComplete bool   `json:"should_succeed_complete"`
}

type vectorAtt struct {
	Pubkey                string `json:"pubkey"`
	SourceEpoch           uint64 `json:"source_epoch,string"`
	TargetEpoch           uint64 `json:"target_epoch,string"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         bool   `json:"should_succeed"`
	ShouldSucceedComplete bool   `json:"should_succeed_complete"`
}

func loadVectors(t *testing.T) map[string]*vectorCase {
	t.Helper()
	dir := vectorsDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no interchange test cases in %s (set %s): %v", dir, vectorsEnv, err)
	}
	cases := map[string]*vectorCase{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		c := new(vectorCase)
		if err := dec.Decode(c); err != nil {
			t.Fatalf("%s: cannot read case: %v", f, err)
		}
		if len(c.Steps) == 0 {
			t.Fatalf("%s: case has no steps", f)
		}
		cases[filepath.Base(f)] = c
	}
	return cases
}

type vectorCounts struct{ cases, steps, checks, roundTrip int }

// check is one attempted signing, replayable on another database.
type check struct {
	block *vectorBlock
	att   *vectorAtt
}

// runCase runs one case and returns every way the implementation disagreed
// with it. An error means the case could not be run at all.
func runCase(ctx context.Context, dir string, c *vectorCase, n *vectorCounts) ([]string, error) {
	gvr, err := protect.ParseRoot(c.GenesisValidatorsRoot)
	if err != nil {
		return nil, fmt.Errorf("genesis_validators_root: %v", err)
	}
	db, err := protect.Create(ctx, filepath.Join(dir, "a.db"), gvr, testConfig())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var bad []string
	mismatch := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	model := newMinimalModel()
	var checks []check

steps:
	for si := range c.Steps {
		s := &c.Steps[si]
		n.steps++
		ic, err := protect.ParseInterchange(s.Interchange)
		var results []protect.ImportResult
		if err == nil {
			results, err = db.Import(ctx, ic)
		}
		imported := err == nil
		if imported != s.ShouldSucceed {
			mismatch("step %d: import succeeded=%v (%v), want %v", si, imported, err, s.ShouldSucceed)
		}
		if imported {
			model.importFile(ic)
			conflicts := 0
			for _, r := range results {
				conflicts += r.Conflicts
			}
			if (conflicts > 0) != s.ContainsSlashableData {
				mismatch("step %d: import found %d conflicts, contains_slashable_data=%v", si, conflicts, s.ContainsSlashableData)
			}
		} else if s.ContainsSlashableData {
			// SOURCE.md: refusing slashable data skips the rest of the case.
			break steps
		}
		for bi := range s.Blocks {
			b := &s.Blocks[bi]
			n.checks++
			checks = append(checks, check{block: b})
			ok, err := tryBlock(ctx, db, gvr, b)
			if err != nil {
				return nil, fmt.Errorf("step %d block %d: %v", si, bi, err)
			}
			if ok != b.ShouldSucceedComplete {
				mismatch("step %d block %d (slot %d): signed=%v, want should_succeed_complete=%v", si, bi, b.Slot, ok, b.ShouldSucceedComplete)
			}
			if m := model.block(b.Pubkey, b.Slot); m != b.ShouldSucceed {
				mismatch("step %d block %d: minimal model says %v, file says should_succeed=%v", si, bi, m, b.ShouldSucceed)
			}
		}
		for ai := range s.Attestations {
			a := &s.Attestations[ai]
			n.checks++
			checks = append(checks, check{att: a})
			ok, err := tryAtt(ctx, db, gvr, a)
			if err != nil {
				return nil, fmt.Errorf("step %d attestation %d: %v", si, ai, err)
			}
			if ok != a.ShouldSucceedComplete {
				mismatch("step %d attestation %d (%d->%d): signed=%v, want should_succeed_complete=%v", si, ai, a.SourceEpoch, a.TargetEpoch, ok, a.ShouldSucceedComplete)
			}
			if m := model.att(a.Pubkey, a.SourceEpoch, a.TargetEpoch); m != a.ShouldSucceed {
				mismatch("step %d attestation %d: minimal model says %v, file says should_succeed=%v", si, ai, m, a.ShouldSucceed)
			}
		}
	}

	// Export, re-import into a fresh database and replay every check on
	// both: the decisions must agree.
	ic, err := db.Export(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := ic.Marshal()
	if err != nil {
		return nil, err
	}
	back, err := protect.ParseInterchange(raw)
	if err != nil {
		return nil, fmt.Errorf("re-reading export: %v", err)
	}
	db2, err := protect.Create(ctx, filepath.Join(dir, "b.db"), gvr, testConfig())
	if err != nil {
		return nil, err
	}
	defer db2.Close()
	if _, err := db2.Import(ctx, back); err != nil {
		return nil, fmt.Errorf("importing export: %v", err)
	}
	for i, ch := range checks {
		n.roundTrip++
		var a, b bool
		var errA, errB error
		if ch.block != nil {
			a, errA = tryBlock(ctx, db, gvr, ch.block)
			b, errB = tryBlock(ctx, db2, gvr, ch.block)
		} else {
			a, errA = tryAtt(ctx, db, gvr, ch.att)
			b, errB = tryAtt(ctx, db2, gvr, ch.att)
		}
		if err := errors.Join(errA, errB); err != nil {
			return nil, fmt.Errorf("round trip check %d: %v", i, err)
		}
		if a != b {
			mismatch("round trip check %d: original signed=%v, re-imported export signed=%v", i, a, b)
		}
	}
	return bad, nil
}

// tryBlock reports whether the database permits the block; an error other
// than a slashing refusal (unknown key, bad input) means the case is broken.
func tryBlock(ctx context.Context, db *protect.DB, gvr protect.Root, b *vectorBlock) (bool, error) {
	k, err := protect.ParsePublicKey(b.Pubkey)
	if err != nil {
		return false, fmt.Errorf("pubkey: %v", err)
	}
	r, err := protect.ParseRoot(b.SigningRoot)
	if err != nil {
		return false, fmt.Errorf("signing_root: %v", err)
	}
	p, err := db.ApproveBlock(ctx, gvr, k, protect.Block{Slot: b.Slot, SigningRoot: r})
	return permitted(p, r, err)
}

func tryAtt(ctx context.Context, db *protect.DB, gvr protect.Root, a *vectorAtt) (bool, error) {
	k, err := protect.ParsePublicKey(a.Pubkey)
	if err != nil {
		return false, fmt.Errorf("pubkey: %v", err)
	}
	r, err := protect.ParseRoot(a.SigningRoot)
	if err != nil {
		return false, fmt.Errorf("signing_root: %v", err)
	}
	p, err := db.ApproveAttestation(ctx, gvr, k, protect.Attestation{Source: a.SourceEpoch, Target: a.TargetEpoch, SigningRoot: r})
	return permitted(p, r, err)
}

func permitted(p protect.Permit, r protect.Root, err error) (bool, error) {
	switch {
	case err == nil:
		if !p.Valid() || p.SigningRoot() != r {
			return false, fmt.Errorf("approved without a valid permit for the root")
		}
		return true, nil
	case errors.Is(err, protect.ErrRefused):
		if p.Valid() {
			return false, fmt.Errorf("refused but returned a valid permit")
		}
		return false, nil
	}
	return false, err
}

// minimalModel is the minimal strategy of EIP-3076 as the suite defines it:
// per key, the highest slot, source and target seen; a block must be above
// the slot, an attestation's source at least the source and its target
// above the target. It exists only to check should_succeed.
type minimalModel struct {
	slot, source, target map[string]uint64
	attested             map[string]bool
}

func newMinimalModel() *minimalModel {
	return &minimalModel{slot: map[string]uint64{}, source: map[string]uint64{}, target: map[string]uint64{}, attested: map[string]bool{}}
}

func (m *minimalModel) importFile(ic *protect.Interchange) {
	for _, v := range ic.Data {
		k := v.PublicKey.String()
		for _, b := range v.SignedBlocks {
			m.noteBlock(k, b.Slot)
		}
		for _, a := range v.SignedAttestations {
			m.noteAtt(k, a.SourceEpoch, a.TargetEpoch)
		}
	}
}

func (m *minimalModel) noteBlock(k string, slot uint64) {
	if s, ok := m.slot[k]; !ok || slot > s {
		m.slot[k] = slot
	}
}

func (m *minimalModel) noteAtt(k string, source, target uint64) {
	if !m.attested[k] || source > m.source[k] {
		m.source[k] = source
	}
	if !m.attested[k] || target > m.target[k] {
		m.target[k] = target
	}
	m.attested[k] = true
}

func (m *minimalModel) block(pub string, slot uint64) bool {
	k := canonicalHex(pub)
	if s, ok := m.slot[k]; ok && slot <= s {
		return false
	}
	m.noteBlock(k, slot)
	return true
}

func (m *minimalModel) att(pub string, source, target uint64) bool {
	k := canonicalHex(pub)
	if source > target || (m.attested[k] && (source < m.source[k] || target <= m.target[k])) {
		return false
	}
	m.noteAtt(k, source, target)
	return true
}

func canonicalHex(pub string) string {
	k, err := protect.ParsePublicKey(pub)
	if err != nil {
		return pub
	}
	return k.String()
}

func TestInterchangeVectors(t *testing.T) {
	cases := loadVectors(t)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	var n vectorCounts
	for _, name := range names {
		n.cases++
		t.Run(name, func(t *testing.T) {
			bad, err := runCase(context.Background(), t.TempDir(), cases[name], &n)
			if err != nil {
				t.Fatalf("cannot run case: %v", err)
			}
			for _, b := range bad {
				t.Error(b)
			}
		})
	}
	t.Logf("interchange suite %s: %d cases, %d steps, %d checks, %d round-trip checks", vectorsDir(), n.cases, n.steps, n.checks, n.roundTrip)
}

// TestInterchangeVectorsDetectFlippedExpectations flips every expectation
// in every case, one at a time, and requires the runner to notice. It shows
// the suite checks both directions: nothing expected to fail is signed and
// nothing expected to succeed is refused. contains_slashable_data is not an
// expectation when should_succeed is false (SOURCE.md), so it is not flipped
// there.
func TestInterchangeVectorsDetectFlippedExpectations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every case once per expectation")
	}
	cases := loadVectors(t)
	flips, missed := 0, 0
	for name, c := range cases {
		var bools []*bool
		for si := range c.Steps {
			s := &c.Steps[si]
			bools = append(bools, &s.ShouldSucceed)
			if s.ShouldSucceed {
				bools = append(bools, &s.ContainsSlashableData)
			}
			for bi := range s.Blocks {
				bools = append(bools, &s.Blocks[bi].ShouldSucceed, &s.Blocks[bi].ShouldSucceedComplete)
			}
			for ai := range s.Attestations {
				bools = append(bools, &s.Attestations[ai].ShouldSucceed, &s.Attestations[ai].ShouldSucceedComplete)
			}
		}
		for i, b := range bools {
			*b = !*b
			var n vectorCounts
			bad, err := runCase(context.Background(), t.TempDir(), c, &n)
			*b = !*b
			flips++
			if err == nil && len(bad) == 0 {
				missed++
				t.Errorf("%s: flipping expectation %d went unnoticed", name, i)
			}
		}
	}
	t.Logf("flipped %d expectations one at a time; %d went unnoticed", flips, missed)
}
