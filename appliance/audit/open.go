package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// open runs Open's checks, then its repairs. Nothing in the directory is
// changed before every check passed, so a log Open refuses is left exactly
// as it was found, for investigation.
func (l *Log) open(ctx context.Context) (*Recovery, error) {
	rec := &Recovery{}
	if err := l.fs.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: creating %s: %w", l.dir, err)
	}
	if err := l.migrateLegacy(rec); err != nil {
		return nil, err
	}
	files, err := listFiles(l.fs, l.dir)
	if err != nil {
		return nil, err
	}
	anchor, err := l.readAnchor()
	if err != nil {
		return nil, err
	}
	rec.Anchor = anchor

	// Newest files with no complete line are what a crash while the log
	// was being created leaves; they hold nothing and are removed below.
	var empty []logFile
	var st tailState
	for len(files) > 0 {
		cur := files[len(files)-1]
		var anchorSeq uint64
		if anchor != nil {
			anchorSeq = anchor.Seq
		}
		if st, err = l.scanNewest(ctx, cur, anchorSeq); err != nil {
			return nil, err
		}
		if st.lines > 0 {
			break
		}
		empty = append(empty, cur)
		files = files[:len(files)-1]
	}
	if err := checkAnchor(anchor, files, &st); err != nil {
		return nil, err
	}
	rec.Records, rec.VerifiedFrom, rec.Checkpoint, rec.TornBytes = st.seq, st.verifiedFrom, st.checkpointed, st.torn
	rec.Files = len(files)

	// Repairs.
	for _, f := range empty {
		if err := l.fs.Remove(join(l.dir, f.name)); err != nil {
			return nil, fmt.Errorf("audit: removing %s, left empty by a crash: %w", f.name, err)
		}
		l.log.Warn("audit log: removed a file left empty by a crash", "file", f.name)
	}
	for _, tmp := range []string{nextFileTemp, compressTemp} {
		if err := l.fs.Remove(join(l.dir, tmp)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("audit: removing %s, left by a rotation or compression that failed: %w", tmp, err)
		}
	}
	for _, f := range files {
		if f.superseded != "" {
			if err := l.fs.Remove(join(l.dir, f.superseded)); err != nil {
				return nil, fmt.Errorf("audit: removing %s, a compressed copy of %s left by a crash: %w", f.superseded, f.name, err)
			}
		}
	}
	now := l.now().UTC()
	if len(files) == 0 {
		if err := l.startChain(now); err != nil {
			return nil, err
		}
		rec.Records, rec.Files = l.seq, 1
	} else {
		cur := files[len(files)-1]
		l.rotated = files[:len(files)-1]
		l.seq, l.head = st.seq, st.head
		l.checkpointedSeq, l.checkpointLine = st.checkpointed, st.checkpointLine
		l.curCheckpointed = st.checkpointed > 0 && st.checkpointed+1 >= cur.first
		l.uncheckpointed = st.uncheckpointed
		if cur.legacy || cur.compressed {
			// A version 1 or compressed file is history: the chain goes on
			// in a new file.
			if err := l.continueLegacy(cur, st, now); err != nil {
				return nil, err
			}
		} else {
			f, err := l.openCurrent(cur.name, false)
			if err != nil {
				return nil, err
			}
			l.cur, l.curFile = f, cur
			if st.torn > 0 {
				if err := f.Truncate(cur.size - st.torn); err != nil {
					return nil, fmt.Errorf("audit: cutting the incomplete last record of %s: %w", cur.name, err)
				}
				l.curFile.size -= st.torn
			}
		}
	}
	// Whatever the file holds is now made durable (a crash of the process
	// leaves it in the page cache only), so it can be anchored.
	if err := l.cur.Sync(); err != nil {
		return nil, fmt.Errorf("audit: syncing %s: %w", l.curFile.name, err)
	}
	l.synced, l.syncHead = l.seq, l.head
	if l.uncheckpointed.IsZero() {
		l.uncheckpointed = now
	}
	var notes []entry
	if st.torn > 0 {
		notes = append(notes, entry{Record: Record{Time: now, Kind: KindRecovery}, Note: fmt.Sprintf("cut an incomplete last record of %d bytes from %s, left by a crash in the middle of a write that was never acknowledged", st.torn, l.curFile.name)})
	}
	if anchor != nil && anchor.Lost != nil {
		rec.Reset = anchor.Lost
		notes = append(notes, entry{Record: Record{Time: now, Kind: KindReset}, Note: fmt.Sprintf("the operator acknowledged that records after %d up to the anchored record %d (hash %s) are lost", st.seq, anchor.Lost.Seq, anchor.Lost.Head)})
	}
	if len(notes) > 0 {
		l.mu.Lock()
		_, err := l.appendLocked(notes)
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if err := l.Sync(); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	l.setAnchorLocked()
	l.mu.Unlock()
	return rec, nil
}

// readAnchor reads the anchor from the store, if there is one.
func (l *Log) readAnchor() (*Anchor, error) {
	if l.opts.Anchors == nil {
		return nil, nil
	}
	v, ok := l.opts.Anchors.Anchor(AnchorName)
	if !ok {
		return nil, nil
	}
	a, err := ParseAnchor(string(v))
	if err != nil {
		return nil, fmt.Errorf("audit: the anchor in the slashing protection database is unreadable: %w", err)
	}
	return &a, nil
}

// checkAnchor compares the end of the log with the anchor.
func checkAnchor(a *Anchor, files []logFile, st *tailState) error {
	if a == nil || a.Seq == 0 {
		return nil
	}
	if len(files) == 0 {
		return &Error{Err: ErrTruncated, Detail: fmt.Sprintf("the directory holds no records but the slashing protection database anchors record %d (hash %s): the log was emptied or deleted", a.Seq, a.Head)}
	}
	cur := files[len(files)-1].name
	if a.Seq > st.seq {
		return &Error{File: cur, Seq: st.seq, Err: ErrTruncated, Detail: fmt.Sprintf("the log ends at record %d but the slashing protection database anchors record %d (hash %s): records %d to %d were cut off, or a newer file was emptied or deleted", st.seq, a.Seq, a.Head, st.seq+1, a.Seq)}
	}
	if h := st.anchorHash; h != nil && h.String() != a.Head {
		return &Error{File: cur, Seq: a.Seq, Err: ErrAnchor, Detail: fmt.Sprintf("its hash is %s, the anchor's %s: the log was rewritten", h, a.Head)}
	}
	if c := a.Checkpoint; c >= files[len(files)-1].first && st.checkpointLine < c {
		return &Error{File: cur, Seq: c, Err: ErrCheckpoint, Detail: fmt.Sprintf("the anchor says record %d is a checkpoint but the newest checkpoint in the file is at %d: checkpoints were removed", c, st.checkpointLine)}
	}
	return nil
}

// startChain creates the first file of a new log.
func (l *Log) startChain(now time.Time) error {
	l.seq, l.head = 0, hash{}
	next, f, line, h, err := l.newFileLocked(now, "new log")
	if err != nil {
		return err
	}
	l.cur, l.curFile = f, next
	l.curFile.size = int64(len(line))
	l.seq, l.head = next.first, h
	l.stats.Lines++
	l.stats.Bytes += uint64(len(line))
	return nil
}

// continueLegacy starts a new file after a version 1 one, or after a
// compressed one (which no longer takes records).
func (l *Log) continueLegacy(legacy logFile, st tailState, now time.Time) error {
	if st.torn > 0 && !legacy.compressed {
		f, err := l.fs.OpenFile(join(l.dir, legacy.name), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		err = f.Truncate(legacy.size - st.torn)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("audit: cutting the incomplete last record of %s: %w", legacy.name, err)
		}
		legacy.size -= st.torn
	}
	reason := "continues " + legacy.name
	if legacy.legacy {
		reason = "version 2 continues " + legacy.name
	}
	next, f, line, h, err := l.newFileLocked(now, reason)
	if err != nil {
		return err
	}
	l.rotated = append(l.rotated, legacy)
	l.cur, l.curFile = f, next
	l.curFile.size = int64(len(line))
	l.seq, l.head = next.first, h
	l.stats.Lines++
	l.stats.Bytes += uint64(len(line))
	if err := l.fs.Chmod(join(l.dir, legacy.name), 0o400); err != nil {
		l.log.Warn("audit log: making the file read-only", "file", legacy.name, "err", err)
	}
	return nil
}

// scanCompressed reads a compressed newest file forward (it is complete:
// only rotated files are compressed) and returns its last line's sequence
// number and hash, having checked its chain.
func (l *Log) scanCompressed(f logFile, anchorSeq uint64) (tailState, error) {
	st := tailState{anchorSeq: anchorSeq}
	r, err := verifyFiles(context.Background(), l.fs, []string{join(l.dir, f.name)}, VerifyOptions{})
	if err != nil {
		return st, err
	}
	if r.LastSeq == 0 {
		return st, nil
	}
	h, err := parseHash(r.Head)
	if err != nil {
		return st, err
	}
	st.lines, st.seq, st.head, st.verifiedFrom = int(r.LastSeq-r.FirstSeq+1), r.LastSeq, h, r.FirstSeq
	if anchorSeq == r.LastSeq {
		st.anchorHash = &h
	}
	return st, nil
}

// migrateLegacy moves a version 1 log into the directory as its first file.
func (l *Log) migrateLegacy(rec *Recovery) error {
	p := l.opts.LegacyFile
	if p == "" {
		return nil
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if info.Size() == 0 {
		return l.fs.Remove(p)
	}
	files, err := listFiles(l.fs, l.dir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		return fmt.Errorf("audit: both %s (a version 1 log) and %s hold an audit log; move the one that is not current away", p, l.dir)
	}
	to := join(l.dir, legacyName())
	if err := l.fs.Rename(p, to); err != nil {
		return fmt.Errorf("audit: moving the version 1 log %s into %s: %w", p, l.dir, err)
	}
	for _, d := range []string{l.dir, filepath.Dir(p)} {
		if err := l.fs.SyncDir(d); err != nil {
			return fmt.Errorf("audit: syncing %s: %w", d, err)
		}
	}
	rec.Legacy = p
	l.log.Info("audit log: moved the version 1 log into the log directory; verify it with rampartctl audit verify", "from", p, "to", to)
	return nil
}

// tailState is what scanNewest learned.
type tailState struct {
	lines          int // complete lines in the file
	seq            uint64
	head           hash
	torn           int64
	verifiedFrom   uint64
	checkpointed   uint64 // the line the last checkpoint vouches for
	checkpointLine uint64
	uncheckpointed time.Time
	// anchorSeq is the line whose hash to keep in anchorHash (the
	// anchored one), if it is among the lines verified.
	anchorSeq  uint64
	anchorHash *hash
}

// scanNewest checks the newest file from its last checkpoint (or its
// start): the checkpoint's tag, then the chain forward from the line after
// the one it vouches for. A cheap backward pass finds where to start (it
// reads only sequence numbers, and parses only lines that may be
// checkpoints); the forward pass streams.
func (l *Log) scanNewest(ctx context.Context, f logFile, anchorSeq uint64) (tailState, error) {
	st := tailState{anchorSeq: anchorSeq}
	fh, err := l.fs.OpenFile(join(l.dir, f.name), os.O_RDONLY, 0)
	if err != nil {
		return st, fmt.Errorf("audit: %w", err)
	}
	defer fh.Close()
	if f.legacy {
		return scanLegacyTail(fh, f, anchorSeq)
	}
	if f.compressed {
		return l.scanCompressed(f, anchorSeq)
	}
	var cp *entry
	var cpHead hash
	var startOff int64 = -1
	var startSeq uint64
	marker := []byte(`"kind":"checkpoint"`)
	torn, err := readBackward(fh, f.size, func(off int64, raw []byte) (bool, error) {
		st.lines++
		seq, ok := quickSeq(raw)
		if !ok {
			return false, &Error{File: f.name, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: not a record", off)}
		}
		startOff, startSeq = off, seq
		if cp == nil && bytes.Contains(raw, marker) {
			e, _, _, perr := parseLine(raw)
			if perr != nil {
				return false, &Error{File: f.name, Seq: seq, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: %v", off, perr)}
			}
			if e.Kind == KindCheckpoint {
				h, verr := verifyCheckpoint(ctx, l.opts.Tagger, e)
				if verr != nil {
					return false, &Error{File: f.name, Seq: e.Seq, Err: ErrCheckpoint, Detail: verr.Error()}
				}
				cp, cpHead = e, h
				st.checkpointed, st.checkpointLine = cp.Checkpoint.Seq, cp.Seq
			}
		}
		return cp != nil && seq <= cp.Checkpoint.Seq+1, nil
	})
	if err != nil {
		return st, err
	}
	st.torn = torn
	if st.lines == 0 {
		return st, nil
	}
	// Forward from startOff.
	var prev hash
	fromCheckpoint := cp != nil && startSeq == cp.Checkpoint.Seq+1
	if !fromCheckpoint && startOff != 0 {
		return st, &Error{File: f.name, Seq: startSeq, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: records are out of sequence before the last checkpoint", startOff)}
	}
	if fromCheckpoint {
		prev = cpHead
	}
	br := bufio.NewReaderSize(io.NewSectionReader(fh, startOff, f.size-torn-startOff), 1<<20)
	off, expect := startOff, startSeq
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		raw, rerr := br.ReadSlice('\n')
		for rerr == bufio.ErrBufferFull {
			// A batch line longer than the buffer.
			var more []byte
			more, rerr = br.ReadSlice('\n')
			raw = append(bytes.Clone(raw), more...)
		}
		if len(raw) == 0 {
			break
		}
		if raw[len(raw)-1] != '\n' {
			return st, &Error{File: f.name, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: changed while being read", off)}
		}
		ln := raw[:len(raw)-1]
		e, body, claimed, perr := parseLine(ln)
		if perr != nil {
			return st, &Error{File: f.name, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: %v", off, perr)}
		}
		if off == 0 {
			if e.Kind != KindFile {
				return st, &Error{File: f.name, Line: 1, Seq: e.Seq, Err: ErrBroken, Detail: "a file must start with a file record"}
			}
			if e.Seq != f.first {
				return st, &Error{File: f.name, Line: 1, Seq: e.Seq, Err: ErrBroken, Detail: fmt.Sprintf("the file's name says it starts at record %d", f.first)}
			}
			if fromCheckpoint {
				if e.Prev != cpHead.String() {
					return st, &Error{File: f.name, Line: 1, Seq: e.Seq, Err: ErrCheckpoint, Detail: "the checkpoint vouches for another predecessor than the one this file continues"}
				}
			} else if prev, err = parseHash(e.Prev); err != nil {
				return st, &Error{File: f.name, Line: 1, Seq: e.Seq, Err: ErrBroken, Detail: err.Error()}
			}
		} else if e.Kind == KindFile {
			return st, &Error{File: f.name, Seq: e.Seq, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: a file record in the middle of a file", off)}
		}
		if e.Seq != expect {
			return st, &Error{File: f.name, Seq: e.Seq, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: sequence number %d, want %d", off, e.Seq, expect)}
		}
		if h := digest(prev, body); h != claimed {
			if fromCheckpoint && off == startOff {
				return st, &Error{File: f.name, Seq: e.Seq, Err: ErrCheckpoint, Detail: fmt.Sprintf("the chain does not continue from the hash the checkpoint at record %d vouches for at record %d: the records up to it were rewritten", cp.Seq, cp.Checkpoint.Seq)}
			}
			return st, &Error{File: f.name, Seq: e.Seq, Err: ErrBroken, Detail: fmt.Sprintf("line at byte %d: hash does not match its contents and the record before it", off)}
		}
		if cp != nil && e.Seq == cp.Checkpoint.Seq && claimed != cpHead {
			return st, &Error{File: f.name, Seq: e.Seq, Err: ErrCheckpoint, Detail: fmt.Sprintf("its hash is %s but the checkpoint at record %d vouches for %s", claimed, cp.Seq, cpHead)}
		}
		if e.Seq == st.anchorSeq {
			h := claimed
			st.anchorHash = &h
		}
		if cp != nil && e.Seq == cp.Seq+1 {
			st.uncheckpointed = e.Time
		}
		prev = claimed
		st.seq, st.head = e.Seq, claimed
		off += int64(len(raw))
		expect++
		if rerr != nil {
			break
		}
	}
	st.verifiedFrom = startSeq
	return st, nil
}

// quickSeq reads the sequence number a version 2 line starts with.
func quickSeq(line []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"seq":`))
	if !ok {
		return 0, false
	}
	i := bytes.IndexByte(rest, ',')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	return n, err == nil && n > 0
}

// scanLegacyTail reads the last complete line of a version 1 file: its
// sequence number and hash continue the chain.
func scanLegacyTail(fh file, f logFile, anchorSeq uint64) (tailState, error) {
	st := tailState{anchorSeq: anchorSeq}
	var lastLine []byte
	torn, err := readBackward(fh, f.size, func(_ int64, raw []byte) (bool, error) {
		lastLine = bytes.Clone(raw)
		return true, nil
	})
	if err != nil {
		return st, err
	}
	st.torn = torn
	if lastLine == nil {
		return st, nil
	}
	seq, h, err := parseLegacyHead(lastLine)
	if err != nil {
		return st, &Error{File: f.name, Err: ErrBroken, Detail: "last line: " + err.Error()}
	}
	st.lines, st.seq, st.head, st.verifiedFrom = 1, seq, h, seq
	if seq == anchorSeq {
		st.anchorHash = &h
	}
	return st, nil
}

// readBackward calls fn for each complete line of the first size bytes of
// f, newest first, without its newline, until fn returns true. It returns
// the length of an incomplete last line (bytes after the last newline).
func readBackward(f file, size int64, fn func(off int64, line []byte) (bool, error)) (int64, error) {
	const chunk = 64 << 10
	var torn int64 = -1
	var carry []byte // the start of the line that ends the previous chunk read
	pos := size
	for pos > 0 {
		n := min(int64(chunk), pos)
		buf := make([]byte, n, n+int64(len(carry)))
		if _, err := f.ReadAt(buf, pos-n); err != nil {
			return 0, fmt.Errorf("audit: reading: %w", err)
		}
		pos -= n
		buf = append(buf, carry...)
		end := len(buf)
		if torn < 0 {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 && pos > 0 {
				carry = buf
				continue
			}
			torn = int64(end - (i + 1))
			end = i + 1
			if i < 0 {
				return torn, nil
			}
		}
		// buf[:end] ends with a newline; split it into lines from the end.
		for end > 0 {
			i := bytes.LastIndexByte(buf[:end-1], '\n')
			if i < 0 && pos > 0 {
				break
			}
			start := i + 1
			stop, err := fn(pos+int64(start), buf[start:end-1])
			if err != nil || stop {
				return torn, err
			}
			end = start
		}
		carry = buf[:end]
	}
	if torn < 0 {
		torn = 0
	}
	return torn, nil
}
