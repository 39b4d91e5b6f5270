package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	rdevnet "github.com/rampart-signer/rampart/appliance/devnet"
	"github.com/rampart-signer/rampart/e2e/devnet"
	"github.com/rampart-signer/rampart/internal/proc"
)

// Options say where the run's inputs are and where it writes.
type Options struct {
	// Dir receives everything the run writes (made if absent).
	Dir string
	// E2EBin holds geth, beacon-chain and prysmctl (make e2e-tools).
	E2EBin string
	// RampartBin holds rampart-signer, rampart-vc and rampartctl.
	RampartBin string
	// Self is the chaos binary (for `enter`, `wan` and `impostor`).
	Self string
	// Log receives progress lines.
	Log io.Writer
	// GenesisDelay is how long after the devnet's preparation the chain
	// starts: it must cover bringing up the whole stack.
	GenesisDelay time.Duration
	// DiskFullSigner and HSMSigner are the signers whose data directory
	// gets a small volume of its own, and whose token directory is taken
	// away, by those scenarios (0: none).
	DiskFullSigner uint64
}

// Stack is the simulated deployment, running.
type Stack struct {
	Opts     Options
	Topo     *Topology
	Net      *Network
	State    *RunState
	Launcher *Launcher
	WAN      *WANClient
	Devnet   *devnet.Devnet
	Signers  map[uint64]*Signer
	Beacons  []*Beacon
	VCs      []*VC
	// Others is Prysm's validator client for the validators the cluster
	// does not hold.
	Others  *Proc
	cgroups CgroupFS
	prefix  string
	// impostors stand in for stopped signers (invalid-partials).
	impostors map[uint64]*Proc
	// kills are the moments each signer was killed with SIGKILL.
	kills map[uint64][]time.Time
	// ClusterDir is `rampartctl devnet up`'s directory.
	ClusterDir string
}

// Signer is one rampart-signer host.
type Signer struct {
	ID          uint64
	Host        Host
	Proc        *Proc
	Config      string
	SoftHSMConf string
	DataDir     string
	AuditDir    string
	SlashingDB  string
	ops         *http.Client
}

// Beacon is one beacon host: geth and beacon-chain.
type Beacon struct {
	N      int
	Host   Host
	Geth   *Proc
	BN     *Proc
	api    *http.Client
	PeerID string
}

// VC is one rampart-vc host.
type VC struct {
	Name     string
	Host     Host
	Proc     *Proc
	Instance int
	metrics  *http.Client
}

func (s *Stack) logf(format string, a ...any) {
	fmt.Fprintf(s.Opts.Log, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func (s *Stack) path(elem ...string) string {
	return filepath.Join(append([]string{s.Opts.Dir}, elem...)...)
}

// NewStack records the run in opts.Dir; Up brings the stack up.
func NewStack(opts Options) (*Stack, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if entries, err := os.ReadDir(opts.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("chaos: run directory %s is not empty (a previous run's? `chaos cleanup --dir` it, then remove it)", opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	st, err := NewRunState(opts.Dir)
	if err != nil {
		return nil, err
	}
	t := DefaultTopology()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	// Namespaces and cgroups carry the harness's pid: two runs on one
	// machine never share a name.
	prefix := fmt.Sprintf("rc%d", os.Getpid())
	return &Stack{Opts: opts, Topo: t, State: st, prefix: prefix, Signers: map[uint64]*Signer{}, impostors: map[uint64]*Proc{}, kills: map[uint64][]time.Time{}}, nil
}

// Up builds the network, starts the WAN, prepares the devnet and the
// cluster, and starts every signer, beacon host and validator client.
func (s *Stack) Up(ctx context.Context) error {
	start := time.Now()
	var err error
	if s.cgroups, err = DetectCgroups("/sys/fs/cgroup"); err != nil {
		return err
	}
	parent := "rampart-chaos-" + s.prefix
	if err := s.State.SetCgroups(s.cgroups, parent); err != nil {
		return err
	}
	groups := map[string]Group{}
	for _, h := range s.Topo.Hosts {
		g, err := s.cgroups.MakeGroup(parent, h.Name, h.CPU)
		if err != nil {
			return err
		}
		groups[h.Name] = g
	}
	s.logf("cgroup %s: CPU quotas under %s/%s", s.cgroups.Version(), s.cgroups.Root, parent)
	if s.Net, err = BuildNetwork(ctx, s.Topo, s.prefix, s.State.AddNamespace); err != nil {
		return err
	}
	hostsFiles := map[string]string{}
	if err := os.MkdirAll(s.path("hosts"), 0o755); err != nil {
		return err
	}
	for _, h := range s.Topo.Hosts {
		p := s.path("hosts", h.Name)
		if err := os.WriteFile(p, []byte(s.Topo.HostsFile(h)), 0o644); err != nil {
			return err
		}
		hostsFiles[h.Name] = p
	}
	s.Launcher = &Launcher{Self: s.Opts.Self, Net: s.Net, Procs: groups, Hosts: hostsFiles, State: s.State}
	s.logf("network: %d namespaces (%s-*), %d links through toxiproxy", len(s.Net.Hosts)+1, s.prefix, len(s.Topo.Links))

	if err := os.MkdirAll(s.path("logs"), 0o700); err != nil {
		return err
	}
	wan := s.Launcher.NewProc("wan", "wan", s.path("logs", "wan.log"), nil, s.Opts.Self, "wan", "--api", "127.0.0.1:"+strconv.Itoa(wanAPIPort))
	if err := wan.Start(); err != nil {
		return err
	}
	s.WAN = NewWANClient(s.Net.WAN, "127.0.0.1:"+strconv.Itoa(wanAPIPort))
	if err := s.WAN.Ready(ctx, 20*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, wan.LogTail(2000))
	}
	if err := SetUpLinks(ctx, s.WAN, s.Topo); err != nil {
		return err
	}

	cfg := devnet.DefaultConfig()
	cfg.Dir = s.path("devnet")
	cfg.BinDir = s.Opts.E2EBin
	cfg.GenesisDelay = s.Opts.GenesisDelay
	cfg.Validators = devnetValidators
	if s.Devnet, err = devnet.Prepare(ctx, cfg); err != nil {
		return err
	}
	s.logf("devnet prepared: %d validators, genesis at %s (in %s)", cfg.Validators, s.Devnet.GenesisTime.UTC().Format("15:04:05"), time.Until(s.Devnet.GenesisTime).Round(time.Second))
	if err := s.provisionCluster(ctx); err != nil {
		return err
	}
	for _, h := range s.Topo.ByRole(RoleSigner) {
		if err := s.Signers[h.SignerID].Proc.Start(); err != nil {
			return err
		}
	}
	for _, h := range s.Topo.ByRole(RoleSigner) {
		if err := s.WaitSignerHealthy(ctx, h.SignerID, time.Minute); err != nil {
			return err
		}
	}
	s.logf("5 signers healthy in their namespaces")
	if err := s.startBeacons(ctx); err != nil {
		return err
	}
	if err := s.startVCs(ctx); err != nil {
		return err
	}
	s.logf("stack up in %s; genesis in %s", time.Since(start).Round(time.Second), time.Until(s.Devnet.GenesisTime).Round(time.Second))
	return nil
}

// run runs a program to completion on host (the WAN namespace for
// "wan"), its output appended to log.
func (s *Stack) run(ctx context.Context, host, log string, env []string, argv ...string) error {
	ns := s.Net.WAN
	if host != "wan" {
		ns = s.Net.Hosts[host]
	}
	spec := EnterSpec{Netns: ns.Path(), Argv: argv}
	logf, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, s.Opts.Self, append([]string{"enter"}, spec.Args()...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(log)
		return fmt.Errorf("chaos: %s: %w\n%s", strings.Join(argv, " "), err, tailString(string(b), 3000))
	}
	return nil
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// provisionCluster makes the 3-of-5 cluster with `rampartctl devnet up`
// (in the WAN namespace, on its loopback: SoftHSM tokens, TLS identities,
// the interop validators imported from their keystores), stops it, and
// rewrites each signer's configuration for its own host: its participant
// listener on its address, the others' endpoints by name (each host
// resolves them to its own gateway), the rest on the host's loopback.
func (s *Stack) provisionCluster(ctx context.Context) error {
	s.ClusterDir = s.path("cluster")
	rampartctl := filepath.Join(s.Opts.RampartBin, "rampartctl")
	n, err := s.Devnet.Network()
	if err != nil {
		return err
	}
	log := s.path("logs", "rampartctl.log")
	t0 := time.Now()
	keystores := s.path("cluster-keystores")
	if err := os.MkdirAll(keystores, 0o700); err != nil {
		return err
	}
	for i := 0; i < clusterValidators; i++ {
		b, err := os.ReadFile(filepath.Join(s.Devnet.KeystoreDir(), devnet.KeystoreName(i)))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(keystores, devnet.KeystoreName(i)), b, 0o600); err != nil {
			return err
		}
	}
	upErr := s.run(ctx, "wan", log, nil, rampartctl, "devnet", "up", "--dir", s.ClusterDir,
		"--signers", "5", "--threshold", "3", "--accept-low-safety",
		"--keystores", keystores, "--password-file", s.Devnet.KeystorePasswordFile(),
		"--network-config", s.Devnet.NetworkConfigFile(), "--genesis-validators-root", n.GenesisValidatorsRoot().String())
	// Whatever happened, the processes devnet up recorded are the run's.
	if st, err := rdevnet.Load(s.ClusterDir); err == nil {
		for _, sg := range st.Signers {
			if sg.PID != 0 {
				_ = s.State.SetProcess(fmt.Sprintf("provision-signer-%d", sg.ID), sg.Record)
			}
		}
	}
	if upErr != nil {
		return upErr
	}
	if err := s.run(ctx, "wan", log, nil, rampartctl, "devnet", "down", "--dir", s.ClusterDir); err != nil {
		return err
	}
	for i := 1; i <= 5; i++ {
		_ = s.State.SetProcess(fmt.Sprintf("provision-signer-%d", i), proc.Record{})
	}
	s.logf("cluster provisioned and the interop validators imported in %s", time.Since(t0).Round(time.Second))

	st, err := rdevnet.Load(s.ClusterDir)
	if err != nil {
		return err
	}
	for _, sg := range st.Signers {
		h := s.Topo.Signer(sg.ID)
		doc, err := readYAML(sg.ConfigPath)
		if err != nil {
			return err
		}
		doc.set("listen.participant", net.JoinHostPort(h.Addr().String(), strconv.Itoa(signerPortBase+int(sg.ID))))
		doc.set("listen.coordinator", "127.0.0.1:"+strconv.Itoa(signerCoordinatorPort))
		doc.set("listen.operations", "127.0.0.1:"+strconv.Itoa(signerOperationsPort))
		doc.set("listen.coordinator_insecure_loopback", nil)
		for _, p := range doc.list("cluster.participants") {
			p["endpoint"] = s.Topo.SignerEndpoint(uintOf(p["id"]))
		}
		// Keep every record with its root for the whole run, so the
		// check for lost approvals can find each one (the default folds
		// records older than 16 epochs into watermarks).
		doc.set("slashing.history_epochs", signerHistoryEpochs)
		header := fmt.Sprintf("# %s on host %s (site %s) of the chaos run: written by e2e/chaos from\n# rampartctl devnet up's configuration.\n", SignerService(sg.ID), h.Name, h.Site)
		if err := doc.write(sg.ConfigPath, header); err != nil {
			return err
		}
		dataDir := doc.str("data_dir")
		sig := &Signer{
			ID: sg.ID, Host: h, Config: sg.ConfigPath, SoftHSMConf: sg.SoftHSMConf, DataDir: dataDir,
			AuditDir:   firstNonEmpty(doc.str("audit.dir"), filepath.Join(dataDir, "audit")),
			SlashingDB: firstNonEmpty(doc.str("slashing.database"), filepath.Join(dataDir, "slashing-protection.db")),
			ops:        s.Net.Hosts[h.Name].HTTPClient(3 * time.Second),
		}
		sig.Proc = s.Launcher.NewProc(SignerService(sg.ID), h.Name, filepath.Join(filepath.Dir(sg.ConfigPath), "signer.log"),
			[]string{"SOFTHSM2_CONF=" + sg.SoftHSMConf}, filepath.Join(s.Opts.RampartBin, "rampart-signer"), "--config", sg.ConfigPath)
		s.Signers[sg.ID] = sig
		if err := s.run(ctx, h.Name, s.path("logs", "check-config.log"), []string{"SOFTHSM2_CONF=" + sg.SoftHSMConf}, filepath.Join(s.Opts.RampartBin, "rampart-signer"), "--config", sg.ConfigPath, "--check-config"); err != nil {
			return err
		}
		if sg.ID == s.Opts.DiskFullSigner {
			if err := s.smallVolume(sig); err != nil {
				return err
			}
		}
	}
	cf, err := readYAML(filepath.Join(s.ClusterDir, "cluster.yaml"))
	if err != nil {
		return err
	}
	for _, p := range cf.list("participants") {
		p["endpoint"] = s.Topo.SignerEndpoint(uintOf(p["id"]))
	}
	cf.set("coordinator_http", nil)
	return cf.write(s.path("cluster-wan.yaml"), "# The cluster as the validator clients of the chaos run see it: signer endpoints by name.\n")
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The devnet has devnetValidators validators; the cluster holds the first
// clusterValidators, and a Prysm validator client with local keys the
// rest, as the rest of a network would: the chain keeps going and
// finalising whatever befalls the cluster, and the sync committee's 512
// seats are spread over many validators (with 64 validators in all, each
// would hold 8 seats and the cluster would aggregate for most of the
// committee every slot, which no cluster does on a real network).
const (
	devnetValidators  = 512
	clusterValidators = 64
)

// clusterValidators returns the indices the cluster signs for.
func (s *Stack) clusterValidators() map[uint64]bool {
	out := map[uint64]bool{}
	for i := uint64(0); i < clusterValidators; i++ {
		out[i] = true
	}
	return out
}

// signerHistoryEpochs is every signer's slashing.history_epochs: longer
// than any run, so nothing is folded into watermarks and every record
// keeps its root for the lost-approval check.
const signerHistoryEpochs = 4096

// smallVolumeSlack is the free space of the disk-full signer's data
// volume beyond what its data takes at start.
const smallVolumeSlack = 256 << 20

// smallVolume moves a signer's data directory onto a tmpfs of its own,
// slightly larger than the data, which the disk-full scenario fills.
func (s *Stack) smallVolume(sig *Signer) error {
	var used int64
	err := filepath.Walk(sig.DataDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			used += fi.Size()
		}
		return err
	})
	if err != nil {
		return err
	}
	orig := sig.DataDir + ".orig"
	if err := os.Rename(sig.DataDir, orig); err != nil {
		return err
	}
	if err := os.Mkdir(sig.DataDir, 0o700); err != nil {
		return err
	}
	if err := s.State.AddMount(sig.DataDir); err != nil {
		return err
	}
	size := (used + smallVolumeSlack + 1<<20 - 1) &^ (1<<20 - 1)
	if err := unix.Mount("tmpfs", sig.DataDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return fmt.Errorf("chaos: tmpfs for %s: %w", sig.DataDir, err)
	}
	if out, err := exec.Command("cp", "-a", orig+"/.", sig.DataDir+"/").CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: copying %s: %v: %s", orig, err, out)
	}
	s.logf("signer %d: data directory on a %d MiB tmpfs of its own (%d MiB used)", sig.ID, size>>20, used>>20)
	return nil
}

// SignerHealth returns signer id's /healthcheck status code and body.
func (s *Stack) SignerHealth(ctx context.Context, id uint64) (int, string, error) {
	sig := s.Signers[id]
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(signerOperationsPort)+"/healthcheck", nil)
	resp, err := sig.ops.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), nil
}

// WaitSignerHealthy waits until signer id answers /healthcheck with 200.
func (s *Stack) WaitSignerHealthy(ctx context.Context, id uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	sig := s.Signers[id]
	for {
		code, body, err := s.SignerHealth(ctx, id)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if sig.Proc.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("chaos: signer %d not healthy (%d %v %s); log:\n%s", id, code, err, strings.TrimSpace(body), sig.Proc.LogTail(2500))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startBeacons initialises and starts geth and beacon-chain on each
// beacon host; the first beacon node peers with the second through the
// WAN.
func (s *Stack) startBeacons(ctx context.Context) error {
	hosts := s.Topo.ByRole(RoleBeacon)
	for _, h := range hosts {
		b := &Beacon{N: beaconNumber(h), Host: h, api: s.Net.Hosts[h.Name].HTTPClient(15 * time.Second)}
		dir := s.path(h.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		geth := filepath.Join(s.Opts.E2EBin, "geth")
		if out, err := exec.CommandContext(ctx, geth, "init", "--datadir", filepath.Join(dir, "geth"), "--state.scheme", "path", s.Devnet.ExecutionGenesisFile()).CombinedOutput(); err != nil {
			return fmt.Errorf("chaos: geth init for %s: %v\n%s", h.Name, err, tailString(string(out), 2000))
		}
		b.Geth = s.Launcher.NewProc(h.Name+"-geth", h.Name, filepath.Join(dir, "geth.log"), nil, geth,
			"--config", s.Devnet.GethConfigFile(), "--datadir", filepath.Join(dir, "geth"), "--state.scheme", "path",
			"--networkid", strconv.FormatUint(s.Devnet.Config.ChainID, 10), "--syncmode", "full",
			"--nodiscover", "--nat", "none", "--ipcdisable",
			"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(gethHTTPPort), "--http.api", "eth,net,web3",
			"--authrpc.addr", "127.0.0.1", "--authrpc.port", strconv.Itoa(gethAuthPort), "--authrpc.jwtsecret", s.Devnet.JWTFile(),
			"--port", strconv.Itoa(gethP2PPort), "--verbosity", "2")
		s.Beacons = append(s.Beacons, b)
	}
	// The second first: the first dials it, knowing its peer id.
	for i := len(s.Beacons) - 1; i >= 0; i-- {
		b := s.Beacons[i]
		if err := b.Geth.Start(); err != nil {
			return err
		}
		var peers []string
		if i == 0 && len(s.Beacons) > 1 {
			other := s.Beacons[1]
			peers = append(peers, fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", b.Host.Gateway(), beaconP2PPortBase+other.N, other.PeerID))
		}
		b.BN = s.Launcher.NewProc(b.Host.Name+"-beacon", b.Host.Name, s.path(b.Host.Name, "beacon.log"), nil, s.beaconArgs(b, peers)...)
		if err := b.BN.Start(); err != nil {
			return err
		}
		if err := s.waitBeacon(ctx, b, 2*time.Minute); err != nil {
			return err
		}
		s.logf("beacon host %s: geth and beacon-chain up, peer id %s", b.Host.Name, b.PeerID)
	}
	// The rest of the network: Prysm's validator client with the other
	// validators' interop keys, beside the second beacon node.
	b := s.Beacons[len(s.Beacons)-1]
	dir := s.path(b.Host.Name)
	s.Others = s.Launcher.NewProc(b.Host.Name+"-prysm-validator", b.Host.Name, filepath.Join(dir, "validator.log"), nil,
		filepath.Join(s.Opts.E2EBin, "validator"),
		"--datadir", filepath.Join(dir, "validator"), "--accept-terms-of-use",
		"--chain-config-file", s.Devnet.NetworkConfigFile(),
		"--beacon-rpc-provider", "127.0.0.1:"+strconv.Itoa(beaconRPCPort),
		"--interop-num-validators", strconv.Itoa(devnetValidators-clusterValidators),
		"--interop-start-index", strconv.Itoa(clusterValidators),
		"--monitoring-host", "127.0.0.1", "--monitoring-port", "8081",
		"--suggested-fee-recipient", "0x52414d5041525400000000000000000000000000",
		"--graffiti", "others", "--verbosity", "info")
	if err := s.Others.Start(); err != nil {
		return err
	}
	s.logf("Prysm's validator client with validators %d to %d on %s", clusterValidators, devnetValidators-1, b.Host.Name)
	return nil
}

func (s *Stack) beaconArgs(b *Beacon, peers []string) []string {
	dir := s.path(b.Host.Name)
	bootnodes := filepath.Join(dir, "bootnodes.yaml")
	_ = os.WriteFile(bootnodes, []byte("[]\n"), 0o600)
	args := []string{filepath.Join(s.Opts.E2EBin, "beacon-chain"),
		"--datadir", filepath.Join(dir, "beacon"),
		"--accept-terms-of-use",
		"--chain-config-file", s.Devnet.NetworkConfigFile(),
		"--genesis-state", s.Devnet.GenesisStateFile(),
		"--execution-endpoint", "http://127.0.0.1:" + strconv.Itoa(gethAuthPort),
		"--jwt-secret", s.Devnet.JWTFile(),
		"--bootstrap-node", bootnodes,
		// Discovery stays on (no bootnodes, so it finds no one): without
		// it the node has no ENR and will not serve its identity.
		"--disable-quic",
		"--min-sync-peers", "0",
		"--p2p-max-peers", "8",
		"--minimum-peers-per-subnet", "0",
		"--subscribe-all-subnets",
		"--p2p-local-ip", b.Host.Addr().String(), "--p2p-host-ip", b.Host.Addr().String(),
		"--p2p-tcp-port", strconv.Itoa(beaconP2PPortBase + b.N),
		"--p2p-udp-port", strconv.Itoa(beaconP2PPortBase + b.N),
		"--p2p-quic-port", strconv.Itoa(beaconQUICPort),
		"--http-host", "0.0.0.0", "--http-port", strconv.Itoa(beaconHTTPPortBase + b.N),
		"--rpc-host", "127.0.0.1", "--rpc-port", strconv.Itoa(beaconRPCPort),
		"--monitoring-host", "127.0.0.1", "--monitoring-port", strconv.Itoa(beaconMetricsPort),
		"--deposit-contract", devnet.DepositContractAddress,
		"--contract-deployment-block", "0",
		"--suggested-fee-recipient", "0x52414d5041525400000000000000000000000000",
		"--verbosity", "info",
	}
	if b.N == len(s.Topo.ByRole(RoleBeacon)) {
		// One slasher sees every message both nodes gossip.
		args = append(args, "--slasher", "--slasher-datadir", filepath.Join(dir, "slasher"))
	}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	return args
}

// BeaconURL is beacon host b's API as the harness reaches it (its own
// loopback, through the namespace).
func (b *Beacon) BeaconURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(beaconHTTPPortBase+b.N)
}

// Get decodes the data field of a beacon API answer.
func (b *Beacon) Get(ctx context.Context, path string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.BeaconURL()+path, nil)
	resp, err := b.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Code: resp.StatusCode, Body: tailString(string(body), 300)}
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// Post posts a JSON body and decodes the data field of the answer.
func (b *Beacon) Post(ctx context.Context, path, body string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.BeaconURL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Code: resp.StatusCode, Body: tailString(string(data), 300)}
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// HTTPError is a beacon API answer other than 200.
type HTTPError struct {
	Code int
	Body string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("status %d: %s", e.Code, e.Body) }

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Code == http.StatusNotFound
}

// waitBeacon waits until beacon-chain serves its identity.
func (s *Stack) waitBeacon(ctx context.Context, b *Beacon, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var id struct {
			PeerID string `json:"peer_id"`
		}
		err := b.Get(ctx, "/eth/v1/node/identity", &id)
		if err == nil && id.PeerID != "" {
			b.PeerID = id.PeerID
			return nil
		}
		if b.BN.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("chaos: beacon node on %s not up (%v):\n%s", b.Host.Name, err, b.BN.LogTail(3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RestartBeacon starts beacon host b's beacon-chain again with its
// original arguments.
func (s *Stack) RestartBeacon(ctx context.Context, b *Beacon) error {
	if err := b.BN.Start(); err != nil {
		return err
	}
	return s.waitBeacon(ctx, b, 2*time.Minute)
}

// startVCs writes each rampart-vc's configuration and starts it: the
// beacon node of its own site first, the other second; doppelganger
// detection off (the instances run beside each other on purpose; see
// vc.example.yaml), the first instance proposing at once and the second
// a second later if no block has appeared.
func (s *Stack) startVCs(ctx context.Context) error {
	cf, err := readYAML(filepath.Join(s.ClusterDir, "cluster.yaml"))
	if err != nil {
		return err
	}
	cert, key := cf.str("client.certificate"), cf.str("client.key")
	if cert == "" || key == "" {
		return errors.New("chaos: the cluster file names no client identity")
	}
	for i, h := range s.Topo.ByRole(RoleVC) {
		name := strings.TrimPrefix(h.Name, "v")
		dir := s.path(h.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		var nodes strings.Builder
		beacons := append([]*Beacon(nil), s.Beacons...)
		if beacons[0].Host.Site != h.Site && len(beacons) > 1 {
			beacons[0], beacons[1] = beacons[1], beacons[0]
		}
		for _, b := range beacons {
			fmt.Fprintf(&nodes, "  - name: bn%d\n    url: http://%s:%d\n", b.N, h.Gateway(), beaconHTTPPortBase+b.N)
		}
		cfg := fmt.Sprintf(`# rampart-vc %s on host %s (site %s) of the chaos run (e2e/chaos).
cluster:
  file: %s
  certificate: %s
  key: %s
  timeout: 2s
  # The nine hosts share one machine's CPUs: asking three signers first
  # (the others when one is slower than this, or fails) spares the work
  # that signers on their own machines would not miss.
  hedge_delay: 300ms
beacon_nodes:
%sfee_recipient: "0x5241d0000000000000000000000000000000d0fe"
graffiti: chaos-%s
doppelganger:
  enabled: false
redundancy:
  instance: %d
listen:
  operations: 127.0.0.1:%d
`, name, h.Name, h.Site, s.path("cluster-wan.yaml"), cert, key, nodes.String(), name, i, vcOperationsPort)
		path := filepath.Join(dir, "vc.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return err
		}
		v := &VC{Name: name, Host: h, Instance: i, metrics: s.Net.Hosts[h.Name].HTTPClient(5 * time.Second)}
		v.Proc = s.Launcher.NewProc("vc-"+name, h.Name, filepath.Join(dir, "vc.log"), nil, filepath.Join(s.Opts.RampartBin, "rampart-vc"), "--config", path)
		if err := v.Proc.Start(); err != nil {
			return err
		}
		s.VCs = append(s.VCs, v)
	}
	for _, v := range s.VCs {
		if err := s.waitVC(ctx, v, time.Minute); err != nil {
			return err
		}
	}
	s.logf("rampart-vc a and b up")
	return nil
}

// waitVC waits until the validator client serves its metrics.
func (s *Stack) waitVC(ctx context.Context, v *VC, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := v.Scrape(ctx)
		if err == nil {
			return nil
		}
		if v.Proc.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("chaos: rampart-vc %s not up (%v):\n%s", v.Name, err, v.Proc.LogTail(3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// RestartVC starts a validator client again.
func (s *Stack) RestartVC(ctx context.Context, v *VC) error {
	if err := v.Proc.Start(); err != nil {
		return err
	}
	return s.waitVC(ctx, v, time.Minute)
}

// Scrape reads the validator client's metrics.
func (v *VC) Scrape(ctx context.Context) (Samples, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(vcOperationsPort)+"/metrics", nil)
	resp, err := v.metrics.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	return ParseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// Down stops every process and removes everything the run made.
func (s *Stack) Down(ctx context.Context) error {
	return s.State.Cleanup(ctx)
}
