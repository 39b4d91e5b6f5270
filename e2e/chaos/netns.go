package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` mounts the namespaces it names.
const netnsDir = "/run/netns"

// Netns is a named network namespace made by this run.
type Netns struct{ Name string }

// Path is the namespace's file, for setns(2).
func (n Netns) Path() string { return filepath.Join(netnsDir, n.Name) }

// ip runs iproute2's ip and returns an error quoting its output.
func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chaos: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Network is the namespaces of one run: one per host and the WAN's.
type Network struct {
	Prefix string
	WAN    Netns
	Hosts  map[string]Netns
}

// namespaceName names a namespace of run prefix.
func namespaceName(prefix, host string) string { return prefix + "-" + host }

// BuildNetwork creates the WAN namespace and one namespace per host, each
// host linked to the WAN by a veth pair on 198.18.INDEX.0/24 with its
// default route through the WAN's end. The WAN does not forward packets:
// a host reaches another only through a proxy listening on its own
// gateway, so every byte between hosts crosses toxiproxy. Each step is
// recorded first (rec) so that Teardown removes what was made even if a
// later step fails.
func BuildNetwork(ctx context.Context, t *Topology, prefix string, rec func(Netns) error) (*Network, error) {
	n := &Network{Prefix: prefix, WAN: Netns{Name: namespaceName(prefix, "wan")}, Hosts: map[string]Netns{}}
	add := func(ns Netns) error {
		if err := rec(ns); err != nil {
			return err
		}
		if err := ip(ctx, "netns", "add", ns.Name); err != nil {
			return err
		}
		return ip(ctx, "-n", ns.Name, "link", "set", "lo", "up")
	}
	if err := add(n.WAN); err != nil {
		return n, err
	}
	// A fresh namespace does not forward (net.ipv4.ip_forward is 0 unless
	// devconf_inherit_init_net says otherwise): make sure of it.
	if err := inNetns(n.WAN, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0\n"), 0o644)
	}); err != nil {
		return n, fmt.Errorf("chaos: turning forwarding off in the WAN namespace: %w", err)
	}
	for _, h := range t.Hosts {
		ns := Netns{Name: namespaceName(prefix, h.Name)}
		if err := add(ns); err != nil {
			return n, err
		}
		n.Hosts[h.Name] = ns
		wanIf := "h-" + h.Name
		steps := [][]string{
			{"link", "add", wanIf, "netns", n.WAN.Name, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
			{"-n", n.WAN.Name, "addr", "add", h.Gateway().String() + "/24", "dev", wanIf},
			{"-n", n.WAN.Name, "link", "set", wanIf, "up"},
			{"-n", ns.Name, "addr", "add", h.Addr().String() + "/24", "dev", "eth0"},
			{"-n", ns.Name, "link", "set", "eth0", "up"},
			{"-n", ns.Name, "route", "add", "default", "via", h.Gateway().String()},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// DeleteNetns removes a namespace (and the veth ends in it). A namespace
// that is already gone is not an error.
func DeleteNetns(ctx context.Context, ns Netns) error {
	if _, err := os.Stat(ns.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return ip(ctx, "netns", "del", ns.Name)
}

// inNetns runs fn on an OS thread that has joined ns. The thread is never
// handed back to the runtime: the goroutine ends locked, so Go discards it.
func inNetns(ns Netns, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with this goroutine.
		f, err := os.Open(ns.Path())
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// DialContext opens a TCP connection from inside ns: the socket is made on
// a thread that joined the namespace, so it belongs there for good (the
// harness reaches each host's loopback services this way, and no address
// is ever added to the caller's own namespace).
func (n Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(n, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// HTTPClient returns a client whose connections are made inside ns.
func (n Netns) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         n.DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}
