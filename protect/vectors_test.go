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
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// The EIP-3076 interchange test suite (eth-clients/slashing-protection-
// interchange-tests), run as its SOURCE.md says, against the complete-
// strategy expectations (should_succeed_complete), every case file of it
// with no exception, plus the cases in testdata/interchange-extra (later
// cases of the same suite; see the SOURCE.md there). Each case also checks:
//
//   - contains_slashable_data against the import's conflict count;
//   - should_succeed (the minimal-strategy expectation) against a small
//     independent minimal-strategy model, so that no expectation in a case
//     file goes unchecked;
//   - after every import, the database's export imported into a fresh
//     database gives the same decisions for that step's blocks and
//     attestations, each as the file expects;
//   - at the end, export then import into a fresh database, and every
//     check of the case replayed on both gives the same answer.

const vectorsEnv = "INTERCHANGE_TESTS_DIR"

func vectorsDir() string {
	if d := os.Getenv(vectorsEnv); d != "" {
		return d
	}
	return filepath.Join("..", "testdata", "slashing-interchange", "tests", "generated")
}

// extraVectorsDir holds cases of the suite that the copy above lacks.
const extraVectorsDir = "testdata/interchange-extra"

type vectorCase struct {
	Name                  string       `json:"name"`
	GenesisValidatorsRoot string       `json:"genesis_validators_root"`
	Steps                 []vectorStep `json:"steps"`
}

type vectorStep struct {
	ShouldSucceed         *bool           `json:"should_succeed"`
	ContainsSlashableData *bool           `json:"contains_slashable_data"`
	Interchange           json.RawMessage `json:"interchange"`
	Blocks                []vectorBlock   `json:"blocks"`
	Attestations          []vectorAtt     `json:"attestations"`
}

// The expectations are pointers so that a case lacking one is refused
// instead of read as false.
type vectorBlock struct {
	Pubkey                string `json:"pubkey"`
	Slot                  uint64 `json:"slot,string"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         *bool  `json:"should_succeed"`
	ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
}

type vectorAtt struct {
	Pubkey                string `json:"pubkey"`
	SourceEpoch           uint64 `json:"source_epoch,string"`
	TargetEpoch           uint64 `json:"target_epoch,string"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         *bool  `json:"should_succeed"`
	ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
}

// loadVectorDir reads every case file of dir, in name order.
func loadVectorDir(dir string) ([]string, map[string]*vectorCase, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("no interchange test cases in %s (set %s): %v", dir, vectorsEnv, err)
	}
	sort.Strings(files)
	cases := map[string]*vectorCase{}
	var names []string
	for _, f := range files {
		c, err := loadVector(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		names = append(names, name)
		cases[name] = c
	}
	return names, cases, nil
}

func loadVector(file string) (*vectorCase, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	c := new(vectorCase)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("cannot read case: %v", err)
	}
	if len(c.Steps) == 0 {
		return nil, errors.New("case has no steps")
	}
	for si, s := range c.Steps {
		if s.ShouldSucceed == nil || s.ContainsSlashableData == nil {
			return nil, fmt.Errorf("step %d: should_succeed or contains_slashable_data missing", si)
		}
		for bi, b := range s.Blocks {
			if b.ShouldSucceed == nil || b.ShouldSucceedComplete == nil {
				return nil, fmt.Errorf("step %d block %d: an expectation is missing", si, bi)
			}
		}
		for ai, a := range s.Attestations {
			if a.ShouldSucceed == nil || a.ShouldSucceedComplete == nil {
				return nil, fmt.Errorf("step %d attestation %d: an expectation is missing", si, ai)
			}
		}
	}
	return c, nil
}

type vectorCounts struct {
	files, steps, imports, blocks, attestations, stepRoundTrip, roundTrip int
}

func (n vectorCounts) String() string {
	return fmt.Sprintf("%d files, %d steps (%d imports), %d blocks and %d attestations checked, %d checked again after a step's export and re-import, %d replayed after the case's",
		n.files, n.steps, n.imports, n.blocks, n.attestations, n.stepRoundTrip, n.roundTrip)
}

// runVectorDir runs every case of dir and returns every disagreement, each
// prefixed with its file name.
func runVectorDir(ctx context.Context, tmp, dir string) (vectorCounts, []string, error) {
	var n vectorCounts
	names, cases, err := loadVectorDir(dir)
	if err != nil {
		return n, nil, err
	}
	var bad []string
	for i, name := range names {
		n.files++
		caseDir := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.Mkdir(caseDir, 0o700); err != nil {
			return n, nil, err
		}
		got, err := runCase(ctx, caseDir, cases[name], &n)
		if err != nil {
			return n, nil, fmt.Errorf("%s: cannot run case: %v", name, err)
		}
		for _, b := range got {
			bad = append(bad, name+": "+b)
		}
	}
	return n, bad, nil
}

// check is one attempted signing, replayable on another database.
type check struct {
	block *vectorBlock
	att   *vectorAtt
}

func (c check) try(ctx context.Context, db *protect.DB, gvr protect.Root) (bool, error) {
	if c.block != nil {
		return tryBlock(ctx, db, gvr, c.block)
	}
	return tryAtt(ctx, db, gvr, c.att)
}

func (c check) String() string {
	if c.block != nil {
		return fmt.Sprintf("block (slot %d)", c.block.Slot)
	}
	return fmt.Sprintf("attestation (%d->%d)", c.att.SourceEpoch, c.att.TargetEpoch)
}

func (c check) complete() bool {
	if c.block != nil {
		return *c.block.ShouldSucceedComplete
	}
	return *c.att.ShouldSucceedComplete
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
		if imported != *s.ShouldSucceed {
			mismatch("step %d: import succeeded=%v (%v), want %v", si, imported, err, *s.ShouldSucceed)
		}
		if imported {
			n.imports++
			model.importFile(ic)
			conflicts := 0
			for _, r := range results {
				conflicts += r.Conflicts
			}
			if (conflicts > 0) != *s.ContainsSlashableData {
				mismatch("step %d: import found %d conflicts, contains_slashable_data=%v", si, conflicts, *s.ContainsSlashableData)
			}
		} else if *s.ContainsSlashableData {
			// SOURCE.md: refusing slashable data skips the rest of the case.
			break steps
		}

		// The other direction: what this database exports now must, in a
		// fresh database, decide this step's checks the same way.
		var step []check
		for bi := range s.Blocks {
			step = append(step, check{block: &s.Blocks[bi]})
		}
		for ai := range s.Attestations {
			step = append(step, check{att: &s.Attestations[ai]})
		}
		mirror, err := reimport(ctx, db, gvr, filepath.Join(dir, fmt.Sprintf("step%d.db", si)))
		if err != nil {
			return nil, fmt.Errorf("step %d: %v", si, err)
		}
		for ci, ch := range step {
			if ch.block != nil {
				n.blocks++
			} else {
				n.attestations++
			}
			checks = append(checks, ch)
			ok, err := ch.try(ctx, db, gvr)
			if err != nil {
				mirror.Close()
				return nil, fmt.Errorf("step %d %v: %v", si, ch, err)
			}
			if ok != ch.complete() {
				mismatch("step %d check %d %v: signed=%v, want should_succeed_complete=%v", si, ci, ch, ok, ch.complete())
			}
			n.stepRoundTrip++
			okMirror, err := ch.try(ctx, mirror, gvr)
			if err != nil {
				mirror.Close()
				return nil, fmt.Errorf("step %d %v on the re-imported export: %v", si, ch, err)
			}
			if okMirror != ch.complete() {
				mismatch("step %d check %d %v on the re-imported export: signed=%v, want should_succeed_complete=%v", si, ci, ch, okMirror, ch.complete())
			}
			var m, want bool
			if ch.block != nil {
				m, want = model.block(ch.block.Pubkey, ch.block.Slot), *ch.block.ShouldSucceed
			} else {
				m, want = model.att(ch.att.Pubkey, ch.att.SourceEpoch, ch.att.TargetEpoch), *ch.att.ShouldSucceed
			}
			if m != want {
				mismatch("step %d check %d %v: minimal model says %v, file says should_succeed=%v", si, ci, ch, m, want)
			}
		}
		if err := mirror.Close(); err != nil {
			return nil, err
		}
	}

	// Export, re-import into a fresh database and replay every check on
	// both: the decisions must agree.
	db2, err := reimport(ctx, db, gvr, filepath.Join(dir, "b.db"))
	if err != nil {
		return nil, err
	}
	defer db2.Close()
	for i, ch := range checks {
		n.roundTrip++
		a, errA := ch.try(ctx, db, gvr)
		b, errB := ch.try(ctx, db2, gvr)
		if err := errors.Join(errA, errB); err != nil {
			return nil, fmt.Errorf("round trip check %d: %v", i, err)
		}
		if a != b {
			mismatch("round trip check %d %v: original signed=%v, re-imported export signed=%v", i, ch, a, b)
		}
	}
	return bad, nil
}

// reimport exports db through JSON into a new database at path.
func reimport(ctx context.Context, db *protect.DB, gvr protect.Root, path string) (*protect.DB, error) {
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
	out, err := protect.Create(ctx, path, gvr, testConfig())
	if err != nil {
		return nil, err
	}
	if _, err := out.Import(ctx, back); err != nil {
		out.Close()
		return nil, fmt.Errorf("importing export: %v", err)
	}
	return out, nil
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

// TestInterchangeVectors runs the whole suite and the extra cases and
// prints what it checked.
func TestInterchangeVectors(t *testing.T) {
	for _, dir := range []string{vectorsDir(), extraVectorsDir} {
		n, bad, err := runVectorDir(context.Background(), t.TempDir(), dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Error(b)
		}
		if n.blocks == 0 || n.attestations == 0 {
			t.Errorf("%s: nothing was checked (%v)", dir, n)
		}
		t.Logf("interchange suite %s: %v; %d disagreements", dir, n, len(bad))
	}
}

// TestInterchangeRunnerFailsOnAnAlteredVector copies the suite, flips one
// expectation of one case file in the copy and requires the runner to
// report exactly that file, for each kind of expectation.
func TestInterchangeRunnerFailsOnAnAlteredVector(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		flip func(doc map[string]any) // flips one boolean
	}{
		{"a block's should_succeed_complete", "single_validator_multiple_blocks_and_attestations.json", func(doc map[string]any) {
			flipAt(doc, "steps", 0, "blocks", 5, "should_succeed_complete") // slot 4: signs in the complete strategy
		}},
		{"an attestation's should_succeed_complete", "single_validator_multiple_blocks_and_attestations.json", func(doc map[string]any) {
			flipAt(doc, "steps", 0, "attestations", 0, "should_succeed_complete") // 9->10: refused
		}},
		{"an attestation's should_succeed", "single_validator_single_attestation.json", func(doc map[string]any) {
			flipAt(doc, "steps", 0, "attestations", 4, "should_succeed")
		}},
		{"an import's should_succeed", "wrong_genesis_validators_root.json", func(doc map[string]any) {
			flipAt(doc, "steps", 0, "should_succeed")
		}},
		{"contains_slashable_data", "single_validator_slashable_blocks.json", func(doc map[string]any) {
			flipAt(doc, "steps", 0, "contains_slashable_data")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := vectorsDir()
			dst := t.TempDir()
			entries, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				raw, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if e.Name() == tc.file {
					var doc map[string]any
					if err := json.Unmarshal(raw, &doc); err != nil {
						t.Fatal(err)
					}
					tc.flip(doc)
					if raw, err = json.Marshal(doc); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(dst, e.Name()), raw, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n, bad, err := runVectorDir(context.Background(), t.TempDir(), dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) == 0 {
				t.Fatalf("the runner passed a suite with %s of %s flipped (%v)", tc.name, tc.file, n)
			}
			for _, b := range bad {
				if !strings.HasPrefix(b, tc.file+": ") {
					t.Errorf("disagreement outside the altered file: %s", b)
				}
			}
			t.Logf("altered %s: %s", tc.file, strings.Join(bad, "; "))
		})
	}
}

// flipAt negates the boolean at path (object keys and array indices) in a
// decoded JSON document, failing loudly if the path does not lead to one.
func flipAt(doc map[string]any, path ...any) {
	var cur any = doc
	for i, p := range path {
		last := i == len(path)-1
		switch p := p.(type) {
		case string:
			m := cur.(map[string]any)
			if last {
				m[p] = !m[p].(bool)
				return
			}
			cur = m[p]
		case int:
			cur = cur.([]any)[p]
		}
	}
	panic(fmt.Sprintf("flipAt: path %v ends on no boolean", path))
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
	flips, missed := 0, 0
	for _, dir := range []string{vectorsDir(), extraVectorsDir} {
		names, cases, err := loadVectorDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			c := cases[name]
			var bools []*bool
			for si := range c.Steps {
				s := &c.Steps[si]
				bools = append(bools, s.ShouldSucceed)
				if *s.ShouldSucceed {
					bools = append(bools, s.ContainsSlashableData)
				}
				for bi := range s.Blocks {
					bools = append(bools, s.Blocks[bi].ShouldSucceed, s.Blocks[bi].ShouldSucceedComplete)
				}
				for ai := range s.Attestations {
					bools = append(bools, s.Attestations[ai].ShouldSucceed, s.Attestations[ai].ShouldSucceedComplete)
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
	}
	t.Logf("flipped %d expectations one at a time; %d went unnoticed", flips, missed)
}
