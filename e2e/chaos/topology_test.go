package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultTopologyIsAThreeSiteThreeOfFive(t *testing.T) {
	top := DefaultTopology()
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	sites := map[string][]uint64{}
	for _, h := range top.ByRole(RoleSigner) {
		sites[h.Site] = append(sites[h.Site], h.SignerID)
	}
	if len(sites) != 3 || len(top.ByRole(RoleSigner)) != 5 {
		t.Fatalf("signers by site %v, want five over three sites", sites)
	}
	for site, ids := range sites {
		if len(ids) > 2 {
			t.Errorf("site %s holds %d signers: losing it would take more than n-t=2", site, len(ids))
		}
	}
	if n := len(top.ByRole(RoleVC)); n != 2 {
		t.Errorf("%d validator clients, want 2 (redundancy)", n)
	}
	if n := len(top.ByRole(RoleBeacon)); n != 2 {
		t.Errorf("%d beacon hosts, want 2 (failover)", n)
	}
}

func TestEveryClientReachesWhatItNeedsAndNothingElse(t *testing.T) {
	top := DefaultTopology()
	has := map[string]bool{}
	for _, l := range top.Links {
		has[l.Name()] = true
		if l.Client == l.Service.Host {
			t.Errorf("link %s loops to its own host", l.Name())
		}
	}
	for _, want := range []string{"va_to_signer-1", "va_to_signer-5", "vb_to_bn1-http", "vb_to_bn2-http", "s1_to_signer-2", "b1_to_bn2-p2p", "b2_to_bn1-p2p"} {
		if !has[want] {
			t.Errorf("no link %s", want)
		}
	}
	for _, not := range []string{"va_to_bn1-p2p", "s1_to_bn1-http", "b1_to_signer-1", "s1_to_signer-1"} {
		if has[not] {
			t.Errorf("unexpected link %s", not)
		}
	}
	// 2 clients x (5 signers + 2 beacon APIs) + 5 x 4 signer pairs + 2 p2p.
	if len(top.Links) != 2*7+20+2 {
		t.Errorf("%d links, want 36", len(top.Links))
	}
}

func TestHostsFileSendsSignerNamesThroughTheGateway(t *testing.T) {
	top := DefaultTopology()
	va, s3 := top.Host("va"), top.Host("s3")
	f := top.HostsFile(va)
	if !strings.Contains(f, va.Gateway().String()+"\tsigner-3.rampart-chaos.test\n") {
		t.Errorf("va's hosts file does not send signer-3 to its gateway:\n%s", f)
	}
	f = top.HostsFile(s3)
	if !strings.Contains(f, s3.Addr().String()+"\tsigner-3.rampart-chaos.test\n") || !strings.Contains(f, s3.Gateway().String()+"\tsigner-1.rampart-chaos.test\n") {
		t.Errorf("s3's hosts file: want its own name on its address, the others' on its gateway:\n%s", f)
	}
	if got, want := top.SignerEndpoint(3), "https://signer-3.rampart-chaos.test:10003"; got != want {
		t.Errorf("endpoint %s, want %s", got, want)
	}
}

func TestLinkDelayIsHalfTheSitesRoundTrip(t *testing.T) {
	top := DefaultTopology()
	for _, tc := range []struct {
		client, service string
		delay, jitter   time.Duration
	}{
		{"va", "signer-1", 500 * time.Microsecond, 50 * time.Microsecond},
		{"va", "signer-3", 10 * time.Millisecond, time.Millisecond},
		{"vb", "signer-5", 40 * time.Millisecond, 4 * time.Millisecond},
		{"s5", "signer-1", 22500 * time.Microsecond, 2250 * time.Microsecond},
	} {
		l := Link{Client: tc.client, Service: top.Service(tc.service)}
		d, j, err := top.LinkDelay(l)
		if err != nil || d != tc.delay || j != tc.jitter {
			t.Errorf("%s: delay %s jitter %s (%v), want %s and %s", l.Name(), d, j, err, tc.delay, tc.jitter)
		}
	}
}

func TestValidateRefusesBrokenTopologies(t *testing.T) {
	for name, mutate := range map[string]func(*Topology){
		"repeated host name": func(t *Topology) { t.Hosts[1].Name = t.Hosts[0].Name },
		"repeated index":     func(t *Topology) { t.Hosts[1].Index = t.Hosts[0].Index },
		"site without RTT":   func(t *Topology) { t.Hosts[4].Site = "d" },
		"negative CPU":       func(t *Topology) { t.Hosts[0].CPU = -1 },
	} {
		top := DefaultTopology()
		mutate(top)
		if err := top.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPartitionAndDeafSetsOfLinks(t *testing.T) {
	top := DefaultTopology()
	for _, l := range top.crossing("a") {
		a, b := top.Host(l.Client).Site, top.Host(l.Service.Host).Site
		if (a == "a") == (b == "a") {
			t.Errorf("link %s does not cross site a's border", l.Name())
		}
	}
	for _, l := range top.touching("s4") {
		if l.Client != "s4" && l.Service.Host != "s4" {
			t.Errorf("link %s does not touch s4", l.Name())
		}
	}
}

func TestScenariosStayWithinWhatTheyClaim(t *testing.T) {
	all := Scenarios(DefaultTopology())
	seen := map[string]bool{}
	for _, sc := range all {
		if seen[sc.Name] {
			t.Errorf("scenario %s twice", sc.Name)
		}
		seen[sc.Name] = true
		if sc.Affected > 2 {
			t.Errorf("%s affects %d signers, beyond n-t", sc.Name, sc.Affected)
		}
		if (sc.Inject == nil) != (sc.Heal == nil) {
			t.Errorf("%s: an inject without a heal, or the reverse", sc.Name)
		}
	}
	for _, want := range []string{"baseline", "signer-kill", "two-signers-kill", "site-partition", "asymmetric-partition", "slow-signer",
		"invalid-partials", "clock-skew", "disk-full", "hsm-lost", "beacon-kill", "vc-kill"} {
		if !seen[want] {
			t.Errorf("no scenario %s", want)
		}
	}
	if sc, _ := ScenarioByName(all, "two-signers-kill"); sc.Affected != 2 {
		t.Errorf("two-signers-kill affects %d, want n-t = 2", sc.Affected)
	}
}
