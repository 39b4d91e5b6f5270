package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memFS is a file system in memory that loses, on crash, every byte not
// fsync'd and every directory change not followed by a SyncDir: the power
// cut of bbolt's failpoint tests, for the audit log. Faults can be injected
// per operation.
type memFS struct {
	mu    sync.Mutex
	files map[string]*memFile // by full path: what the process sees
	// durable is what survives a crash: file contents as of their last
	// Sync, and which names existed at the last SyncDir of their directory.
	durable map[string][]byte
	names   map[string]bool
	// fail, when set, may fail an operation: op is "open", "write",
	// "sync", "rename", "syncdir", "remove"; name the path.
	fail func(op, name string) error
}

type memFile struct {
	fs     *memFS
	path   string
	data   []byte
	synced []byte
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memFile{}, durable: map[string][]byte{}, names: map[string]bool{}}
}

func (m *memFS) check(op, name string) error {
	if m.fail != nil {
		return m.fail(op, name)
	}
	return nil
}

func (m *memFS) OpenFile(name string, flag int, _ fs.FileMode) (file, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("open", name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, ok := m.files[name]
	switch {
	case ok && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		f = &memFile{fs: m, path: name}
		m.files[name] = f
	case flag&os.O_TRUNC != 0:
		f.data = nil
	}
	// Each open is a handle on the same contents.
	return &memHandle{f: f}, nil
}

type memHandle struct {
	f      *memFile
	closed bool
}

func (h *memHandle) Write(p []byte) (int, error) {
	m := h.f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.closed {
		return 0, os.ErrClosed
	}
	if err := m.check("write", h.f.path); err != nil {
		// A full disk takes part of the write.
		n := len(p) / 2
		h.f.data = append(h.f.data, p[:n]...)
		return n, err
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	m := h.f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Sync() error {
	m := h.f.fs
	if err := m.check("sync", h.f.path); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.closed {
		return os.ErrClosed
	}
	h.f.synced = bytes.Clone(h.f.data)
	if m.names[h.f.path] {
		m.durable[h.f.path] = h.f.synced
	}
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	m := h.f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	h.f.data = h.f.data[:size]
	return nil
}

func (h *memHandle) Close() error {
	h.closed = true
	return nil
}

func (m *memFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []fs.DirEntry
	for p, f := range m.files {
		if filepath.Dir(p) == dir {
			out = append(out, memEntry{name: filepath.Base(p), size: int64(len(f.data))})
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("remove", name); err != nil {
		return err
	}
	if _, ok := m.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) Rename(from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("rename", to); err != nil {
		return err
	}
	f, ok := m.files[from]
	if !ok {
		return &fs.PathError{Op: "rename", Path: from, Err: fs.ErrNotExist}
	}
	delete(m.files, from)
	f.path = to
	m.files[to] = f
	return nil
}

func (m *memFS) Chmod(string, fs.FileMode) error    { return nil }
func (m *memFS) MkdirAll(string, fs.FileMode) error { return nil }

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("syncdir", dir); err != nil {
		return err
	}
	for p := range m.names {
		if filepath.Dir(p) == dir {
			if _, ok := m.files[p]; !ok {
				delete(m.names, p)
				delete(m.durable, p)
			}
		}
	}
	for p, f := range m.files {
		if filepath.Dir(p) == dir {
			m.names[p] = true
			m.durable[p] = f.synced
		}
	}
	return nil
}

// crash returns the file system as a power cut leaves it.
func (m *memFS) crash() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := newMemFS()
	for p := range m.names {
		d := bytes.Clone(m.durable[p])
		out.files[p] = &memFile{fs: out, path: p, data: d, synced: bytes.Clone(d)}
		out.names[p] = true
		out.durable[p] = bytes.Clone(d)
	}
	return out
}

type memEntry struct {
	name string
	size int64
}

func (e memEntry) Name() string               { return e.name }
func (e memEntry) IsDir() bool                { return false }
func (e memEntry) Type() fs.FileMode          { return 0 }
func (e memEntry) Info() (fs.FileInfo, error) { return memInfo(e), nil }

type memInfo memEntry

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o600 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// errInjected is what injected faults return.
var errInjected = errors.New("injected fault")

var errNoSpace = fmt.Errorf("%w: %w", errInjected, syscall.ENOSPC)
