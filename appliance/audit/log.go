package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Log appends chained records to one file. It is safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	seq  uint64
	prev string
	now  func() time.Time
	buf  bytes.Buffer
}

// Options tune a Log.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Sync makes every Append fsync before it returns.
	Sync bool
}

// Open opens or creates the log at path (mode 0600). An existing file is
// verified to its end so new records continue its chain; a torn final line
// (a crash mid-write, never acknowledged) is cut off first and reported in
// the returned Recovery.
func Open(path string, opts Options) (*Log, *Recovery, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	res, err := verify(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	rec := &Recovery{Records: res.Records}
	if res.TornBytes > 0 {
		if err := f.Truncate(res.ValidBytes); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("audit: cutting torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("audit: syncing %s: %w", path, err)
		}
		rec.TornBytes = res.TornBytes
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Log{f: f, seq: res.Records, prev: res.Head, now: now}, rec, nil
}

// Recovery says what Open found.
type Recovery struct {
	// Records is the number of valid records already in the file.
	Records uint64
	// TornBytes is the length of an incomplete final line that was removed.
	TornBytes int64
}

// Append writes records in one write call, filling in Seq, Time (when zero),
// Prev and Hash. On error nothing is acknowledged and the caller must not
// release the signatures the records describe.
func (l *Log) Append(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: log is closed")
	}
	l.buf.Reset()
	seq, prev := l.seq, l.prev
	for i := range recs {
		r := recs[i]
		seq++
		r.Seq = seq
		if r.Time.IsZero() {
			r.Time = l.now().UTC()
		}
		r.Prev = prev
		h, err := r.digest()
		if err != nil {
			return err
		}
		r.Hash = h
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("audit: encoding record %d: %w", r.Seq, err)
		}
		l.buf.Write(line)
		l.buf.WriteByte('\n')
		prev = h
	}
	if _, err := l.f.Write(l.buf.Bytes()); err != nil {
		return fmt.Errorf("audit: writing: %w", err)
	}
	l.seq, l.prev = seq, prev
	return nil
}

// Sync flushes the file to stable storage.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: log is closed")
	}
	return l.f.Sync()
}

// Head returns the number of records and the hash of the last one.
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.prev
}

// Close syncs and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Result is what Verify found in a file.
type Result struct {
	// Records is the number of valid, correctly chained records.
	Records uint64
	// Head is the hash of the last valid record.
	Head string
	// ValidBytes is the length of the valid prefix.
	ValidBytes int64
	// TornBytes is the length of an incomplete final line, if any.
	TornBytes int64
}

// ErrBroken is returned when a complete record does not parse, is out of
// sequence, or does not chain to its predecessor.
var ErrBroken = errors.New("audit: chain broken")

// Verify reads a whole log and checks every record and link. A torn final
// line (no newline) is reported in Result, not as an error.
func Verify(r io.Reader) (Result, error) {
	return verify(r)
}

func verify(r io.Reader) (Result, error) {
	res := Result{Head: genesisPrev}
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] != '\n' {
			res.TornBytes = int64(len(line))
			return res, nil
		}
		if len(line) > 0 {
			var rec Record
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&rec); derr != nil {
				return res, fmt.Errorf("%w at record %d: %v", ErrBroken, res.Records+1, derr)
			}
			if rec.Seq != res.Records+1 {
				return res, fmt.Errorf("%w at record %d: sequence number %d", ErrBroken, res.Records+1, rec.Seq)
			}
			if rec.Prev != res.Head {
				return res, fmt.Errorf("%w at record %d: does not chain to the previous record", ErrBroken, rec.Seq)
			}
			h, derr := rec.digest()
			if derr != nil {
				return res, derr
			}
			if h != rec.Hash {
				return res, fmt.Errorf("%w at record %d: hash does not match its contents", ErrBroken, rec.Seq)
			}
			res.Records++
			res.Head = h
			res.ValidBytes += int64(len(line))
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("audit: reading: %w", err)
		}
	}
}
