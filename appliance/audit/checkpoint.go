package audit

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Checkpoints. Every Options.CheckpointRecords lines or
// Options.CheckpointInterval, right after each rotation and at Close, the
// log asks the HSM for a tag over (sequence number, hash, time) of its
// head and appends it as a checkpoint record. The hash of a record depends
// on every record before it back to the start of the oldest file kept, so
// the tag authenticates all of them: rewriting any record (and recomputing
// the chain after it) makes the hash at the checkpoint differ from the one
// the tag vouches for, and making a new tag needs the HSM and its PIN.
//
// The tag is a GMAC under the signer's sealing key (hsm.SealingKey.Tag),
// which needs no new HSM object; its label below separates it from every
// other use of that key.

// tagLabel binds checkpoint tags to their use.
var tagLabel = []byte("rampart audit checkpoint v1")

// Tagger makes and checks tags in the HSM: *hsm.SealingKey is one.
type Tagger interface {
	Tag(ctx context.Context, data, label []byte) ([]byte, error)
	VerifyTag(ctx context.Context, data, label, tag []byte) error
}

// checkpointMessage is what a checkpoint's tag covers.
func checkpointMessage(seq uint64, head hash, t time.Time) []byte {
	m := make([]byte, 0, 64)
	m = append(m, "rampart-audit-checkpoint\x00"...)
	m = binary.BigEndian.AppendUint64(m, seq)
	m = append(m, head[:]...)
	return binary.BigEndian.AppendUint64(m, uint64(t.UnixNano()))
}

// makeCheckpoint tags the head (seq, head) at time t.
func makeCheckpoint(ctx context.Context, tg Tagger, seq uint64, head hash, t time.Time) (*checkpointRef, error) {
	tag, err := tg.Tag(ctx, checkpointMessage(seq, head, t), tagLabel)
	if err != nil {
		return nil, err
	}
	return &checkpointRef{Seq: seq, Head: head.String(), Tag: hex.EncodeToString(tag)}, nil
}

// verifyCheckpoint checks a checkpoint line's tag; the caller compares the
// head it vouches for with the chain.
func verifyCheckpoint(ctx context.Context, tg Tagger, e *entry) (hash, error) {
	cp := e.Checkpoint
	head, err := parseHash(cp.Head)
	if err != nil {
		return hash{}, fmt.Errorf("checkpoint head: %w", err)
	}
	if cp.Seq >= e.Seq {
		return hash{}, fmt.Errorf("checkpoint vouches for record %d, not before itself", cp.Seq)
	}
	if tg == nil {
		return head, nil
	}
	tag, err := hex.DecodeString(cp.Tag)
	if err != nil {
		return hash{}, errors.New("checkpoint tag is not hex")
	}
	if err := tg.VerifyTag(ctx, checkpointMessage(cp.Seq, head, e.Time), tagLabel, tag); err != nil {
		return hash{}, fmt.Errorf("its tag does not verify under this HSM key: %w", err)
	}
	return head, nil
}

// Checkpoint appends a checkpoint of the current head now, unless the head
// is already checkpointed. It needs Options.Tagger. Run calls it when one
// is due; tests and Close call it directly.
func (l *Log) Checkpoint(ctx context.Context) error {
	if l.opts.Tagger == nil {
		return errors.New("audit: checkpoints need an HSM tagger")
	}
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	seq, head, now := l.seq, l.head, l.now().UTC()
	if seq == l.checkpointedSeq || seq == l.checkpointLine {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	cp, err := makeCheckpoint(ctx, l.opts.Tagger, seq, head, now)
	if err != nil {
		err = fmt.Errorf("audit: checkpoint of record %d: %w", seq, err)
		l.mu.Lock()
		l.stats.CheckpointFailures++
		l.stats.CheckpointError = err
		l.mu.Unlock()
		return err
	}
	p := l.writeEntries([]entry{{Record: Record{Time: now, Kind: KindCheckpoint}, Checkpoint: cp}}, false)
	if err := p.Wait(); err != nil {
		return err
	}
	l.mu.Lock()
	l.stats.Checkpoints++
	l.stats.LastCheckpoint = now
	l.stats.CheckpointError = nil
	l.mu.Unlock()
	return nil
}

// noteCheckpointLocked records that the checkpoint line e was written.
func (l *Log) noteCheckpointLocked(e *entry) {
	l.checkpointLine = e.Seq
	l.checkpointedSeq = max(l.checkpointedSeq, e.Checkpoint.Seq)
	// A file can be verified on its own from a checkpoint in it that
	// vouches for its first line's predecessor or a later line.
	if e.Checkpoint.Seq+1 >= l.curFile.first {
		l.curCheckpointed = true
	}
}
