package localcluster

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A signer of a local cluster keeps its ports for life: stopped and
// started again (rampartctl devnet stop/start, a test's restart), it binds
// the same ones, which its peers and the cluster file name. A port the
// kernel gave for ":0" lies in its ephemeral range, from which it also
// picks the source port of every outgoing connection, so while the signer
// is stopped any connection on the machine may take its port and the
// restart fails with "address already in use" (seen in make test). The
// ports are therefore picked below the ephemeral range, where the kernel
// never picks on its own.

// portFloor is the lowest port picked: above the well-known and the
// commonly configured service ports.
const portFloor = 10000

// ephemeralLow is the first port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range; Linux's default 32768 when it
// cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 && n <= 65535 {
				return n
			}
		}
	}
	return 32768
}

// listenStable binds a TCP port on host outside the kernel's ephemeral
// range, trying random ports until one is free; where that range leaves
// too little room below it, it binds port 0 as before.
func listenStable(host string) (net.Listener, error) {
	low := ephemeralLow()
	if low-portFloor < 1000 {
		return net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	var last error
	for range 200 {
		port := portFloor + mrand.IntN(low-portFloor)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		last = err
	}
	return nil, fmt.Errorf("no free port between %d and %d after 200 tries: %w", portFloor, low-1, last)
}
