// Package backup is a signer's backup: the archive a running signer
// writes (Write, served by the administrative endpoint
// adminapi.PathBackup), its verification (Open), and its restore into a
// signer's files while the signer is stopped (Restore), which never moves
// slashing protection backwards.
//
// # The archive
//
// A POSIX tar stream whose first member is manifest.json (Manifest): the
// cluster, the node, the network, when it was taken, the audit head, and
// for every other member its name, size and SHA-256. The members are
//
//	slashing-protection.db    a consistent copy of the bbolt file (Tx.WriteTo)
//	slashing-protection.json  the same history as EIP-3076 interchange
//	config.yaml               the signer's configuration as it was read (if known)
//	audit-head.json           the audit log's durable head and the anchor
//	shares/<key>.share        each sealed share, as on disk
//
// Open refuses an archive with a member the manifest does not list, a
// member missing, a size or checksum that differs, or a name outside this
// layout, before anything is restored.
//
// # Security
//
// The shares are sealed by the signer's HSM key (AES, never exportable):
// the archive gives nothing away without that key, and restores nothing
// without it either. The configuration names credentials (PIN source,
// administrative token verifier) but holds none of them.
package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
)

// Format names the archive layout of this package.
const Format = "rampart-signer-backup/1"

// Member names.
const (
	ManifestName  = "manifest.json"
	DatabaseName  = "slashing-protection.db"
	InterchangeNm = "slashing-protection.json"
	ConfigName    = "config.yaml"
	AuditHeadName = "audit-head.json"
	SharesDir     = "shares"
)

// Bounds of an archive read by Open.
const (
	// MaxManifest bounds manifest.json: a member line is about 200
	// bytes, so 64 MiB holds 300,000 shares.
	MaxManifest = 64 << 20
	// MaxMembers bounds the number of members.
	MaxMembers = 1 << 20
)

// Errors of Open and Restore; each comes wrapped with the member or field
// it concerns.
var (
	// ErrFormat: not an archive of this format (not tar, no manifest
	// first, an unknown format, a name outside the layout).
	ErrFormat = errors.New("backup: not a rampart-signer backup")
	// ErrChecksum: a member's size or SHA-256 is not the manifest's.
	ErrChecksum = errors.New("backup: checksum mismatch")
	// ErrIncomplete: a member the manifest lists is missing.
	ErrIncomplete = errors.New("backup: incomplete")
	// ErrWrongSigner: the backup was taken of another cluster, node or
	// network than the one it is restored to.
	ErrWrongSigner = errors.New("backup: taken of another signer")
	// ErrShareDiffers: a share in the backup differs from the one on
	// disk under the same account.
	ErrShareDiffers = errors.New("backup: share differs from the one on disk")
)

// Member is one file of the archive as the manifest lists it.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// AuditHead is the audit log's head when the backup was taken.
type AuditHead struct {
	// Seq and Head are the newest durable record.
	Seq  uint64 `json:"seq"`
	Head string `json:"head"`
}

// Manifest describes a backup.
type Manifest struct {
	Format string `json:"format"`
	// Cluster is the cluster's name (cluster.id), Node the signer's id.
	Cluster string `json:"cluster"`
	Node    uint64 `json:"node"`
	// GenesisValidatorsRoot is the slashing database's network.
	GenesisValidatorsRoot string `json:"genesis_validators_root"`
	// Created is the signer's clock when the snapshot was taken.
	Created time.Time `json:"created"`
	// Version is the signer's build.
	Version string `json:"version,omitempty"`
	// Validators counts the keys of the slashing database, Shares the
	// sealed shares.
	Validators int       `json:"validators"`
	Shares     int       `json:"shares"`
	Audit      AuditHead `json:"audit"`
	Members    []Member  `json:"members"`
}

// Part is a member to write: its bytes, or a file to copy.
type Part struct {
	Name string
	Data []byte
	Path string
}

// Prepare measures and hashes every part into m.Members, before anything
// is written: a part that cannot be read fails here, not half way through
// the archive.
func Prepare(m *Manifest, parts []Part) error {
	m.Format = Format
	m.Members = m.Members[:0]
	for _, p := range parts {
		if err := checkName(p.Name); err != nil {
			return err
		}
		mem, err := measure(p)
		if err != nil {
			return err
		}
		m.Members = append(m.Members, mem)
	}
	return nil
}

// Write writes the archive of m, prepared for parts (Prepare), to w: the
// manifest, then the parts in order. A file part is read a second time
// and must not have changed.
func Write(w io.Writer, m *Manifest, parts []Part) error {
	if len(m.Members) != len(parts) {
		return errors.New("backup: the manifest was not prepared for these parts")
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := m.Created.UTC()
	if err := writeMember(tw, ManifestName, int64(len(manifest)), now, bytes.NewReader(manifest)); err != nil {
		return err
	}
	for i, p := range parts {
		var r io.Reader
		if p.Path != "" {
			f, err := os.Open(p.Path)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		} else {
			r = bytes.NewReader(p.Data)
		}
		h := sha256.New()
		if err := writeMember(tw, p.Name, m.Members[i].Size, now, io.TeeReader(r, h)); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != m.Members[i].SHA256 {
			return fmt.Errorf("backup: %s changed while the backup was written", p.Name)
		}
	}
	return tw.Close()
}

func measure(p Part) (Member, error) {
	h := sha256.New()
	var n int64
	if p.Path != "" {
		f, err := os.Open(p.Path)
		if err != nil {
			return Member{}, err
		}
		defer f.Close()
		if n, err = io.Copy(h, f); err != nil {
			return Member{}, fmt.Errorf("backup: reading %s: %w", p.Name, err)
		}
	} else {
		h.Write(p.Data)
		n = int64(len(p.Data))
	}
	return Member{Name: p.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeMember(tw *tar.Writer, name string, size int64, mod time.Time, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: mod, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.CopyN(tw, r, size)
	if err != nil {
		return fmt.Errorf("backup: writing %s (%d of %d bytes): %w", name, n, size, err)
	}
	return nil
}

// checkName accepts the layout's names only.
func checkName(name string) error {
	switch name {
	case DatabaseName, InterchangeNm, ConfigName, AuditHeadName:
		return nil
	}
	dir, file := path.Split(name)
	if dir == SharesDir+"/" && strings.HasSuffix(file, files.ShareExt) {
		if _, err := api.ParsePublicKey(strings.TrimSuffix(file, files.ShareExt)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: member %q is not part of the layout", ErrFormat, name)
}

// Archive is a verified backup unpacked into Dir.
type Archive struct {
	Manifest Manifest
	// Dir holds the members under their names.
	Dir string
}

// Path is where member name was unpacked.
func (a *Archive) Path(name string) string { return filepath.Join(a.Dir, filepath.FromSlash(name)) }

// Has reports whether the archive holds member name.
func (a *Archive) Has(name string) bool {
	return slices.ContainsFunc(a.Manifest.Members, func(m Member) bool { return m.Name == name })
}

// ShareKeys lists the accounts whose sealed shares the archive holds.
func (a *Archive) ShareKeys() []api.PublicKey {
	var out []api.PublicKey
	for _, m := range a.Manifest.Members {
		if rest, ok := strings.CutPrefix(m.Name, SharesDir+"/"); ok {
			k, _ := api.ParsePublicKey(strings.TrimSuffix(rest, files.ShareExt))
			out = append(out, k)
		}
	}
	return out
}

// Open reads the archive r (named name in errors) into dir, which must
// exist and be empty, and verifies it: the manifest first, every member
// listed once, none missing, each of the size and SHA-256 listed. On
// error dir may hold part of the members; the caller removes it.
func Open(r io.Reader, name, dir string) (*Archive, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	if hdr.Name != ManifestName {
		return nil, fmt.Errorf("%w: %s: the first member is %q, not %s", ErrFormat, name, hdr.Name, ManifestName)
	}
	if hdr.Size > MaxManifest {
		return nil, fmt.Errorf("%w: %s: %s of %d bytes, more than %d", ErrFormat, name, ManifestName, hdr.Size, MaxManifest)
	}
	raw, err := io.ReadAll(io.LimitReader(tr, MaxManifest))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrFormat, name, ManifestName, err)
	}
	a := &Archive{Dir: dir}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrFormat, name, ManifestName, err)
	}
	m := &a.Manifest
	if m.Format != Format {
		return nil, fmt.Errorf("%w: %s: format %q, this rampartctl reads %q", ErrFormat, name, m.Format, Format)
	}
	if len(m.Members) > MaxMembers {
		return nil, fmt.Errorf("%w: %s: %d members, at most %d", ErrFormat, name, len(m.Members), MaxMembers)
	}
	want := make(map[string]Member, len(m.Members))
	for i, mem := range m.Members {
		if err := checkName(mem.Name); err != nil {
			return nil, fmt.Errorf("%s: members[%d]: %w", name, i, err)
		}
		if _, dup := want[mem.Name]; dup {
			return nil, fmt.Errorf("%w: %s: members[%d]: %s listed twice", ErrFormat, name, i, mem.Name)
		}
		if b, err := hex.DecodeString(mem.SHA256); err != nil || len(b) != sha256.Size || mem.Size < 0 {
			return nil, fmt.Errorf("%w: %s: members[%d] (%s): sha256 %q is not 64 hex digits", ErrFormat, name, i, mem.Name, mem.SHA256)
		}
		want[mem.Name] = mem
	}
	for _, need := range []string{DatabaseName, InterchangeNm} {
		if _, ok := want[need]; !ok {
			return nil, fmt.Errorf("%w: %s: the manifest lists no %s", ErrIncomplete, name, need)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, SharesDir), 0o700); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: after %d members: %v", ErrIncomplete, name, len(seen), err)
		}
		mem, ok := want[hdr.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %s: member %q is not in the manifest", ErrFormat, name, hdr.Name)
		case seen[hdr.Name]:
			return nil, fmt.Errorf("%w: %s: member %q appears twice", ErrFormat, name, hdr.Name)
		case hdr.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("%w: %s: member %q is not a regular file", ErrFormat, name, hdr.Name)
		case hdr.Size != mem.Size:
			return nil, fmt.Errorf("%w: %s: %s is %d bytes, the manifest says %d", ErrChecksum, name, hdr.Name, hdr.Size, mem.Size)
		}
		seen[hdr.Name] = true
		if err := unpack(tr, a.Path(hdr.Name), mem, name); err != nil {
			return nil, err
		}
	}
	for _, mem := range m.Members {
		if !seen[mem.Name] {
			return nil, fmt.Errorf("%w: %s: %s is in the manifest but not in the archive (cut short?)", ErrIncomplete, name, mem.Name)
		}
	}
	return a, nil
}

func unpack(r io.Reader, dst string, mem Member, archive string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %s: %v", ErrIncomplete, archive, mem.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != mem.Size || got != mem.SHA256 {
		return fmt.Errorf("%w: %s: %s has SHA-256 %s, the manifest says %s: the backup is damaged", ErrChecksum, archive, mem.Name, got, mem.SHA256)
	}
	return nil
}
