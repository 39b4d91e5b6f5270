package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Line format, version 2: one JSON object per line, fields in this order,
// empty ones left out:
//
//	{"seq":12,"time":"...","kind":"partial","type":"ATTESTATION",
//	 "signing_root":"0x..","client":"vc-1","public_keys":["0x..",...],
//	 "prev":"..","checkpoint":{...},"files":[...],"note":"..","hash":".."}
//
// seq numbers lines from 1 across every file. hash is the hex SHA-256 of
// the domain tag "rampart-audit-v2\x00", the previous line's hash (32
// bytes; zeros before the first line of a chain) and the line's own bytes
// without its hash field. prev is written only on a file's first line (kind
// "file"), so that each file says where it continues from; on other lines
// it is implied. A line must be exactly the encoding this package writes:
// the bytes that were hashed are the bytes an auditor reads.
//
// A batch (records of one Append that differ only in their public key) is
// one line with every key in public_keys: a slot's attestations for
// thousands of validators share one time, type, signing root and client,
// which version 1 repeated for every key, with its own prev and hash.
//
// Version 1 (before rotation existed): one record per line, every line with
// seq, time, kind, type, public_key, signing_root, client, prev and hash,
// hash being the hex SHA-256 of the JSON with hash empty. A signer that
// finds a version 1 log moves it into the log directory as the first file
// (named "...-legacy.log") and continues its chain in version 2.

const hashDomain = "rampart-audit-v2\x00"

// entry is one line.
type entry struct {
	Seq uint64 `json:"seq"`
	Record
	PublicKeys []string       `json:"public_keys,omitempty"`
	Prev       string         `json:"prev,omitempty"`
	Checkpoint *checkpointRef `json:"checkpoint,omitempty"`
	Files      []FileSummary  `json:"files,omitempty"`
	Note       string         `json:"note,omitempty"`
	Hash       string         `json:"hash,omitempty"`
}

// checkpointRef is the body of a checkpoint line.
type checkpointRef struct {
	// Seq and Head are the record the checkpoint vouches for and its hash.
	Seq  uint64 `json:"seq"`
	Head string `json:"head"`
	// Tag is the HSM's tag (hex) over checkpointMessage(Seq, Head, the
	// line's time).
	Tag string `json:"tag"`
}

// FileSummary describes a log file in retention records and reports.
type FileSummary struct {
	Name     string `json:"name"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Bytes    int64  `json:"bytes"`
}

// hash is a line's SHA-256.
type hash [sha256.Size]byte

func (h hash) String() string { return hex.EncodeToString(h[:]) }

func parseHash(s string) (hash, error) {
	var h hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q is not %d hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q is not hex", s)
	}
	if s != h.String() {
		return h, fmt.Errorf("hash %q is not lowercase hex", s)
	}
	return h, nil
}

func digest(prev hash, body []byte) hash {
	d := sha256.New()
	d.Write([]byte(hashDomain))
	d.Write(prev[:])
	d.Write(body)
	var h hash
	d.Sum(h[:0])
	return h
}

// encodeEntry returns the line (with its newline) and its hash.
func encodeEntry(buf []byte, e *entry, prev hash) ([]byte, hash, error) {
	e.Hash = ""
	body, err := json.Marshal(e)
	if err != nil {
		return buf, hash{}, fmt.Errorf("audit: encoding record %d: %w", e.Seq, err)
	}
	h := digest(prev, body)
	buf = append(buf, body[:len(body)-1]...)
	buf = append(buf, `,"hash":"`...)
	buf = hex.AppendEncode(buf, h[:])
	buf = append(buf, "\"}\n"...)
	return buf, h, nil
}

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":""}`) + 2*sha256.Size

var errNotCanonical = errors.New("not in the exact form the log writes (edited by hand?)")

// notCanonical says why a line that parsed is not canonical, when a strict
// decoder can tell (an unknown field, data after the object).
func notCanonical(line []byte) error {
	var e entry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("%w: %v", errNotCanonical, err)
	}
	return errNotCanonical
}

// parseLine parses a version 2 line strictly without checking its chain,
// and returns the bytes its hash covers and the hash it claims.
func parseLine(line []byte) (*entry, []byte, hash, error) {
	// Unmarshal is lenient (unknown or repeated fields, other spacing), but
	// the line must then be exactly what encoding it again gives, which
	// refuses all of that.
	var e entry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, nil, hash{}, fmt.Errorf("not a record: %v", err)
	}
	claimed, err := parseHash(e.Hash)
	if err != nil {
		return &e, nil, hash{}, err
	}
	if e.PublicKey != "" {
		return &e, nil, hash{}, errors.New("public_key is not a field of version 2 lines (public_keys is)")
	}
	if e.Seq == 0 {
		return &e, nil, hash{}, errors.New("sequence number 0")
	}
	if (e.Kind == KindFile) != (e.Prev != "") {
		return &e, nil, hash{}, errors.New("prev must be on file records and on no other")
	}
	if e.Kind == KindCheckpoint && e.Checkpoint == nil {
		return &e, nil, hash{}, errors.New("checkpoint record without its checkpoint")
	}
	e.Hash = ""
	body, err := json.Marshal(&e)
	if err != nil {
		return &e, nil, hash{}, err
	}
	e.Hash = claimed.String()
	if len(line) != len(body)-1+hashSuffixLen || !bytes.Equal(line[:len(body)-1], body[:len(body)-1]) ||
		string(line[len(body)-1:]) != `,"hash":"`+e.Hash+`"}` {
		return &e, nil, hash{}, notCanonical(line)
	}
	return &e, body, claimed, nil
}

// legacyRecord is a version 1 line.
type legacyRecord struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        Kind      `json:"kind"`
	Type        string    `json:"type"`
	PublicKey   string    `json:"public_key"`
	SigningRoot string    `json:"signing_root"`
	Client      string    `json:"client"`
	Prev        string    `json:"prev"`
	Hash        string    `json:"hash"`
}

// decodeLegacyLine checks one version 1 line chained to prev (hex).
func decodeLegacyLine(line []byte, prev hash) (*legacyRecord, hash, error) {
	var r legacyRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, hash{}, fmt.Errorf("not a record: %v", err)
	}
	if r.Prev != prev.String() {
		return &r, hash{}, errors.New("does not chain to the previous record")
	}
	claimed, err := parseHash(r.Hash)
	if err != nil {
		return &r, hash{}, err
	}
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return &r, hash{}, err
	}
	if sha256.Sum256(b) != claimed {
		return &r, hash{}, errors.New("hash does not match its contents")
	}
	r.Hash = claimed.String()
	return &r, claimed, nil
}

// parseLegacyHead reads the seq and hash a version 1 line claims, without
// checking them (start-up reads only the last line of a legacy file).
func parseLegacyHead(line []byte) (uint64, hash, error) {
	var r legacyRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return 0, hash{}, fmt.Errorf("not a version 1 record: %v", err)
	}
	h, err := parseHash(r.Hash)
	return r.Seq, h, err
}
