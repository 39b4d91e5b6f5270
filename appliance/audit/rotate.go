package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Rotation. When the current file reaches Options.RotateBytes, or its
// first record is Options.RotateAge old, the next append first starts a
// new file, under the append lock:
//
//  1. fsync the current file (everything in it becomes durable history);
//  2. create the next file (O_EXCL), write its first line - a "file"
//     record whose prev is the current head, which chains the files - and
//     fsync it and the directory;
//  3. switch to it, and make the old file read-only.
//
// It costs three fsyncs, once per file. Nothing is renamed, so there is no
// step after which the log could be left without a current file: a failure
// in step 2 removes the new file and the append goes on in the current
// one; the failure is logged and counted, and rotation is tried again a
// minute later. Only a failed fsync of the current file (step 1) stops the
// log, as it would have at the append's own fsync.

// maybeRotateLocked rotates when due. It returns an error only when the
// log failed.
func (l *Log) maybeRotateLocked(now time.Time) error {
	reason := ""
	switch {
	case l.opts.RotateBytes > 0 && l.curFile.size >= l.opts.RotateBytes:
		reason = fmt.Sprintf("rotated: %s reached %d bytes", l.curFile.name, l.curFile.size)
	case l.opts.RotateAge > 0 && now.Sub(l.curFile.start) >= l.opts.RotateAge:
		reason = fmt.Sprintf("rotated: %s started at %s", l.curFile.name, l.curFile.start.Format(time.RFC3339))
	default:
		return nil
	}
	if now.Before(l.nextRotation) {
		return nil
	}
	if err := l.rotateLocked(now, reason); err != nil {
		if l.failed != nil {
			return l.failed
		}
		l.stats.RotationFailures++
		l.stats.RotationError = err
		l.nextRotation = now.Add(rotationRetry)
		l.log.Error("audit log: rotation failed; writing on in the current file", "file", l.curFile.name, "retry_in", rotationRetry.String(), "err", err)
	}
	return nil
}

// rotateLocked starts a new file; reason goes into its first line.
func (l *Log) rotateLocked(now time.Time, reason string) error {
	if l.synced < l.seq {
		for l.syncing {
			// Let the running fsync finish rather than race it.
			done := l.syncDone
			l.mu.Unlock()
			<-done
			l.mu.Lock()
			if err := l.usableLocked(); err != nil {
				return err
			}
		}
		if err := l.cur.Sync(); err != nil {
			l.stats.SyncErrors++
			l.failLocked(fmt.Errorf("fsync of %s before rotation: %w", l.curFile.name, err))
			return l.failed
		}
		l.stats.Syncs++
		l.synced, l.syncHead = l.seq, l.head
		l.setAnchorLocked()
	}
	next, f, line, h, err := l.newFileLocked(now, reason)
	if err != nil {
		return err
	}
	old, oldFile, wasCheckpointed := l.cur, l.curFile, l.curCheckpointed
	l.cur = f
	l.curFile = next
	l.curFile.size = int64(len(line))
	l.curCheckpointed = false
	l.seq, l.head = next.first, h
	l.synced, l.syncHead = l.seq, l.head
	l.stats.Lines++
	l.stats.Bytes += uint64(len(line))
	l.stats.Rotations++
	l.stats.RotationError = nil
	l.setAnchorLocked()
	l.rotated = append(l.rotated, oldFile)
	if wasCheckpointed {
		l.cpFiles[oldFile.name] = true
	}
	if err := old.Close(); err != nil {
		l.log.Warn("audit log: closing the rotated file", "file", oldFile.name, "err", err)
	}
	if err := l.fs.Chmod(join(l.dir, oldFile.name), 0o400); err != nil {
		l.log.Warn("audit log: making the rotated file read-only", "file", oldFile.name, "err", err)
	}
	l.log.Info("audit log rotated", "closed", oldFile.name, "bytes", oldFile.size, "opened", next.name)
	// A checkpoint at once makes the new file verifiable on its own, and
	// retention may now delete old files.
	l.retainDue = true
	l.signal()
	return nil
}

// nextFileTemp is where the next file is prepared; names that do not
// match the log's pattern are ignored, so a crash or failure mid-way leaves
// nothing Open would take for part of the log.
const nextFileTemp = ".audit-next.tmp"

// newFileLocked prepares the next file under a temporary name (its first
// line written and synced), then renames it into place and syncs the
// directory. The new file is durable with its first line before the switch.
func (l *Log) newFileLocked(now time.Time, reason string) (logFile, file, []byte, hash, error) {
	next := logFile{name: fileName(l.seq+1, now), first: l.seq + 1, start: now}
	tmp := join(l.dir, nextFileTemp)
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return next, nil, nil, hash{}, fmt.Errorf("audit: creating %s: %w", tmp, err)
	}
	e := entry{Seq: next.first, Record: Record{Time: now, Kind: KindFile}, Prev: l.head.String(), Note: reason}
	line, h, err := encodeEntry(nil, &e, l.head)
	if err == nil {
		_, err = f.Write(line)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.Rename(tmp, join(l.dir, next.name))
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		// The new name may exist if only the directory sync failed.
		if rerr := l.fs.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			l.log.Warn("audit log: removing the file of a failed rotation", "file", tmp, "err", rerr)
		}
		if rerr := l.fs.Remove(join(l.dir, next.name)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			// A next file that cannot be removed would be taken for the
			// log's newest at the next start, with the current file's
			// later records out of its chain: stop instead.
			l.failLocked(fmt.Errorf("rotation left %s behind and it cannot be removed: %w", next.name, rerr))
		}
		return next, nil, nil, hash{}, fmt.Errorf("audit: starting %s: %w", next.name, err)
	}
	return next, f, line, h, nil
}
