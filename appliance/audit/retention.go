package audit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Retention deletes the oldest rotated files while all files together hold
// more than Options.RetainBytes, or while the oldest's last record is older
// than Options.RetainAge. It never deletes the current file, and it stops
// before a deletion that would leave the oldest remaining file without a
// checkpoint vouching for its start: what remains must still verify from a
// checkpoint (with a Tagger; without one there is nothing to verify from).
// Each run that deletes something appends a retention record naming the
// files, their records and sizes, so the log says what it no longer holds.
// Ship rotated files off the host before retention reaches them.

// Retain applies retention now and returns what it deleted. Run calls it
// after each rotation and hourly.
func (l *Log) Retain(ctx context.Context) ([]FileSummary, error) {
	if l.opts.RetainBytes <= 0 && l.opts.RetainAge <= 0 {
		return nil, nil
	}
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	rotated := slices.Clone(l.rotated)
	cur, curCP, now := l.curFile, l.curCheckpointed, l.now()
	l.mu.Unlock()

	total := cur.size
	for _, f := range rotated {
		total += f.size
	}
	var del []logFile
	var reasons []string
	for i, f := range rotated {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next := cur
		if i+1 < len(rotated) {
			next = rotated[i+1]
		}
		tooBig := l.opts.RetainBytes > 0 && total > l.opts.RetainBytes
		tooOld := l.opts.RetainAge > 0 && !next.start.IsZero() && now.Sub(next.start) > l.opts.RetainAge
		if !tooBig && !tooOld {
			break
		}
		if l.opts.Tagger != nil {
			ok := curCP
			if next.name != cur.name {
				var err error
				if ok, err = l.fileHasCheckpoint(next); err != nil {
					return nil, err
				}
			}
			if !ok {
				l.log.Warn("audit log: retention stops: the next file holds no checkpoint to verify from", "keep", f.name, "next", next.name)
				break
			}
		}
		del = append(del, f)
		total -= f.size
		if tooBig {
			reasons = append(reasons, "size")
		} else {
			reasons = append(reasons, "age")
		}
	}
	if len(del) == 0 {
		return nil, nil
	}
	var gone []FileSummary
	var firstErr error
	for i, f := range del {
		last := cur.first - 1
		if i+1 < len(rotated) {
			last = rotated[i+1].first - 1
		}
		if err := l.fs.Remove(join(l.dir, f.name)); err != nil {
			firstErr = fmt.Errorf("audit: retention: deleting %s: %w", f.name, err)
			break
		}
		gone = append(gone, FileSummary{Name: f.name, FirstSeq: f.first, LastSeq: last, Bytes: f.size})
	}
	if len(gone) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("audit: retention: syncing %s: %w", l.dir, err)
		}
		l.mu.Lock()
		l.rotated = l.rotated[len(gone):]
		for _, g := range gone {
			l.stats.DeletedFiles++
			l.stats.DeletedBytes += uint64(g.Bytes)
			delete(l.cpFiles, g.Name)
		}
		l.mu.Unlock()
		note := fmt.Sprintf("retention deleted %d files (%s limit; retain_bytes %d, retain_age %s)", len(gone), strings.Join(slices.Compact(reasons[:len(gone)]), " and "), l.opts.RetainBytes, l.opts.RetainAge)
		l.log.Info("audit log: "+note, "first", gone[0].Name, "last", gone[len(gone)-1].Name)
		p := l.writeEntries([]entry{{Record: Record{Kind: KindRetention}, Files: gone, Note: note}}, false)
		if err := p.Wait(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return gone, firstErr
}

// fileHasCheckpoint reports whether a rotated file holds a checkpoint that
// vouches for its first line's predecessor or a later line, which is what
// verifying the file without the ones before it needs. Rotated files do
// not change, so the answer is cached.
func (l *Log) fileHasCheckpoint(f logFile) (bool, error) {
	l.mu.Lock()
	ok, known := l.cpFiles[f.name]
	l.mu.Unlock()
	if known {
		return ok, nil
	}
	rc, err := openContent(l.fs, join(l.dir, f.name), f.compressed)
	if err != nil {
		return false, fmt.Errorf("audit: retention: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	marker := []byte(`"kind":"checkpoint"`)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long batch line; it is no checkpoint.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' && bytes.Contains(line, marker) {
			if e, _, _, perr := parseLine(line[:len(line)-1]); perr == nil && e.Checkpoint != nil && e.Checkpoint.Seq+1 >= f.first {
				ok = true
				break
			}
		}
		if err != nil {
			break
		}
	}
	l.mu.Lock()
	l.cpFiles[f.name] = ok
	l.mu.Unlock()
	return ok, nil
}
