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
	// Missing lists pairs absent from the slashing protection database.
	Missing []string
}

// slashableTypes are the request types slashing protection records.
var slashableTypes = map[string]bool{"ATTESTATION": true, "BLOCK": true, "BLOCK_V2": true}

// auditPartials reads every slashable partial record of the audit log in
// dir (plain and zstd-compressed files), as "key root" pairs.
func auditPartials(dir string) (map[string]bool, error) {
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.log*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := map[string]bool{}
	for _, name := range names {
		if err := readAuditFile(name, out); err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", name, err)
		}
	}
	return out, nil
}

func readAuditFile(name string, out map[string]bool) error {
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
			Kind        string   `json:"kind"`
			Type        string   `json:"type"`
			SigningRoot string   `json:"signing_root"`
			PublicKey   string   `json:"public_key"`
			PublicKeys  []string `json:"public_keys"`
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
			out[strings.ToLower(k)+" "+strings.ToLower(e.SigningRoot)] = true
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
func CheckApprovals(signer uint64, auditDir string, export []byte) (ApprovalCheck, error) {
	released, err := auditPartials(auditDir)
	if err != nil {
		return ApprovalCheck{}, err
	}
	kept, err := interchangeRoots(export)
	if err != nil {
		return ApprovalCheck{}, err
	}
	c := ApprovalCheck{Signer: signer, Partials: len(released)}
	for pair := range released {
		if !kept[pair] {
			c.Missing = append(c.Missing, pair)
		}
	}
	sort.Strings(c.Missing)
	return c, nil
}
