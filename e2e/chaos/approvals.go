package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A lost approval is a partial signature a signer released for a block or
// an attestation whose record its slashing protection database no longer
// holds: after a crash, a full disk or a lost HSM it could then sign a
// conflicting message. Every signer writes a record of each partial to its
// audit log after the database's commit, so each such record must find
// its (key, signing root) in the database's export.

// ApprovalCheck is one signer's comparison.
type ApprovalCheck struct {
	Signer uint64
	// Partials counts the slashable (key, root) pairs the audit log says
	// were released.
	Partials int
	// Missing lists pairs absent from the slashing protection database:
	// lost approvals.
	Missing []string
	// Unreleased lists pairs absent from the database whose record was
	// written within faultWindow before the signer was killed or its
	// database failed a write. The signer writes a partial's audit record
	// as soon as the rules pass, while the database's commit is still
	// under way (their fsyncs overlap), and releases the partial only
	// after the commit: a commit cut short by a SIGKILL or a full disk
	// leaves a record of a partial that was never made. They are not lost
	// approvals (no permit, no signature), but the audit log says more
	// than happened.
	Unreleased []string
}

// faultWindow is how long before a fault an audit record's commit may
// still have been under way.
const faultWindow = 5 * time.Second

// slashableTypes are the request types slashing protection records.
var slashableTypes = map[string]bool{"ATTESTATION": true, "BLOCK": true, "BLOCK_V2": true}

// auditPartials reads every slashable partial record of the audit log in
// dir (plain and zstd-compressed files), as "key root" pairs.
func auditPartials(dir string) (map[string]time.Time, error) {
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.log*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := map[string]time.Time{}
	for _, name := range names {
		if err := readAuditFile(name, out); err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", name, err)
		}
	}
	return out, nil
}

func readAuditFile(name string, out map[string]time.Time) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".zst") {
		d, err := zstd.NewReader(f)
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e struct {
			Time        time.Time `json:"time"`
			Kind        string    `json:"kind"`
			Type        string    `json:"type"`
			SigningRoot string    `json:"signing_root"`
			PublicKey   string    `json:"public_key"`
			PublicKeys  []string  `json:"public_keys"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			// An incomplete last line left by a kill: the signer cuts it
			// at its next start, and it vouches for nothing.
			continue
		}
		if e.Kind != "partial" || !slashableTypes[e.Type] {
			continue
		}
		keys := e.PublicKeys
		if e.PublicKey != "" {
			keys = append(keys, e.PublicKey)
		}
		for _, k := range keys {
			pair := strings.ToLower(k) + " " + strings.ToLower(e.SigningRoot)
			if t, seen := out[pair]; !seen || e.Time.Before(t) {
				out[pair] = e.Time
			}
		}
	}
	return sc.Err()
}

// interchangeRoots reads an EIP-3076 export as "key root" pairs.
func interchangeRoots(data []byte) (map[string]bool, error) {
	var ic struct {
		Data []struct {
			PublicKey string `json:"pubkey"`
			Blocks    []struct {
				SigningRoot string `json:"signing_root"`
			} `json:"signed_blocks"`
			Attestations []struct {
				SigningRoot string `json:"signing_root"`
			} `json:"signed_attestations"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &ic); err != nil {
		return nil, fmt.Errorf("chaos: slashing protection export: %w", err)
	}
	out := map[string]bool{}
	for _, v := range ic.Data {
		k := strings.ToLower(v.PublicKey)
		for _, b := range v.Blocks {
			if b.SigningRoot != "" {
				out[k+" "+strings.ToLower(b.SigningRoot)] = true
			}
		}
		for _, a := range v.Attestations {
			if a.SigningRoot != "" {
				out[k+" "+strings.ToLower(a.SigningRoot)] = true
			}
		}
	}
	return out, nil
}

// CheckApprovals compares a signer's audit log with its database export.
// faults are the moments the signer was killed or its database failed a
// write.
func CheckApprovals(signer uint64, auditDir string, export []byte, faults []time.Time) (ApprovalCheck, error) {
	released, err := auditPartials(auditDir)
	if err != nil {
		return ApprovalCheck{}, err
	}
	kept, err := interchangeRoots(export)
	if err != nil {
		return ApprovalCheck{}, err
	}
	c := ApprovalCheck{Signer: signer, Partials: len(released)}
	for pair, at := range released {
		if kept[pair] {
			continue
		}
		if nearFault(at, faults) {
			c.Unreleased = append(c.Unreleased, pair)
		} else {
			c.Missing = append(c.Missing, pair)
		}
	}
	sort.Strings(c.Missing)
	sort.Strings(c.Unreleased)
	return c, nil
}

// nearFault reports whether a fault came within faultWindow after t.
func nearFault(t time.Time, faults []time.Time) bool {
	for _, f := range faults {
		if !f.Before(t) && f.Sub(t) <= faultWindow {
			return true
		}
	}
	return false
}

// dbFailures returns the moments a signer's log says its slashing
// protection database failed a write.
func dbFailures(log string) []time.Time {
	b, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	var out []time.Time
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "database failed a write") {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "time=") {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
			out = append(out, t)
		}
	}
	return out
}
