package gateway_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/gateway"
)

func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "api.sock")
}

func TestListenCreatesTheSocketWithItsMode(t *testing.T) {
	for _, mode := range []gateway.Mode{0o600, 0o660, 0o666} {
		path := socketPath(t)
		ln, err := gateway.Listen(gateway.ListenConfig{API: "unix:" + path, SocketMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != os.FileMode(mode) {
			t.Errorf("socket %v, want a socket with mode %04o", st.Mode(), uint32(mode))
		}
	}
}

// TestListenReplacesOnlyAStaleSocket: a socket left by a gateway that died
// is replaced; one another process serves is not taken over, and no other
// kind of file is removed.
func TestListenReplacesOnlyAStaleSocket(t *testing.T) {
	path := socketPath(t)
	cfg := gateway.ListenConfig{API: "unix:" + path, SocketMode: 0o660}
	live, err := gateway.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.Listen(cfg); !errors.Is(err, gateway.ErrSocketInUse) {
		t.Fatalf("second listener on a served socket: %v; want ErrSocketInUse", err)
	}
	// A process that dies leaves its socket file behind.
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	live.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	again, err := gateway.Listen(cfg)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	again.Close()

	if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.Listen(cfg); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("error %v; want a refusal to remove a regular file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Fatal("the regular file was changed")
	}
}

// TestServerBoundsEveryRead: the API server cuts off a client that sends
// its headers or body slowly, or idles, and bounds header size.
func TestServerBoundsEveryRead(t *testing.T) {
	c := startCluster(t, 1, 1, 1)
	tg := c.newGateway(gatewayClient, nil)
	srv := tg.gw.Server(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	if srv.WriteTimeout < 3*gateway.DefaultConfig().Cluster.Timeout {
		t.Fatalf("write timeout %s shorter than a signing request may take", srv.WriteTimeout)
	}
}
