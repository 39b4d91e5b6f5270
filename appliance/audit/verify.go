package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
)

// VerifyOptions say what to check besides the chain.
type VerifyOptions struct {
	// Tagger checks each checkpoint's HSM tag (the signer's sealing key).
	// Without it checkpoints are compared with the chain only, which a
	// rewrite of the whole log would get past.
	Tagger Tagger
	// Anchor is the head the log must reach (from the slashing protection
	// database or the running signer). Without it a cut-off end is not
	// detected.
	Anchor *Anchor
}

// Report is what verification found. After an error it describes the part
// before the error.
type Report struct {
	Files []FileSummary
	// FirstSeq and LastSeq are the first and last lines read; Head is the
	// last line's hash.
	FirstSeq, LastSeq uint64
	Head              string
	// Records counts signatures and other records (each key of a batch
	// line).
	Records uint64
	// Continues is set when the first file continues records no longer
	// present (deleted by retention): the chain is verified from there.
	Continues bool
	// Checkpoints is the number of checkpoint lines; Tagged how many had
	// their HSM tag verified; AuthenticatedTo the last line they vouch for
	// (lines up to it cannot be rewritten without the HSM key).
	Checkpoints, Tagged int
	AuthenticatedTo     uint64
	// TornBytes is an incomplete last line of the newest file (a write in
	// progress or cut by a crash; the signer removes it at start).
	TornBytes int64
	// AnchorChecked is set when the anchor's record was found and matched;
	// an anchor older than the first line kept cannot be checked.
	AnchorChecked bool
	// Deleted lists files retention deleted, from retention records;
	// Resets the losses acknowledged by an operator, from reset records;
	// Recoveries what the signer repaired at start.
	Deleted    []FileSummary
	Resets     []string
	Recoveries []string
}

// recent keeps the hashes of the last lines, for checkpoints that vouch for
// a line shortly before themselves.
type recent struct {
	seq [1 << 16]uint64
	h   [1 << 16]hash
}

func (r *recent) put(seq uint64, h hash) {
	i := seq % uint64(len(r.seq))
	r.seq[i], r.h[i] = seq, h
}

func (r *recent) get(seq uint64) (hash, bool) {
	i := seq % uint64(len(r.seq))
	return r.h[i], r.seq[i] == seq && seq != 0
}

// VerifyDir verifies every file of the log in dir, in order: every line,
// the chain within and across files, checkpoints (their tags with a
// Tagger) and the end against the anchor. It stops at the first finding,
// an *Error naming the file, line and record.
func VerifyDir(ctx context.Context, dir string, opts VerifyOptions) (*Report, error) {
	return verifyDir(ctx, osFS{}, dir, opts)
}

func verifyDir(ctx context.Context, fsys fileSystem, dir string, opts VerifyOptions) (*Report, error) {
	files, err := listFiles(fsys, dir)
	if err != nil {
		return &Report{}, err
	}
	if len(files) == 0 {
		r := &Report{}
		if opts.Anchor != nil && opts.Anchor.Seq > 0 {
			return r, &Error{Err: ErrTruncated, Detail: fmt.Sprintf("%s holds no log files but the anchor is record %d", dir, opts.Anchor.Seq)}
		}
		return r, fmt.Errorf("audit: %s holds no log files (audit-*.log)", dir)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.name)
	}
	return verifyFiles(ctx, fsys, paths, opts)
}

// VerifyFiles is VerifyDir for files given in chain order (a shipped copy,
// or a version 1 log by any name).
func VerifyFiles(ctx context.Context, paths []string, opts VerifyOptions) (*Report, error) {
	return verifyFiles(ctx, osFS{}, paths, opts)
}

func verifyFiles(ctx context.Context, fsys fileSystem, paths []string, opts VerifyOptions) (*Report, error) {
	v := &verifier{opts: opts, ctx: ctx, fs: fsys, ring: new(recent), rep: &Report{}}
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return v.rep, err
		}
		if err := v.file(p, i == len(paths)-1); err != nil {
			return v.rep, err
		}
	}
	if a := opts.Anchor; a != nil && a.Seq > 0 && a.Seq > v.rep.LastSeq {
		return v.rep, &Error{File: filepath.Base(paths[len(paths)-1]), Seq: v.rep.LastSeq, Err: ErrTruncated,
			Detail: fmt.Sprintf("the log ends at record %d but the anchor is record %d (hash %s): records %d to %d were cut off, or a newer file was emptied or deleted", v.rep.LastSeq, a.Seq, a.Head, v.rep.LastSeq+1, a.Seq)}
	}
	return v.rep, nil
}

type verifier struct {
	fs        fileSystem
	opts      VerifyOptions
	ctx       context.Context
	ring      *recent
	rep       *Report
	prev      hash
	started   bool
	firstPrev hash
}

func (v *verifier) file(path string, newest bool) error {
	name := filepath.Base(path)
	lf, named := parseFileName(name)
	rc, err := openContent(v.fs, path, strings.HasSuffix(name, compressedSuffix))
	if errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(name, compressedSuffix) {
		// A running signer compressed the file since it was listed: its
		// compressed copy holds the same lines (compress.go).
		if zrc, zerr := openContent(v.fs, path+compressedSuffix, true); zerr == nil {
			rc, err, name = zrc, nil, name+compressedSuffix
		}
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	sum := FileSummary{Name: name}
	legacy := lf.legacy
	lineNo := 0
	fail := func(seq uint64, sentinel error, format string, a ...any) error {
		return &Error{File: name, Line: lineNo, Seq: seq, Err: sentinel, Detail: fmt.Sprintf(format, a...)}
	}
	for {
		raw, rerr := br.ReadBytes('\n')
		if len(raw) > 0 {
			lineNo++
			if raw[len(raw)-1] != '\n' {
				if !newest {
					return fail(0, ErrBroken, "incomplete last line in a file that is not the newest")
				}
				v.rep.TornBytes = int64(len(raw))
				break
			}
			sum.Bytes += int64(len(raw))
			raw = raw[:len(raw)-1]
			if lineNo == 1 && !named && !v.started {
				// A log by another name: version 1 if its first line is.
				if _, _, lerr := decodeLegacyLine(raw, hash{}); lerr == nil {
					legacy = true
				}
			}
			var seq uint64
			var err error
			if legacy {
				seq, err = v.legacyLine(raw)
			} else {
				seq, err = v.line(raw, lineNo, named, lf, fail)
			}
			if err != nil {
				return err
			}
			if sum.FirstSeq == 0 {
				sum.FirstSeq = seq
			}
			sum.LastSeq = seq
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(0, ErrBroken, "unreadable after line %d: %v", lineNo, rerr)
		}
	}
	if lineNo == 0 || sum.FirstSeq == 0 {
		if newest {
			v.rep.Files = append(v.rep.Files, sum)
			return nil
		}
		return fail(0, ErrBroken, "the file is empty")
	}
	v.rep.Files = append(v.rep.Files, sum)
	return nil
}

func (v *verifier) expect() uint64 { return v.rep.LastSeq + 1 }

func (v *verifier) legacyLine(raw []byte) (uint64, error) {
	r, h, err := decodeLegacyLine(raw, v.prev)
	seq := v.expect()
	if r != nil {
		seq = r.Seq
	}
	if err != nil {
		return 0, &Error{Seq: seq, Err: ErrBroken, Detail: "version 1 record: " + err.Error()}
	}
	if r.Seq != v.expect() {
		return 0, &Error{Seq: r.Seq, Err: ErrBroken, Detail: fmt.Sprintf("sequence number %d, want %d", r.Seq, v.expect())}
	}
	v.accept(r.Seq, h, 1)
	return r.Seq, nil
}

func (v *verifier) line(raw []byte, lineNo int, named bool, lf logFile, fail func(uint64, error, string, ...any) error) (uint64, error) {
	e, body, claimed, err := parseLine(raw)
	if err != nil {
		var seq uint64
		if e != nil {
			seq = e.Seq
		}
		return 0, fail(seq, ErrBroken, "%v", err)
	}
	if !v.started {
		// The first line kept: the chain is checked from what it claims
		// to continue; a checkpoint vouching for it authenticates that.
		if e.Kind != KindFile {
			return 0, fail(e.Seq, ErrBroken, "the first line of the log is a %s record, not a file record", e.Kind)
		}
		p, err := parseHash(e.Prev)
		if err != nil {
			return 0, fail(e.Seq, ErrBroken, "%v", err)
		}
		v.prev, v.firstPrev = p, p
		v.rep.FirstSeq = e.Seq
		v.rep.LastSeq = e.Seq - 1
		v.rep.Continues = e.Seq != 1 || p != (hash{})
	}
	if e.Seq != v.expect() {
		return 0, fail(e.Seq, ErrBroken, "sequence number %d, want %d", e.Seq, v.expect())
	}
	switch {
	case lineNo == 1 && e.Kind != KindFile:
		return 0, fail(e.Seq, ErrBroken, "a file must start with a file record")
	case lineNo == 1 && named && e.Seq != lf.first:
		return 0, fail(e.Seq, ErrBroken, "the file's name says it starts at record %d", lf.first)
	case lineNo == 1 && e.Prev != v.prev.String():
		return 0, fail(e.Seq, ErrBroken, "the file does not continue the one before it (prev %s, the previous record's hash is %s)", e.Prev, v.prev)
	case lineNo != 1 && e.Kind == KindFile:
		return 0, fail(e.Seq, ErrBroken, "a file record in the middle of a file")
	}
	if h := digest(v.prev, body); h != claimed {
		return 0, fail(e.Seq, ErrBroken, "hash does not match its contents and the record before it")
	}
	if e.Kind == KindCheckpoint {
		if err := v.checkpoint(e); err != nil {
			return 0, fail(e.Seq, ErrCheckpoint, "%v", err)
		}
	}
	switch e.Kind {
	case KindRetention:
		v.rep.Deleted = append(v.rep.Deleted, e.Files...)
	case KindReset:
		v.rep.Resets = append(v.rep.Resets, fmt.Sprintf("record %d (%s): %s", e.Seq, e.Time.Format("2006-01-02T15:04:05Z07:00"), e.Note))
	case KindRecovery:
		v.rep.Recoveries = append(v.rep.Recoveries, fmt.Sprintf("record %d: %s", e.Seq, e.Note))
	}
	if a := v.opts.Anchor; a != nil && a.Checkpoint == e.Seq && e.Kind != KindCheckpoint {
		return 0, fail(e.Seq, ErrCheckpoint, "the anchor says this record is a checkpoint; it is a %s record: checkpoints were removed", e.Kind)
	}
	if a := v.opts.Anchor; a != nil && a.Seq == e.Seq {
		if claimed.String() != a.Head {
			return 0, fail(e.Seq, ErrAnchor, "its hash is %s, the anchor's %s: the log was rewritten", claimed, a.Head)
		}
		v.rep.AnchorChecked = true
	}
	v.accept(e.Seq, claimed, max(1, len(e.PublicKeys)))
	return e.Seq, nil
}

func (v *verifier) accept(seq uint64, h hash, records int) {
	if !v.started {
		v.started = true
		if v.rep.FirstSeq == 0 {
			v.rep.FirstSeq = seq
		}
	}
	v.ring.put(seq, h)
	v.prev = h
	v.rep.LastSeq, v.rep.Head = seq, h.String()
	v.rep.Records += uint64(records)
}

// checkpoint checks a checkpoint line's tag and the hash it vouches for.
func (v *verifier) checkpoint(e *entry) error {
	v.rep.Checkpoints++
	head, err := verifyCheckpoint(v.ctx, v.opts.Tagger, e)
	if err != nil {
		return err
	}
	s := e.Checkpoint.Seq
	var got hash
	switch h, ok := v.ring.get(s); {
	case ok:
		got = h
	case s+1 == v.rep.FirstSeq:
		got = v.firstPrev
	default:
		return fmt.Errorf("vouches for record %d, which is not among the %d records before it that were kept", s, min(uint64(len(v.ring.seq)), e.Seq-v.rep.FirstSeq))
	}
	if got != head {
		return errors.New("the chain's hash at record " + fmt.Sprint(s) + " is " + got.String() + " but the checkpoint vouches for " + head.String() + ": the records up to it were rewritten")
	}
	if v.opts.Tagger != nil {
		v.rep.Tagged++
		v.rep.AuthenticatedTo = max(v.rep.AuthenticatedTo, s)
	}
	return nil
}
