package protect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func sampleState() *keyState {
	k := &keyState{key: PublicKey{1, 2, 3}, disabled: true, blockFloor: 4, blockFloorSet: true, sourceFloor: 2, targetFloor: 3, targetFloorSet: true}
	k.addBlock(4, Root{}, false)
	k.addBlock(9, Root{9}, true)
	k.addAttestation(2, 3, Root{}, false, horizon{epochs: 16})
	k.addAttestation(3, 4, Root{4}, true, horizon{epochs: 16})
	k.addAttestation(2, 4, Root{5}, true, horizon{epochs: 16})
	return k
}

func TestSnapshotRoundTrips(t *testing.T) {
	for _, k := range []*keyState{{key: PublicKey{9}}, sampleState()} {
		enc := encodeSnapshot(nil, k)
		got, err := decodeSnapshot(k.key, enc)
		if err != nil {
			t.Fatal(err)
		}
		if again := encodeSnapshot(nil, got); !bytes.Equal(enc, again) {
			t.Fatalf("re-encoding differs")
		}
	}
}

// FuzzSnapshot: a snapshot that decodes must re-encode to the same bytes,
// so no two encodings mean the same state and nothing is silently dropped.
// The fuzzer supplies the body and the checksum is made to match, so the
// parser behind the checksum gets fuzzed rather than the CRC.
func FuzzSnapshot(f *testing.F) {
	body := func(v []byte) []byte { return v[:len(v)-4] }
	f.Add(body(encodeSnapshot(nil, sampleState())))
	f.Add(body(encodeSnapshot(nil, &keyState{})))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := binary.BigEndian.AppendUint32(bytes.Clone(b), crc32.Checksum(b, castagnoli))
		k, err := decodeSnapshot(PublicKey{}, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		// A format 1 snapshot re-encodes as format 2 with the same body.
		want := v
		if v[0] != snapshotVersion {
			body := bytes.Clone(b)
			body[0] = snapshotVersion
			want = binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
		}
		if again := encodeSnapshot(nil, k); !bytes.Equal(want, again) {
			t.Fatalf("decoded snapshot re-encodes differently")
		}
	})
}

// TestSnapshotFormat1IsReadWithoutImportFlags: schema 1 files hold format 1
// snapshots, which cannot carry the import flags of format 2.
func TestSnapshotFormat1IsReadWithoutImportFlags(t *testing.T) {
	k := sampleState()
	v2 := encodeSnapshot(nil, k)
	v1 := func(flags byte) []byte {
		body := bytes.Clone(v2[:len(v2)-4])
		body[0], body[1] = 1, flags
		return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	}
	got, err := decodeSnapshot(k.key, v1(v2[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got.blockImported || got.attImported || !got.disabled || got.blockFloor != 4 || len(got.atts) != 3 {
		t.Fatalf("format 1 snapshot read as %+v", got)
	}
	for _, flag := range []byte{snapBlockImported, snapAttImported} {
		if _, err := decodeSnapshot(k.key, v1(v2[1]|flag)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("format 1 with flag %#x: %v", flag, err)
		}
	}
	k.blockImported, k.attImported = true, true
	got, err = decodeSnapshot(k.key, encodeSnapshot(nil, k))
	if err != nil || !got.blockImported || !got.attImported {
		t.Fatalf("format 2 import flags: %v %+v", err, got)
	}
}

func encodeOps(ops []op) []byte {
	var buf []byte
	for _, o := range ops {
		switch o.kind {
		case opRegister, opDisable, opEnable:
			buf = appendKeyOp(buf, o.kind, o.key)
		case opBlock:
			buf = appendBlockOp(buf, o.key, o.a, o.root, o.known)
		case opAttestation:
			buf = appendAttestationOp(buf, o.key, o.a, o.b, o.root, o.known)
		case opFloors, opImportFloors:
			buf = appendFloorsOp(buf, o.kind, o.key, o.floors)
		}
	}
	return buf
}

// FuzzJournalEntry: an entry that decodes must re-encode to the same bytes.
// As for snapshots, the fuzzer supplies the operations and the frame is
// made valid; TestJournalEntryRefusesBadFrames covers the frame itself.
func FuzzJournalEntry(f *testing.F) {
	f.Add(encodeOps([]op{
		{kind: opRegister, key: PublicKey{1}},
		{kind: opBlock, key: PublicKey{1}, a: 5, root: Root{5}, known: true},
		{kind: opAttestation, key: PublicKey{1}, a: 1, b: 2},
		{kind: opFloors, key: PublicKey{1}, floors: floors{block: 3, blockSet: true, source: 1, target: 2, targetSet: true}},
		{kind: opImportFloors, key: PublicKey{1}, floors: floors{block: 3, blockSet: true, source: 1, target: 2, targetSet: true}},
		{kind: opDisable, key: PublicKey{1}},
		{kind: opEnable, key: PublicKey{1}},
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := frameEntry(b)
		var ops []op
		err := decodeEntry(v, func(o *op) error { ops = append(ops, *o); return nil })
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if again := frameEntry(encodeOps(ops)); !bytes.Equal(v, again) {
			t.Fatalf("decoded entry re-encodes differently")
		}
	})
}

func TestJournalEntryRefusesBadFrames(t *testing.T) {
	good := frameEntry(encodeOps([]op{{kind: opRegister, key: PublicKey{1}}}))
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"wrong magic", func(v []byte) []byte { v[0] = 'X'; return v }},
		{"unknown format", func(v []byte) []byte { v[1] = 9; return v }},
		{"flipped payload bit", func(v []byte) []byte { v[len(v)-1] ^= 1; return v }},
		{"truncated operation", func(v []byte) []byte { return frameEntry(v[journalHeader : len(v)-1]) }},
		{"unknown operation", func(v []byte) []byte { p := bytes.Clone(v[journalHeader:]); p[0] = 99; return frameEntry(p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			applied := 0
			err := decodeEntry(tc.edit(bytes.Clone(good)), func(*op) error { applied++; return nil })
			if !errors.Is(err, ErrCorrupt) || applied != 0 {
				t.Fatalf("got %v after applying %d operations", err, applied)
			}
		})
	}
}
