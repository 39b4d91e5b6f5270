package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrSocketInUse is returned by Listen when another process serves the
// configured unix socket.
var ErrSocketInUse = errors.New("gateway: the unix socket is served by another process")

// Listen opens the API listener of cfg: TCP on its loopback address, or
// the unix socket, whose permission bits are then set to SocketMode. The
// socket is created under the process's umask (0077 under the unit), so it
// is never more open than asked, even for the instant before the change.
// A socket file left behind by a process that died is replaced; one that
// another process still serves is ErrSocketInUse; any other file there is
// an error.
func Listen(cfg ListenConfig) (net.Listener, error) {
	if !strings.HasPrefix(cfg.API, UnixPrefix) {
		l, err := net.Listen("tcp", cfg.API)
		if err != nil {
			return nil, fmt.Errorf("listen.api: %w", err)
		}
		return l, nil
	}
	path := strings.TrimPrefix(cfg.API, UnixPrefix)
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("listen.api: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen.api: %w", err)
	}
	if err := os.Chmod(path, os.FileMode(cfg.SocketMode)); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen.api: setting the socket's mode: %w", err)
	}
	return l, nil
}

// removeStale removes a unix socket at path that nobody serves.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrSocketInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Remove(path)
}
