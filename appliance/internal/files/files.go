// Package files is the on-disk layout of a signer's state and the way it
// is written: files that survive a crash whole or not at all
// (WriteDurable), directory syncs, and the shares directory's sealed share
// files, staged next to their final name and placed only when every one
// of a set is written (StageShare). The daemon, its ceremonies and the
// development dealer (appliance/localcluster) write through it.
package files

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/internal/api"
)

// Extensions of the shares directory's files; others are ignored.
const (
	// ShareExt ends a sealed share file, one per account.
	ShareExt = ".share"
	// StagedExt ends a share file staged for an account not yet
	// activated; one left by a crash is deleted at the next start.
	StagedExt = ShareExt + ".staged"
	// PendingExt ends a removed share's pending-destruction record.
	PendingExt = ".removed"
	// PreviousExt ends the sealed share an account had before a refresh
	// activated a new one: kept until the refresh is finalised (so that an
	// aborted refresh puts it back), then destroyed.
	PreviousExt = ShareExt + ".prev"
	// NextExt ends a refreshed share being put in place; one left by a
	// crash is overwritten by the next attempt.
	NextExt = ShareExt + ".next"
)

// ShareName is the file name of the sealed share of account key.
func ShareName(key api.PublicKey) string { return key.String() + ShareExt }

// StageShare writes a sealed share next to its final name (mode 0600,
// fsync'd) and returns a function that moves it into place, so that a
// caller writing shares for many signers can make them all appear only
// after every one was written. The returned discard removes the staged
// file. Nothing is ever overwritten: an existing share is an error.
func StageShare(dir string, key api.PublicKey, blob []byte) (commit func() error, discard func(), err error) {
	final := filepath.Join(dir, ShareName(key))
	if _, err := os.Stat(final); err == nil {
		return nil, nil, fmt.Errorf("share file %s already exists", final)
	}
	tmp := filepath.Join(dir, key.String()+StagedExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("staging share: %w", err)
	}
	_, werr := f.Write(blob)
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		os.Remove(tmp)
		return nil, nil, fmt.Errorf("staging share %s: %v %v %v", tmp, werr, serr, cerr)
	}
	discard = func() { os.Remove(tmp) }
	commit = func() error {
		if err := PlaceStaged(dir, key); err != nil {
			return err
		}
		return SyncDir(dir)
	}
	return commit, discard, nil
}

// UnplaceStaged undoes PlaceStaged: the share file goes back to its
// staged name (nothing to do when it is not under its final name).
func UnplaceStaged(dir string, key api.PublicKey) error {
	final := filepath.Join(dir, ShareName(key))
	tmp := filepath.Join(dir, key.String()+StagedExt)
	if err := os.Rename(final, tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// PlaceStaged moves a share staged by StageShare to its final name,
// without syncing the directory: a caller placing many syncs it once
// (SyncDir) before relying on any of them.
func PlaceStaged(dir string, key api.PublicKey) error {
	final := filepath.Join(dir, ShareName(key))
	tmp := filepath.Join(dir, key.String()+StagedExt)
	// Link, not rename: it fails if the final name appeared meanwhile.
	if err := os.Link(tmp, final); err != nil {
		return fmt.Errorf("placing share %s: %w", final, err)
	}
	os.Remove(tmp)
	return nil
}

// SyncDir makes a directory's entries (a rename, a new or deleted file)
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteDurable writes a file under a temporary name, syncs it, renames it
// into place and syncs the directory: after a crash the file is either the
// old one or the new one, complete.
func WriteDurable(path string, data []byte, mode os.FileMode) error {
	if err := WriteSynced(path, data, mode); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteSynced is [WriteDurable] without the directory sync, for a caller
// that places several files in one directory and syncs it once
// ([SyncDir]).
func WriteSynced(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
