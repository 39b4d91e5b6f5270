package protect

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A snapshot is one key's whole state as the keys bucket stores it:
//
//	version u8 (2; 1 is read too)
//	flags u8: 1 disabled, 2 block watermark set, 4 target watermark set,
//	          8 block watermarks set by an import, 16 attestation
//	          watermarks set by an import (version 2 only)
//	block, source, target watermarks: u64 each
//	uvarint count, then per block:       slot u64, known u8, root [32]
//	uvarint count, then per attestation: source u64, target u64, known u8, root [32]
//	CRC-32C of everything before it: u32
//
// bbolt has no checksums of its own, so the CRC turns a flipped bit on disk
// into a refusal to open rather than a silently different history.

// snapshotVersion is what encodeSnapshot writes. Version 1 (schema 1) has
// no import flags; a key read from it has had no import in the sense of
// importFloors, so its next import raises its watermarks once more, as
// schema 1 would have done.
const snapshotVersion = 2

const (
	snapDisabled = 1 << iota
	snapBlockFloor
	snapTargetFloor
	snapBlockImported
	snapAttImported
)

// snapFlags returns the flags a snapshot version may carry.
func snapFlags(version byte) (byte, bool) {
	switch version {
	case 1:
		return snapDisabled | snapBlockFloor | snapTargetFloor, true
	case 2:
		return snapDisabled | snapBlockFloor | snapTargetFloor | snapBlockImported | snapAttImported, true
	}
	return 0, false
}

const (
	blockRecordLen = 8 + 1 + RootLength
	attRecordLen   = 16 + 1 + RootLength
)

func encodeSnapshot(buf []byte, k *keyState) []byte {
	start := len(buf)
	var flags byte
	if k.disabled {
		flags |= snapDisabled
	}
	if k.blockFloorSet {
		flags |= snapBlockFloor
	}
	if k.targetFloorSet {
		flags |= snapTargetFloor
	}
	if k.blockImported {
		flags |= snapBlockImported
	}
	if k.attImported {
		flags |= snapAttImported
	}
	buf = append(buf, snapshotVersion, flags)
	buf = binary.BigEndian.AppendUint64(buf, k.blockFloor)
	buf = binary.BigEndian.AppendUint64(buf, k.sourceFloor)
	buf = binary.BigEndian.AppendUint64(buf, k.targetFloor)
	buf = binary.AppendUvarint(buf, uint64(len(k.blocks)))
	for _, r := range k.blocks {
		buf = binary.BigEndian.AppendUint64(buf, r.slot)
		buf = append(buf, b2u(r.known))
		buf = append(buf, r.root[:]...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(k.atts)))
	for _, r := range k.atts {
		buf = binary.BigEndian.AppendUint64(buf, r.source)
		buf = binary.BigEndian.AppendUint64(buf, r.target)
		buf = append(buf, b2u(r.known))
		buf = append(buf, r.root[:]...)
	}
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
}

// decodeSnapshot parses a snapshot and checks every invariant the rules rely
// on (order, uniqueness, unknown roots being zero), so a damaged file cannot
// make a binary search skip a record.
func decodeSnapshot(key PublicKey, v []byte) (*keyState, error) {
	bad := func(what string) (*keyState, error) {
		return nil, fmt.Errorf("%w: snapshot of %v: %s", ErrCorrupt, key, what)
	}
	if len(v) < 2+24+2+4 {
		return bad("too short")
	}
	body, sum := v[:len(v)-4], binary.BigEndian.Uint32(v[len(v)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	allowed, ok := snapFlags(body[0])
	if !ok {
		return bad(fmt.Sprintf("format %d", body[0]))
	}
	flags := body[1]
	if flags&^allowed != 0 {
		return bad(fmt.Sprintf("flags %#x", flags))
	}
	k := &keyState{
		key:            key,
		disabled:       flags&snapDisabled != 0,
		blockFloorSet:  flags&snapBlockFloor != 0,
		targetFloorSet: flags&snapTargetFloor != 0,
		blockImported:  flags&snapBlockImported != 0,
		attImported:    flags&snapAttImported != 0,
		blockFloor:     binary.BigEndian.Uint64(body[2:]),
		sourceFloor:    binary.BigEndian.Uint64(body[10:]),
		targetFloor:    binary.BigEndian.Uint64(body[18:]),
	}
	p := body[26:]
	count := func(recLen int) (int, bool) {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w)/uint64(recLen) {
			return 0, false
		}
		p = p[w:]
		return int(n), true
	}
	known := func(b byte) (bool, bool) { return b == 1, b <= 1 }
	var n int
	n, ok = count(blockRecordLen)
	if !ok {
		return bad("block count")
	}
	if n > 0 {
		k.blocks = make([]blockRecord, n)
	}
	for i := range k.blocks {
		r := &k.blocks[i]
		r.slot = binary.BigEndian.Uint64(p)
		if r.known, ok = known(p[8]); !ok {
			return bad("block flag")
		}
		copy(r.root[:], p[9:blockRecordLen])
		p = p[blockRecordLen:]
		if (!r.known && r.root != Root{}) || (i > 0 && r.slot <= k.blocks[i-1].slot) {
			return bad("blocks out of order or malformed")
		}
	}
	if n, ok = count(attRecordLen); !ok {
		return bad("attestation count")
	}
	if n > 0 {
		k.atts = make([]attRecord, n)
	}
	for i := range k.atts {
		r := &k.atts[i]
		r.source = binary.BigEndian.Uint64(p)
		r.target = binary.BigEndian.Uint64(p[8:])
		if r.known, ok = known(p[16]); !ok {
			return bad("attestation flag")
		}
		copy(r.root[:], p[17:attRecordLen])
		p = p[attRecordLen:]
		if !r.known && r.root != (Root{}) {
			return bad("attestation malformed")
		}
		if i > 0 {
			q := k.atts[i-1]
			if r.target < q.target || (r.target == q.target && r.source <= q.source) {
				return bad("attestations out of order")
			}
		}
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return k, nil
}
