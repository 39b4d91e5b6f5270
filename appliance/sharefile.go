package appliance

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/internal/api"
)

// ShareFileName is the file name of the sealed share of account key.
func ShareFileName(key api.PublicKey) string { return key.String() + ShareFileExt }

// StageShare writes a sealed share next to its final name (mode 0600,
// fsync'd) and returns a function that moves it into place, so that a
// caller writing shares for many signers can make them all appear only
// after every one was written. The returned discard removes the staged
// file. Nothing is ever overwritten: an existing share is an error.
func StageShare(dir string, key api.PublicKey, blob []byte) (commit func() error, discard func(), err error) {
	final := filepath.Join(dir, ShareFileName(key))
	if _, err := os.Stat(final); err == nil {
		return nil, nil, fmt.Errorf("share file %s already exists", final)
	}
	tmp := final + ".staged"
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
		// Link, not rename: it fails if the final name appeared meanwhile.
		if err := os.Link(tmp, final); err != nil {
			return fmt.Errorf("placing share %s: %w", final, err)
		}
		os.Remove(tmp)
		return syncDir(dir)
	}
	return commit, discard, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
