package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Options tune a Log. The zero value of each field is its default, except
// where said.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives rotation, retention and checkpoint events; discarded
	// when nil.
	Logger *slog.Logger

	// RotateBytes starts a new file once the current one holds this many
	// bytes; 0 never rotates by size.
	RotateBytes int64
	// RotateAge starts a new file once the current one's first record is
	// this old; 0 never rotates by age.
	RotateAge time.Duration
	// RetainBytes deletes the oldest rotated files while all files together
	// hold more; 0 keeps any size.
	RetainBytes int64
	// RetainAge deletes rotated files whose last record is older; 0 keeps
	// any age.
	RetainAge time.Duration

	// Tagger makes checkpoint tags in the HSM and checks the last one at
	// Open. Without it the log writes no checkpoints.
	Tagger Tagger
	// CheckpointRecords is how many lines may follow the last checkpoint
	// before Run writes the next one (default 10,000).
	CheckpointRecords uint64
	// CheckpointInterval is the longest time between checkpoints while
	// records are written (default 1 minute).
	CheckpointInterval time.Duration

	// Anchors keeps the anchor; without it truncation is not detected.
	Anchors AnchorStore
	// AnchorInterval bounds how long an anchor waits for the store's next
	// commit before Run flushes it (default 1 second).
	AnchorInterval time.Duration

	// Compress compresses rotated files with zstd (compress.go).
	Compress bool

	// LegacyFile is the path of a version 1 log (one file, before
	// rotation) to move into the directory as its first file.
	LegacyFile string

	// ObserveSync, when set, is told how long each fsync took and how many
	// lines it made durable.
	ObserveSync func(d time.Duration, lines int)

	// fs replaces the operating system in tests.
	fs fileSystem
}

func (o *Options) normalize() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CheckpointRecords == 0 {
		o.CheckpointRecords = 10_000
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Minute
	}
	if o.AnchorInterval <= 0 {
		o.AnchorInterval = time.Second
	}
	if o.fs == nil {
		o.fs = osFS{}
	}
}

// rotationRetry is how long the log waits after a failed rotation before
// trying again; meanwhile it keeps writing to the current file.
const rotationRetry = time.Minute

// Log appends chained records to a directory of files. It is safe for
// concurrent use.
//
// Durability is a group commit: Append writes its lines under the append
// lock (a write(2) into the page cache, microseconds), then waits for an
// fsync that covers them. The first waiter to find no fsync running runs
// one for everything written so far; those who wrote meanwhile wait for it
// and, if it started before their write, run or join the next. So
// concurrent appenders share fsyncs, nobody returns before the fsync that
// covers their lines, and no goroutine is started for it.
type Log struct {
	dir  string
	opts Options
	fs   fileSystem
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	cur      file
	curFile  logFile // name, first seq, start, size
	rotated  []logFile
	seq      uint64 // last line written
	head     hash   // its hash
	synced   uint64 // last line known durable
	syncHead hash
	syncing  bool
	syncDone chan struct{} // closed when the running fsync ends
	failed   error
	closed   bool
	buf      []byte

	// Checkpoints: the last line vouched for, the last checkpoint line,
	// and when the first line after it was written.
	checkpointedSeq uint64
	checkpointLine  uint64
	curCheckpointed bool      // the current file holds a checkpoint
	uncheckpointed  time.Time // first line not covered by a checkpoint
	nextRotation    time.Time // after a failed rotation

	// Anchor: the last anchored seq and whether the store has it written.
	anchoredSeq uint64
	anchorFlush bool
	anchorDirty time.Time
	retainDue   bool
	cpFiles     map[string]bool // rotated files known to hold a checkpoint
	wake        chan struct{}
	kick        chan struct{} // to the syncer while Run runs one
	stats       Stats
}

// Stats are counters for metrics, cumulative since Open.
type Stats struct {
	// Records is the number of records appended (a batch line counts each
	// key), Lines the number of lines, Bytes their size.
	Records, Lines, Bytes uint64
	// Syncs is the number of fsyncs of the log; SyncErrors those that
	// failed; WriteErrors failed writes (the appends were refused).
	Syncs, SyncErrors, WriteErrors uint64
	// Rotations and RotationFailures count new files and failed attempts.
	Rotations, RotationFailures uint64
	// Compressed counts rotated files compressed, CompressedBytesSaved
	// what that saved.
	Compressed, CompressedBytesSaved uint64
	// RetainedFiles and RetainedBytes are what the directory holds;
	// DeletedFiles and DeletedBytes what retention removed.
	RetainedFiles              int
	RetainedBytes              int64
	DeletedFiles, DeletedBytes uint64
	// Checkpoints and CheckpointFailures count HSM checkpoints;
	// LastCheckpoint is when the last one was taken.
	Checkpoints, CheckpointFailures uint64
	LastCheckpoint                  time.Time
	// CheckpointError and RotationError are the last failures of each,
	// cleared by the next success: the log is degraded meanwhile.
	CheckpointError, RotationError error
	// Head is the last line's sequence number, Durable the last one known
	// to be on disk, Anchored the last one handed to the anchor store.
	Head, Durable, Anchored uint64
	// Failed is the error that stopped the log, if any.
	Failed error
}

// Open opens the log in dir (created, mode 0700, if missing) and checks it
// as start-up should: the last checkpoint's tag (with Options.Tagger), the
// chain from the record it vouches for to the end, and the end against the
// anchor (with Options.Anchors). It reads the newest file only, back to its
// last checkpoint, so its time does not grow with the log; rampartctl audit
// verify checks everything. An incomplete last line left by a crash (never
// acknowledged) is cut off and the cut recorded in the log.
func Open(ctx context.Context, dir string, opts Options) (*Log, *Recovery, error) {
	opts.normalize()
	l := &Log{
		dir: dir, opts: opts, fs: opts.fs, log: opts.Logger, now: opts.Now,
		syncDone: make(chan struct{}), cpFiles: map[string]bool{}, wake: make(chan struct{}, 1),
	}
	rec, err := l.open(ctx)
	if err != nil {
		if l.cur != nil {
			l.cur.Close()
		}
		return nil, nil, err
	}
	return l, rec, nil
}

// Recovery says what Open found.
type Recovery struct {
	// Records is the sequence number of the last line.
	Records uint64
	// TornBytes is the length of an incomplete last line that was cut.
	TornBytes int64
	// VerifiedFrom is the first line whose chain Open checked; Checkpoint
	// the line the last checkpoint vouches for (0 when none was found).
	VerifiedFrom, Checkpoint uint64
	// Anchor is the anchor Open compared the end with, if any.
	Anchor *Anchor
	// Legacy is set when a version 1 log was moved in (unchecked: run
	// rampartctl audit verify).
	Legacy string
	// Reset is the loss acknowledged by the operator, now noted in the log.
	Reset *Anchor
	// Files is the number of files in the directory.
	Files int
}

// Pending is lines written to the file whose fsync was not yet waited for.
type Pending struct {
	l   *Log
	seq uint64
	err error
}

// errNothingWritten keeps a zero Pending from passing for durable.
var errNothingWritten = errors.New("audit: nothing was written")

// Wait returns once the lines are on disk (nil) or can never be (an error;
// the caller must not release what they describe).
func (p Pending) Wait() error {
	if p.err != nil {
		return p.err
	}
	if p.l == nil {
		return errNothingWritten
	}
	return p.l.waitDurable(p.seq)
}

// Append writes records and returns once they are on disk. Records that
// differ only in PublicKey become one line. On error nothing may be
// released.
func (l *Log) Append(recs ...Record) error {
	return l.Write(recs...).Wait()
}

// Write writes records to the file now and returns without waiting for
// their fsync; Wait on the result before releasing what they describe.
// Splitting the two lets the signer write the record of a partial
// signature while the slashing database's commit runs, and wait for both.
func (l *Log) Write(recs ...Record) Pending {
	if len(recs) == 0 {
		return Pending{err: errNothingWritten}
	}
	return l.writeEntries(group(recs), true)
}

// group turns records into lines: consecutive records equal but for their
// public key share one line.
func group(recs []Record) []entry {
	out := make([]entry, 0, 1)
	for _, r := range recs {
		key := r.PublicKey
		r.PublicKey = ""
		if n := len(out); n > 0 && key != "" && len(out[n-1].PublicKeys) > 0 && out[n-1].Record == r {
			out[n-1].PublicKeys = append(out[n-1].PublicKeys, key)
			continue
		}
		e := entry{Record: r}
		if key != "" {
			e.PublicKeys = []string{key}
		}
		out = append(out, e)
	}
	return out
}

// writeEntries writes lines; rotate says whether this write may start a
// new file first (the log's own lines never rotate).
func (l *Log) writeEntries(es []entry, rotate bool) Pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return Pending{err: err}
	}
	now := l.now().UTC()
	for i := range es {
		if es[i].Time.IsZero() {
			es[i].Time = now
		} else {
			es[i].Time = es[i].Time.UTC()
		}
	}
	if rotate {
		if err := l.maybeRotateLocked(now); err != nil {
			return Pending{err: err}
		}
	}
	seq, err := l.appendLocked(es)
	if err != nil {
		return Pending{err: err}
	}
	return Pending{l: l, seq: seq}
}

// appendLocked encodes and writes lines in one write call. A failed write
// is undone (the file cut back), so the log stays usable once the cause
// (a full disk) is gone; if it cannot be undone the log fails.
func (l *Log) appendLocked(es []entry) (uint64, error) {
	buf := l.buf[:0]
	seq, head := l.seq, l.head
	records := 0
	for i := range es {
		seq++
		es[i].Seq = seq
		var err error
		buf, head, err = encodeEntry(buf, &es[i], head)
		if err != nil {
			return 0, err
		}
		records += max(1, len(es[i].PublicKeys))
	}
	l.buf = buf[:0]
	n, err := l.cur.Write(buf)
	if err != nil {
		l.stats.WriteErrors++
		if n > 0 {
			if terr := l.cur.Truncate(l.curFile.size); terr != nil {
				l.failLocked(fmt.Errorf("writing %s: %v; cutting the partial write back: %w", l.curFile.name, err, terr))
			}
		}
		return 0, fmt.Errorf("audit: writing %s: %w", l.curFile.name, err)
	}
	for i := range es {
		if es[i].Kind == KindCheckpoint {
			l.noteCheckpointLocked(&es[i])
		} else if es[i].Seq-1 == l.checkpointLine {
			l.uncheckpointed = es[i].Time
		}
	}
	l.seq, l.head = seq, head
	if l.kick != nil {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	l.curFile.size += int64(n)
	l.stats.Records += uint64(records)
	l.stats.Lines += uint64(len(es))
	l.stats.Bytes += uint64(n)
	if l.seq-l.checkpointLine >= l.opts.CheckpointRecords {
		l.signal()
	}
	return seq, nil
}

// signal wakes Run.
func (l *Log) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Log) failLocked(err error) {
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %v", ErrFailed, err)
		l.log.Error("audit log failed; it takes no more records until restarted", "err", err)
	}
}

func (l *Log) usableLocked() error {
	if l.failed != nil {
		return l.failed
	}
	if l.closed {
		return ErrClosed
	}
	return nil
}

// waitDurable returns once line seq is on disk: leader/follower group
// commit as described on Log.
func (l *Log) waitDurable(seq uint64) error {
	l.mu.Lock()
	for {
		if l.synced >= seq {
			l.mu.Unlock()
			return nil
		}
		if l.failed != nil {
			err := l.failed
			l.mu.Unlock()
			return err
		}
		if l.syncing {
			done := l.syncDone
			l.mu.Unlock()
			<-done
			l.mu.Lock()
			continue
		}
		l.syncOnceLocked()
	}
}

// syncOnceLocked runs one fsync of everything written so far, releasing
// the lock while it runs. Called and returns with l.mu held.
func (l *Log) syncOnceLocked() {
	l.syncing = true
	upTo, upHead, f := l.seq, l.head, l.cur
	lines := int(upTo - l.synced)
	l.mu.Unlock()
	start := l.now()
	err := f.Sync()
	took := l.now().Sub(start)
	l.mu.Lock()
	l.syncing = false
	// A rotation syncs and closes the file it leaves; a sync that lost
	// that race is covered by the rotation's.
	if err != nil && l.synced >= upTo {
		err = nil
	}
	if err != nil {
		l.stats.SyncErrors++
		l.failLocked(fmt.Errorf("fsync of %s: %w", l.curFile.name, err))
	} else if upTo > l.synced {
		l.synced, l.syncHead = upTo, upHead
		l.stats.Syncs++
		l.setAnchorLocked()
	}
	close(l.syncDone)
	l.syncDone = make(chan struct{})
	if l.opts.ObserveSync != nil && err == nil {
		l.opts.ObserveSync(took, lines)
	}
}

// setAnchorLocked hands the durable head to the anchor store; the store
// writes it with its next commit. It is a map update under the store's
// lock, cheap enough to do after every fsync.
func (l *Log) setAnchorLocked() {
	if l.opts.Anchors == nil || l.synced == l.anchoredSeq {
		return
	}
	a := Anchor{Seq: l.synced, Head: l.syncHead.String()}
	if l.checkpointLine <= l.synced {
		a.Checkpoint = l.checkpointLine
	}
	if err := l.opts.Anchors.SetAnchor(AnchorName, a.encode()); err != nil {
		// The store refuses only once it failed or closed, and then no
		// signature is made anyway.
		l.log.Warn("audit log: could not set the anchor", "err", err)
		return
	}
	if !l.anchorFlush {
		l.anchorDirty = l.now()
	}
	l.anchoredSeq, l.anchorFlush = l.synced, true
}

// Sync makes everything written so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	seq := l.seq
	l.mu.Unlock()
	return l.waitDurable(seq)
}

// Head returns the last line's sequence number and hash (hex).
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head.String()
}

// Durable returns the anchor of the newest line known to be on disk.
func (l *Log) Durable() Anchor {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Anchor{Seq: l.synced, Head: l.syncHead.String()}
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.RetainedFiles = len(l.rotated) + 1
	s.RetainedBytes = l.curFile.size
	for _, f := range l.rotated {
		s.RetainedBytes += f.size
	}
	s.Head, s.Durable, s.Anchored = l.seq, l.synced, l.anchoredSeq
	s.Failed = l.failed
	return s
}

// Dir is the directory holding the log.
func (l *Log) Dir() string { return l.dir }

// Run does the log's background work until ctx ends: an fsync as soon as
// lines are written (so that a caller's fsync runs while it does other
// work, such as waiting for the slashing database's commit: see Write),
// checkpoints when due, compression and retention after rotations and
// hourly, and anchors
// flushed when no commit of the store carried them within AnchorInterval.
// It returns nil when ctx ends, after its syncer stopped. Failures are
// logged and counted; appends go on.
func (l *Log) Run(ctx context.Context) error {
	stop := make(chan struct{})
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	l.mu.Lock()
	l.kick = kick
	l.mu.Unlock()
	wg.Go(func() { l.syncLoop(kick, stop) })
	defer func() {
		l.mu.Lock()
		l.kick = nil
		l.mu.Unlock()
		close(stop)
		wg.Wait()
	}()
	// A quarter of the anchor interval: an anchor waits at most 1.25 of
	// it for a flush when no commit of the store carries it sooner.
	tick := time.NewTicker(max(time.Millisecond, min(l.opts.AnchorInterval/4, l.opts.CheckpointInterval)))
	defer tick.Stop()
	lastRetention := l.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-l.wake:
		}
		now := l.now()
		if err := l.flushAnchor(ctx, now, false); err != nil && ctx.Err() == nil {
			l.log.Warn("audit log: anchor not written", "err", err)
		}
		if l.checkpointDue(now) {
			if err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("audit log: checkpoint failed; records since the last one are covered by the chain and the anchor only", "err", err)
			}
		}
		l.mu.Lock()
		due := l.retainDue || now.Sub(lastRetention) >= time.Hour
		l.retainDue = false
		l.mu.Unlock()
		if due {
			lastRetention = now
			if l.opts.Compress {
				if err := l.Compress(ctx); err != nil && ctx.Err() == nil {
					l.log.Error("audit log: compression failed; the rotated file stays as it is", "err", err)
				}
			}
			if _, err := l.Retain(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("audit log: retention failed", "err", err)
			}
		}
	}
}

// syncLoop runs fsyncs while lines are written and not yet durable. It is
// one more leader of the group commit: appenders waiting meanwhile join its
// fsyncs instead of running their own.
func (l *Log) syncLoop(kick, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-kick:
		}
		l.mu.Lock()
		for l.failed == nil && !l.closed && l.synced < l.seq {
			if l.syncing {
				done := l.syncDone
				l.mu.Unlock()
				<-done
				l.mu.Lock()
				continue
			}
			l.syncOnceLocked()
		}
		l.mu.Unlock()
	}
}

func (l *Log) checkpointDue(now time.Time) bool {
	if l.opts.Tagger == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil || l.closed || l.seq == l.checkpointLine || l.seq == l.checkpointedSeq {
		return false
	}
	return !l.curCheckpointed || l.seq-l.checkpointLine >= l.opts.CheckpointRecords ||
		now.Sub(l.uncheckpointed) >= l.opts.CheckpointInterval
}

// flushAnchor writes the anchor through the store when it has waited
// AnchorInterval (or at once when force).
func (l *Log) flushAnchor(ctx context.Context, now time.Time, force bool) error {
	if l.opts.Anchors == nil {
		return nil
	}
	l.mu.Lock()
	pending := l.anchorFlush && (force || now.Sub(l.anchorDirty) >= l.opts.AnchorInterval)
	if pending {
		l.anchorFlush = false
	}
	l.mu.Unlock()
	if !pending {
		return nil
	}
	return l.opts.Anchors.Flush(ctx)
}

// Close writes a last checkpoint (with a Tagger), makes everything durable,
// anchors it and closes the file. Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if l.opts.Tagger != nil && l.checkpointDue(l.now().Add(l.opts.CheckpointInterval)) {
		if err := l.Checkpoint(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.Join(errs...)
	}
	for l.syncing {
		done := l.syncDone
		l.mu.Unlock()
		<-done
		l.mu.Lock()
	}
	if l.failed == nil && l.synced < l.seq {
		l.syncOnceLocked()
	}
	if l.failed != nil {
		errs = append(errs, l.failed)
	}
	l.closed = true
	f := l.cur
	l.mu.Unlock()
	if err := l.flushAnchor(ctx, l.now(), true); err != nil {
		errs = append(errs, fmt.Errorf("audit: writing the anchor: %w", err))
	}
	if err := f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openCurrent opens a file for appending.
func (l *Log) openCurrent(name string, create bool) (file, error) {
	flag := os.O_RDWR | os.O_APPEND
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := l.fs.OpenFile(join(l.dir, name), flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", join(l.dir, name), err)
	}
	return f, nil
}
