package audit

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files. The log is a directory of files named
//
//	audit-<first sequence number, 20 digits>-<time of its first record>.log
//	audit-00000000000000000001-20261126T120000Z.log
//
// so that names sort in chain order. The newest is the one being written
// (mode 0600); rotated files are complete and made read-only (0400), ready
// to ship. A version 1 log moved in from before rotation is named
// audit-00000000000000000001-legacy.log. Rotated files may be compressed
// (compress.go), with ".zst" appended to their name. Files not named like
// this are ignored.

const (
	filePrefix   = "audit-"
	fileSuffix   = ".log"
	legacyTag    = "legacy"
	fileTimeForm = "20060102T150405Z"
	seqDigits    = 20
)

// fileName names the file whose first record is seq, written at t.
func fileName(seq uint64, t time.Time) string {
	return fmt.Sprintf("%s%0*d-%s%s", filePrefix, seqDigits, seq, t.UTC().Format(fileTimeForm), fileSuffix)
}

func legacyName() string {
	return fmt.Sprintf("%s%0*d-%s%s", filePrefix, seqDigits, 1, legacyTag, fileSuffix)
}

// logFile is a file of the log as its name describes it.
type logFile struct {
	name       string
	first      uint64
	start      time.Time // zero for a legacy file
	legacy     bool
	compressed bool // zstd, named ....log.zst (compress.go)
	size       int64
	// superseded names a compressed copy of this file left by a crash
	// between compressing and removing the original; Open removes it.
	superseded string
}

// parseFileName reads a file name; ok is false for names of other files.
func parseFileName(name string) (logFile, bool) {
	rest, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return logFile{}, false
	}
	rest, compressed := strings.CutSuffix(rest, compressedSuffix)
	rest, ok = strings.CutSuffix(rest, fileSuffix)
	if !ok || len(rest) < seqDigits+2 || rest[seqDigits] != '-' {
		return logFile{}, false
	}
	seq, err := strconv.ParseUint(rest[:seqDigits], 10, 64)
	if err != nil || seq == 0 {
		return logFile{}, false
	}
	f := logFile{name: name, first: seq, compressed: compressed}
	if tag := rest[seqDigits+1:]; tag == legacyTag {
		f.legacy = true
	} else if f.start, err = time.Parse(fileTimeForm, tag); err != nil {
		return logFile{}, false
	}
	return f, true
}

// listFiles returns the log's files in chain order.
func listFiles(fsys fileSystem, dir string) ([]logFile, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: listing %s: %w", dir, err)
	}
	var out []logFile
	for _, de := range ents {
		f, ok := parseFileName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", de.Name(), err)
		}
		f.size = info.Size()
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b logFile) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	// A file and its compressed copy: a crash came between the copy and
	// the removal of the original, which is kept.
	for i := 1; i < len(out); i++ {
		a, b := out[i-1], out[i]
		if a.first == b.first && b.name == a.name+compressedSuffix {
			out[i-1].superseded = b.name
			out = slices.Delete(out, i, i+1)
			i--
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].first == out[i-1].first {
			return nil, &Error{File: out[i].name, Err: ErrBroken, Detail: fmt.Sprintf("starts at record %d like %s", out[i].first, out[i-1].name)}
		}
		if out[i].legacy {
			return nil, &Error{File: out[i].name, Err: ErrBroken, Detail: "a version 1 file can only be the first"}
		}
	}
	return out, nil
}

// file is what the log needs of an open file; tests wrap it to fail or to
// lose writes that were never synced.
type file interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// fileSystem is what the log needs of the operating system.
type fileSystem interface {
	OpenFile(name string, flag int, perm fs.FileMode) (file, error)
	ReadDir(dir string) ([]fs.DirEntry, error)
	Remove(name string) error
	Rename(from, to string) error
	Chmod(name string, mode fs.FileMode) error
	MkdirAll(dir string, mode fs.FileMode) error
	// SyncDir makes the directory's entries (created, renamed or removed
	// files) durable.
	SyncDir(dir string) error
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(from, to string) error                { return os.Rename(from, to) }
func (osFS) Chmod(name string, mode fs.FileMode) error   { return os.Chmod(name, mode) }
func (osFS) MkdirAll(dir string, mode fs.FileMode) error { return os.MkdirAll(dir, mode) }
func (osFS) SyncDir(dir string) error                    { return syncDir(dir) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func join(dir, name string) string { return filepath.Join(dir, name) }
