package chaos

import (
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Role is what runs on a host.
type Role string

// Roles of the simulated hosts.
const (
	RoleSigner Role = "signer"
	RoleVC     Role = "vc"
	RoleBeacon Role = "beacon" // geth and Prysm's beacon-chain together
)

// Host is one simulated machine: a network namespace of its own with one
// address, a CPU quota, in one site.
type Host struct {
	// Name is short and unique ("s1", "va", "b1"); namespaces, cgroups and
	// interfaces are named after it.
	Name string
	Role Role
	// Index numbers the host from 1; its link is 198.18.Index.0/24.
	Index int
	// Site is the data centre the host is racked in.
	Site string
	// SignerID is the participant id of a signer host, 0 otherwise.
	SignerID uint64
	// CPU is the host's CPU quota in cores (0.5 is half a core).
	CPU float64
}

// Addr is the host's own address (its end of the link to the WAN).
func (h Host) Addr() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(h.Index), 2}) }

// Gateway is the WAN's end of the host's link: every service the host
// reaches is a proxy listening on this address.
func (h Host) Gateway() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(h.Index), 1}) }

// Service is a TCP service one host offers the others.
type Service struct {
	// Name is "signer-3" (participant API), "bn1-http" or "bn1-p2p".
	Name string
	// Host serves it, on Port of its own address.
	Host string
	// Port is the same on the serving host and on every client's
	// gateway, so a URL names the service whoever dials it.
	Port int
}

// Link is one client host's path to one service: a toxiproxy proxy on the
// client's gateway, forwarding to the service's host.
type Link struct {
	Client  string
	Service Service
}

// Name is the link's proxy name in toxiproxy.
func (l Link) Name() string { return l.Client + "_to_" + l.Service.Name }

// Profile is the latency between sites: round-trip times (each direction
// carries half) with a jitter of JitterPercent of each direction's delay,
// and the loss rate of every link.
type Profile struct {
	// WithinSite is the round trip between two hosts of one site.
	WithinSite time.Duration
	// Between holds the round trip between two sites, keyed "a-b" with the
	// names sorted.
	Between map[string]time.Duration
	// JitterPercent of each direction's delay is added or taken at random.
	JitterPercent int
	// Loss is the share of lost packets (0.001 for 0.1%): see LossToxic
	// for how a TCP proxy shows it.
	Loss float64
}

// ThreeSites is the profile: about 1 ms within a site, 20, 45 and
// 80 ms between the three sites, 10% jitter, 0.1% loss.
func ThreeSites() Profile {
	return Profile{
		WithinSite:    time.Millisecond,
		Between:       map[string]time.Duration{"a-b": 20 * time.Millisecond, "a-c": 45 * time.Millisecond, "b-c": 80 * time.Millisecond},
		JitterPercent: 10,
		Loss:          0.001,
	}
}

// RTT returns the round trip between two sites.
func (p Profile) RTT(a, b string) (time.Duration, error) {
	if a == b {
		return p.WithinSite, nil
	}
	if a > b {
		a, b = b, a
	}
	d, ok := p.Between[a+"-"+b]
	if !ok {
		return 0, fmt.Errorf("chaos: profile has no round trip between sites %s and %s", a, b)
	}
	return d, nil
}

// Topology is the simulated deployment.
type Topology struct {
	Hosts    []Host
	Services []Service
	Links    []Link
	Profile  Profile
	// Domain is where signer names resolve (signer-3.Domain): through
	// each host's own hosts file, to its own gateway.
	Domain string
}

// Ports of the services: equal on the serving host and on every gateway.
const (
	signerPortBase     = 10000 // + participant id: the participant API
	beaconHTTPPortBase = 11000 // + beacon host number: beacon API
	beaconP2PPortBase  = 12000 // + beacon host number: libp2p (TCP)
	// Loopback-only ports inside a host's namespace.
	signerCoordinatorPort = 9444
	signerOperationsPort  = 9445
	vcOperationsPort      = 9300
	gethHTTPPort          = 8545
	gethAuthPort          = 8551
	gethP2PPort           = 30303
	beaconRPCPort         = 4000
	beaconMetricsPort     = 8080
	beaconQUICPort        = 13001
	// wanAPIPort is toxiproxy's API on the WAN namespace's loopback.
	wanAPIPort = 8474
)

// DefaultTopology is a 3-of-5 cluster over three sites: signers 1 and 2,
// validator client a and beacon host 1 in site a; signers 3 and 4,
// validator client b and beacon host 2 in site b; signer 5 alone in site c.
// Signers get half a core each, validator clients half a core, beacon
// hosts (geth and Prysm) one core.
func DefaultTopology() *Topology {
	hosts := []Host{
		{Name: "s1", Role: RoleSigner, Site: "a", SignerID: 1, CPU: 0.5},
		{Name: "s2", Role: RoleSigner, Site: "a", SignerID: 2, CPU: 0.5},
		{Name: "s3", Role: RoleSigner, Site: "b", SignerID: 3, CPU: 0.5},
		{Name: "s4", Role: RoleSigner, Site: "b", SignerID: 4, CPU: 0.5},
		{Name: "s5", Role: RoleSigner, Site: "c", SignerID: 5, CPU: 0.5},
		{Name: "va", Role: RoleVC, Site: "a", CPU: 0.5},
		{Name: "vb", Role: RoleVC, Site: "b", CPU: 0.5},
		{Name: "b1", Role: RoleBeacon, Site: "a", CPU: 1},
		{Name: "b2", Role: RoleBeacon, Site: "b", CPU: 1},
	}
	for i := range hosts {
		hosts[i].Index = i + 1
	}
	t := &Topology{Hosts: hosts, Profile: ThreeSites(), Domain: "rampart-chaos.test"}
	for _, h := range hosts {
		switch h.Role {
		case RoleSigner:
			t.Services = append(t.Services, Service{Name: SignerService(h.SignerID), Host: h.Name, Port: signerPortBase + int(h.SignerID)})
		case RoleBeacon:
			n := beaconNumber(h)
			t.Services = append(t.Services,
				Service{Name: fmt.Sprintf("bn%d-http", n), Host: h.Name, Port: beaconHTTPPortBase + n},
				Service{Name: fmt.Sprintf("bn%d-p2p", n), Host: h.Name, Port: beaconP2PPortBase + n})
		}
	}
	for _, c := range hosts {
		for _, s := range t.Services {
			if s.Host == c.Name {
				continue
			}
			server := t.Host(s.Host)
			switch {
			case c.Role == RoleVC && server.Role == RoleSigner,
				c.Role == RoleVC && isBeaconHTTP(s),
				c.Role == RoleSigner && server.Role == RoleSigner,
				c.Role == RoleBeacon && !isBeaconHTTP(s) && server.Role == RoleBeacon:
				t.Links = append(t.Links, Link{Client: c.Name, Service: s})
			}
		}
	}
	return t
}

// SignerService names signer id's participant service (and its TLS name).
func SignerService(id uint64) string { return fmt.Sprintf("signer-%d", id) }

func isBeaconHTTP(s Service) bool { return len(s.Name) > 5 && s.Name[len(s.Name)-5:] == "-http" }

// beaconNumber is 1 for the first beacon host, 2 for the second.
func beaconNumber(h Host) int {
	var n int
	fmt.Sscanf(h.Name, "b%d", &n)
	return n
}

// Host returns the host named name, or the zero Host.
func (t *Topology) Host(name string) Host {
	for _, h := range t.Hosts {
		if h.Name == name {
			return h
		}
	}
	return Host{}
}

// Signer returns the host of participant id.
func (t *Topology) Signer(id uint64) Host {
	for _, h := range t.Hosts {
		if h.SignerID == id {
			return h
		}
	}
	return Host{}
}

// ByRole returns the hosts of one role, in order.
func (t *Topology) ByRole(r Role) []Host {
	var out []Host
	for _, h := range t.Hosts {
		if h.Role == r {
			out = append(out, h)
		}
	}
	return out
}

// Service returns the service named name.
func (t *Topology) Service(name string) Service {
	for _, s := range t.Services {
		if s.Name == name {
			return s
		}
	}
	return Service{}
}

// SignerEndpoint is signer id's participant endpoint as every member of
// the cluster names it: a name each host resolves to its own gateway.
func (t *Topology) SignerEndpoint(id uint64) string {
	return fmt.Sprintf("https://%s.%s:%d", SignerService(id), t.Domain, signerPortBase+int(id))
}

// HostsFile is the /etc/hosts a host's processes see: every signer name
// resolves to the host's own gateway (where the proxies of its links
// listen), a signer's own name to its own address.
func (t *Topology) HostsFile(h Host) string {
	out := "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
	ids := []uint64{}
	for _, s := range t.ByRole(RoleSigner) {
		ids = append(ids, s.SignerID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		addr := h.Gateway()
		if h.SignerID == id {
			addr = h.Addr()
		}
		out += fmt.Sprintf("%s\t%s.%s\n", addr, SignerService(id), t.Domain)
	}
	return out
}

// LinkDelay is the one-way delay and jitter of a link, each direction
// carrying half the round trip between the two hosts' sites.
func (t *Topology) LinkDelay(l Link) (delay, jitter time.Duration, err error) {
	rtt, err := t.Profile.RTT(t.Host(l.Client).Site, t.Host(l.Service.Host).Site)
	if err != nil {
		return 0, 0, err
	}
	delay = rtt / 2
	return delay, delay * time.Duration(t.Profile.JitterPercent) / 100, nil
}

// Validate checks the topology is consistent: unique names and indices,
// every link's ends exist, every pair of sites has a round trip.
func (t *Topology) Validate() error {
	names, idx := map[string]bool{}, map[int]bool{}
	for _, h := range t.Hosts {
		if h.Name == "" || len(h.Name) > 4 || names[h.Name] {
			return fmt.Errorf("chaos: host name %q is empty, longer than 4 characters or repeated", h.Name)
		}
		if h.Index < 1 || h.Index > 250 || idx[h.Index] {
			return fmt.Errorf("chaos: host %s: index %d is not 1 to 250 or repeated", h.Name, h.Index)
		}
		if h.CPU < 0 {
			return fmt.Errorf("chaos: host %s: negative CPU quota", h.Name)
		}
		names[h.Name], idx[h.Index] = true, true
	}
	for _, l := range t.Links {
		if !names[l.Client] || !names[l.Service.Host] {
			return fmt.Errorf("chaos: link %s: unknown host", l.Name())
		}
		if _, _, err := t.LinkDelay(l); err != nil {
			return err
		}
	}
	return nil
}
