package protect

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The journal is the hot write path: every commit appends its operations,
// in order, as one or more entries keyed by a sequence number. Appending at
// the end of a B+tree touches a handful of pages however many validators a
// slot burst covers, where updating each key's record in place would
// rewrite one page per key (3,125 random pages per burst at 100,000
// validators; about 50 ms on the reference machine against 2 ms). Checkpoints
// (checkpoint.go) later fold the journal into per-key snapshots.
//
// Entry: 'J', format version, CRC-32C of the operations, operations.
// Operation: kind byte, 48-byte key, then by kind:
//
//	opRegister, opDisable, opEnable: nothing
//	opBlock:        slot u64, known u8, root [32]
//	opAttestation:  source u64, target u64, known u8, root [32]
//	opFloors:       flags u8 (1 block set, 2 target set), block u64, source u64, target u64
//	opImportFloors: the same
//
// opFloors raises each watermark to the imported minimum (raiseFloors): what
// every import did in schema 1, and what an import read file by file does
// (RaiseWatermarks, a disabled key). opImportFloors, new in schema 2, is
// the complete strategy's: only a key's first import applies it
// (importFloors).
//
// Integers are big-endian. Replaying an operation twice has the effect of
// replaying it once, and records and watermarks merge in any order, so a
// snapshot that already holds part of the journal is safe to replay over.

const (
	journalMagic   = 'J'
	journalVersion = 1
	journalHeader  = 6
	// maxEntryBytes splits a large commit (an import) into several entries
	// of one transaction, keeping each value a modest size for bbolt.
	maxEntryBytes = 4 << 20
)

const (
	opRegister byte = iota + 1
	opDisable
	opEnable
	opBlock
	opAttestation
	opFloors
	opImportFloors
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// op is a decoded journal operation.
type op struct {
	kind   byte
	key    PublicKey
	a, b   uint64 // slot; or source, target
	root   Root
	known  bool
	floors floors
}

func opLen(kind byte) int {
	switch kind {
	case opRegister, opDisable, opEnable:
		return 1 + PublicKeyLength
	case opBlock:
		return 1 + PublicKeyLength + 8 + 1 + RootLength
	case opAttestation:
		return 1 + PublicKeyLength + 16 + 1 + RootLength
	case opFloors, opImportFloors:
		return 1 + PublicKeyLength + 1 + 24
	}
	return 0
}

func appendKeyOp(buf []byte, kind byte, key PublicKey) []byte {
	buf = append(buf, kind)
	return append(buf, key[:]...)
}

func appendBlockOp(buf []byte, key PublicKey, slot uint64, root Root, known bool) []byte {
	buf = appendKeyOp(buf, opBlock, key)
	buf = binary.BigEndian.AppendUint64(buf, slot)
	buf = append(buf, b2u(known))
	return append(buf, root[:]...)
}

func appendAttestationOp(buf []byte, key PublicKey, source, target uint64, root Root, known bool) []byte {
	buf = appendKeyOp(buf, opAttestation, key)
	buf = binary.BigEndian.AppendUint64(buf, source)
	buf = binary.BigEndian.AppendUint64(buf, target)
	buf = append(buf, b2u(known))
	return append(buf, root[:]...)
}

func appendFloorsOp(buf []byte, kind byte, key PublicKey, f floors) []byte {
	buf = appendKeyOp(buf, kind, key)
	buf = append(buf, b2u(f.blockSet)|b2u(f.targetSet)<<1)
	buf = binary.BigEndian.AppendUint64(buf, f.block)
	buf = binary.BigEndian.AppendUint64(buf, f.source)
	return binary.BigEndian.AppendUint64(buf, f.target)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// frameEntry wraps encoded operations into a journal entry.
func frameEntry(ops []byte) []byte {
	out := make([]byte, journalHeader, journalHeader+len(ops))
	out[0], out[1] = journalMagic, journalVersion
	binary.BigEndian.PutUint32(out[2:], crc32.Checksum(ops, castagnoli))
	return append(out, ops...)
}

// decodeEntry checks a journal entry and calls fn for each operation in
// order. It fails on the first malformed byte rather than applying a prefix.
func decodeEntry(v []byte, fn func(*op) error) error {
	if len(v) < journalHeader || v[0] != journalMagic {
		return fmt.Errorf("%w: journal entry has no header", ErrCorrupt)
	}
	if v[1] != journalVersion {
		return fmt.Errorf("%w: journal entry format %d", ErrCorrupt, v[1])
	}
	ops := v[journalHeader:]
	if crc32.Checksum(ops, castagnoli) != binary.BigEndian.Uint32(v[2:]) {
		return fmt.Errorf("%w: journal entry checksum mismatch", ErrCorrupt)
	}
	// Check every operation's framing before applying any.
	for p := ops; len(p) > 0; {
		n := opLen(p[0])
		if n == 0 || n > len(p) {
			return fmt.Errorf("%w: journal operation %d truncated or unknown", ErrCorrupt, p[0])
		}
		p = p[n:]
	}
	var o op
	for p := ops; len(p) > 0; {
		n := opLen(p[0])
		if err := decodeOp(p[:n], &o); err != nil {
			return err
		}
		if err := fn(&o); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func decodeOp(p []byte, o *op) error {
	*o = op{kind: p[0]}
	copy(o.key[:], p[1:1+PublicKeyLength])
	p = p[1+PublicKeyLength:]
	flag := func(b byte) (bool, error) {
		if b > 1 {
			return false, fmt.Errorf("%w: journal flag byte %d", ErrCorrupt, b)
		}
		return b == 1, nil
	}
	var err error
	switch o.kind {
	case opBlock:
		o.a = binary.BigEndian.Uint64(p)
		o.known, err = flag(p[8])
		copy(o.root[:], p[9:])
	case opAttestation:
		o.a = binary.BigEndian.Uint64(p)
		o.b = binary.BigEndian.Uint64(p[8:])
		o.known, err = flag(p[16])
		copy(o.root[:], p[17:])
	case opFloors, opImportFloors:
		if p[0] > 3 {
			return fmt.Errorf("%w: journal watermark flags %d", ErrCorrupt, p[0])
		}
		o.floors = floors{
			blockSet:  p[0]&1 != 0,
			targetSet: p[0]&2 != 0,
			block:     binary.BigEndian.Uint64(p[1:]),
			source:    binary.BigEndian.Uint64(p[9:]),
			target:    binary.BigEndian.Uint64(p[17:]),
		}
	}
	if err == nil && !o.known && o.root != (Root{}) {
		err = fmt.Errorf("%w: journal record has a root marked unknown", ErrCorrupt)
	}
	return err
}
