package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// needRoot skips tests that make namespaces unless they can.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
}

// miniTopology is two hosts of two sites.
func miniTopology() *Topology {
	t := &Topology{Profile: ThreeSites(), Domain: "rampart-chaos.test", Hosts: []Host{
		{Name: "s1", Role: RoleSigner, Site: "a", SignerID: 1, Index: 201},
		{Name: "s2", Role: RoleSigner, Site: "b", SignerID: 2, Index: 202},
	}}
	return t
}

// TestHostsReachEachOtherOnlyThroughTheWAN builds two hosts and checks the
// isolation the scenarios rely on: a host cannot reach another host's
// address directly (the WAN namespace does not forward), only an address
// of the WAN itself (where the proxies listen); and the namespaces are gone
// after cleanup.
func TestHostsReachEachOtherOnlyThroughTheWAN(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := NewRunState(dir)
	if err != nil {
		t.Fatal(err)
	}
	top := miniTopology()
	n, err := BuildNetwork(ctx, top, fmt.Sprintf("rct%d", os.Getpid()), st.AddNamespace)
	t.Cleanup(func() {
		if err := st.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
		for _, ns := range st.Namespaces {
			if _, err := os.Stat(Netns{Name: ns}.Path()); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := top.Host("s1"), top.Host("s2")
	listen := func(ns Netns, addr string) net.Listener {
		var l net.Listener
		if err := inNetns(ns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		t.Cleanup(func() { l.Close() })
		return l
	}
	listen(n.Hosts["s2"], net.JoinHostPort(s2.Addr().String(), "10002"))
	listen(n.WAN, net.JoinHostPort(s1.Gateway().String(), "10002"))

	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := n.Hosts["s1"].DialContext(dctx, "tcp", net.JoinHostPort(s2.Addr().String(), "10002")); err == nil {
		c.Close()
		t.Error("s1 reached s2's address directly: traffic could bypass the WAN's proxies")
	}
	c, err := n.Hosts["s1"].DialContext(ctx, "tcp", net.JoinHostPort(s1.Gateway().String(), "10002"))
	if err != nil {
		t.Fatalf("s1 cannot reach its gateway, where its proxies listen: %v", err)
	}
	c.Close()
}

// TestCleanupAfterACrashedRun leaves a namespace and a process recorded as
// a harness that died would, and checks that cleanup removes both.
func TestCleanupAfterACrashedRun(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := NewRunState(dir)
	if err != nil {
		t.Fatal(err)
	}
	ns := Netns{Name: fmt.Sprintf("rct%d-crash", os.Getpid())}
	if err := st.AddNamespace(ns); err != nil {
		t.Fatal(err)
	}
	if err := ip(ctx, "netns", "add", ns.Name); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	rec, err := procOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetProcess("sleeper", rec); err != nil {
		t.Fatal(err)
	}
	// A later run reads the record the crashed one left.
	left, err := LoadRunState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := left.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ns.Path()); err == nil {
		t.Error("the namespace survived the cleanup")
	}
	if rec.Alive() {
		t.Error("the recorded process survived the cleanup")
	}
}
