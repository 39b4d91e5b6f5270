package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Compression. With Options.Compress, Run compresses each rotated file
// with zstd (an 8 MiB window), as audit-....log.zst, once it is complete.
// The validators of a cluster sign the same kinds of messages every epoch,
// so their keys repeat every 32 slots in the log: a window spanning a few
// epochs removes them, and a rotated file shrinks about 15 to 40 times
// (gzip's 32 KiB window sees none of it: about 3.5 times). A day of 1,000
// validators' records then takes about 2 MB on the disk instead of 50 to
// 100 MB.
//
// The compressed file is written under a temporary name, synced,
// decompressed again and compared with the original (a hash of both), then
// renamed into place; only then is the original removed. A crash leaves
// either the original alone, or both (the original is kept and the
// compressed copy removed at the next start), never neither. The current
// file is never compressed: it is still being written.

const (
	compressedSuffix = ".zst"
	compressTemp     = ".audit-compress.tmp"
	// zstdWindow spans several epochs of slot batches even for 10,000
	// validators (about 2 MB an epoch).
	zstdWindow = 8 << 20
	// maxZstdWindow bounds the memory a decoder spends on a file, which
	// may come from anywhere when an auditor verifies shipped copies.
	maxZstdWindow = 64 << 20
)

// Compress compresses every rotated file not compressed yet. Run calls it
// after each rotation when Options.Compress is set; failures leave the
// originals in place and are retried then.
func (l *Log) Compress(ctx context.Context) error {
	l.mu.Lock()
	var todo []logFile
	for _, f := range l.rotated {
		if !f.compressed {
			todo = append(todo, f)
		}
	}
	l.mu.Unlock()
	for _, f := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := l.compressFile(f)
		if err != nil {
			return fmt.Errorf("audit: compressing %s: %w", f.name, err)
		}
		l.mu.Lock()
		for i := range l.rotated {
			if l.rotated[i].name == f.name {
				l.rotated[i] = c
			}
		}
		if ok, known := l.cpFiles[f.name]; known {
			l.cpFiles[c.name] = ok
			delete(l.cpFiles, f.name)
		}
		l.stats.Compressed++
		l.stats.CompressedBytesSaved += uint64(max(0, f.size-c.size))
		l.mu.Unlock()
		l.log.Info("audit log: compressed a rotated file", "file", c.name, "bytes", f.size, "compressed", c.size)
	}
	return nil
}

func (l *Log) compressFile(f logFile) (logFile, error) {
	src, err := l.fs.OpenFile(join(l.dir, f.name), os.O_RDONLY, 0)
	if err != nil {
		return f, err
	}
	defer src.Close()
	tmp := join(l.dir, compressTemp)
	dst, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return f, err
	}
	cleanup := func(err error) (logFile, error) {
		dst.Close()
		if rerr := l.fs.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			l.log.Warn("audit log: removing a failed compression's file", "err", rerr)
		}
		return f, err
	}
	want := sha256.New()
	enc, err := zstd.NewWriter(dst, zstd.WithWindowSize(zstdWindow), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		return cleanup(err)
	}
	if _, err := io.Copy(io.MultiWriter(enc, want), io.NewSectionReader(src, 0, f.size)); err != nil {
		enc.Close()
		return cleanup(err)
	}
	if err := enc.Close(); err != nil {
		return cleanup(err)
	}
	if err := dst.Sync(); err != nil {
		return cleanup(err)
	}
	size, err := fileSize(dst)
	if err != nil {
		return cleanup(err)
	}
	// Read it back before the original goes: the log is evidence.
	dec, err := zstd.NewReader(io.NewSectionReader(dst, 0, size), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return cleanup(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, dec)
	dec.Close()
	if err != nil {
		return cleanup(err)
	}
	if n != f.size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return cleanup(errors.New("the compressed file does not decompress to the original"))
	}
	c := f
	c.name, c.size, c.compressed = f.name+compressedSuffix, size, true
	if err := l.fs.Rename(tmp, join(l.dir, c.name)); err != nil {
		return cleanup(err)
	}
	dst.Close()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return f, err
	}
	if err := l.fs.Chmod(join(l.dir, c.name), 0o400); err != nil {
		l.log.Warn("audit log: making the compressed file read-only", "file", c.name, "err", err)
	}
	if err := l.fs.Remove(join(l.dir, f.name)); err != nil {
		return f, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return f, err
	}
	return c, nil
}

// fileSize is the size of an open file, as far as its data goes.
func fileSize(f file) (int64, error) {
	if s, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		fi, err := s.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	// Files without Stat (tests): find the end by reading.
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.ReadAt(buf, n)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// openContent returns a reader of a log file's lines, decompressing it if
// it is compressed.
func openContent(fsys fileSystem, path string, compressed bool) (io.ReadCloser, error) {
	fh, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	r := io.NewSectionReader(fh, 0, 1<<62)
	if !compressed {
		return readCloser{r, fh.Close}, nil
	}
	dec, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		fh.Close()
		return nil, err
	}
	return readCloser{dec, func() error { dec.Close(); return fh.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
