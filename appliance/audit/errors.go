package audit

import (
	"errors"
	"fmt"
	"strings"
)

// Errors, one per finding an operator must act on. Every verification
// error is an *Error naming the file, line and record; compare with
// errors.Is.
var (
	// ErrBroken: a complete line does not parse, is not in the exact form
	// the log writes, is out of sequence, or does not chain to the record
	// before it. Something edited, removed or reordered records.
	ErrBroken = errors.New("audit: chain broken")
	// ErrTruncated: the log ends before the record its anchor (kept in the
	// slashing protection database) says was written: records were cut
	// off its end, or a file was emptied or deleted.
	ErrTruncated = errors.New("audit: log ends before its anchored record")
	// ErrAnchor: the record at the anchored sequence number has another
	// hash than the anchor: the log was rewritten.
	ErrAnchor = errors.New("audit: record does not match its anchor")
	// ErrCheckpoint: a checkpoint's HSM tag does not verify, or the hash
	// it vouches for is not the chain's: the log was rewritten (with its
	// chain recomputed) or a checkpoint was forged.
	ErrCheckpoint = errors.New("audit: checkpoint does not verify")
	// ErrClosed: the log was used after Close.
	ErrClosed = errors.New("audit: log is closed")
	// ErrFailed: an fsync of the log failed; what reached the disk is
	// unknown, so the log takes no more records until the signer restarts.
	ErrFailed = errors.New("audit: log failed a write; restart required")
)

// Error locates a verification finding.
type Error struct {
	// File is the log file's name (without its directory).
	File string
	// Line is the 1-based line in File; 0 when the finding is about the
	// file or the log as a whole.
	Line int
	// Seq is the record's sequence number when known.
	Seq uint64
	// Err is one of the sentinels above.
	Err error
	// Detail says what exactly is wrong.
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	var where []string
	if e.File != "" {
		where = append(where, e.File)
	}
	if e.Line > 0 {
		where = append(where, fmt.Sprintf("line %d", e.Line))
	}
	if e.Seq > 0 {
		where = append(where, fmt.Sprintf("record %d", e.Seq))
	}
	if len(where) > 0 {
		b.WriteString(" at ")
		b.WriteString(strings.Join(where, ", "))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }
