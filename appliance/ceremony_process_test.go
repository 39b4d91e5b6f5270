package appliance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/network"
)

// procCluster is n rampart-signer processes on loopback, each with its own
// SoftHSM token, data directory and configuration, built from this source
// tree. Tests kill and restart them like an operator's machines.
type procCluster struct {
	t   testing.TB
	lc  *localcluster.Cluster
	net *network.Network
	bin string
	dir string

	// sockets holds the processes' notification sockets: a short path,
	// since a socket's may not exceed 107 bytes.
	sockets string

	mu     sync.Mutex
	procs  map[int]*proc
	starts int
}

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	// ready is closed when the signer tells systemd READY=1 (through
	// NOTIFY_SOCKET, which the test listens on).
	ready chan struct{}
}

// buildSigner compiles rampart-signer into dir.
func buildSigner(tb testing.TB, dir string) string {
	tb.Helper()
	// go test puts the go command of its GOROOT first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("the go command is needed to build rampart-signer: %v", err)
	}
	bin := filepath.Join(dir, "rampart-signer")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/rampart-signer/rampart/cmd/rampart-signer")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building rampart-signer: %v\n%s", err, out)
	}
	return bin
}

func newProcCluster(tb testing.TB, n int) *procCluster {
	tb.Helper()
	pc, _ := newProcClusterWithAccounts(tb, n, 0)
	return pc
}

// newProcClusterWithAccounts is newProcCluster with validators dealt at
// threshold n/2+1 before the processes start.
func newProcClusterWithAccounts(tb testing.TB, n, validators int) (*procCluster, []api.PublicKey) {
	tb.Helper()
	return newProcClusterDealt(tb, n, func(lc *localcluster.Cluster) ([]api.PublicKey, error) {
		if validators == 0 {
			return nil, nil
		}
		return localcluster.Deal(context.Background(), lc.Configs(), validators, n/2+1, rand.Reader)
	})
}

// newProcClusterDealt is newProcCluster with the validators deal makes
// before the processes start.
func newProcClusterDealt(tb testing.TB, n int, deal func(*localcluster.Cluster) ([]api.PublicKey, error)) (*procCluster, []api.PublicKey) {
	tb.Helper()
	dir := tb.TempDir()
	bin := buildSigner(tb, dir)
	lc, net := provisionCluster(tb, n, nil)
	keys, err := deal(lc)
	if err != nil {
		tb.Fatal(err)
	}
	// The processes bind the ports themselves: close the pre-bound
	// listeners just before starting them.
	lc.CloseListeners()
	sockets, err := os.MkdirTemp("", "rn")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(sockets) })
	pc := &procCluster{t: tb, lc: lc, net: net, bin: bin, dir: dir, sockets: sockets, procs: map[int]*proc{}}
	tb.Cleanup(pc.killAll)
	// One after the other: SoftHSM processes sharing one token directory
	// can trip over each other while initialising.
	for i := range lc.Signers {
		pc.start(i)
		pc.waitReady(i)
	}
	return pc, keys
}

func (pc *procCluster) logPath(i int) string {
	return filepath.Join(pc.dir, pc.lc.Signers[i].Name+".log")
}

// start runs signer i as a process; its output goes to a log file, and
// its systemd notifications to a socket of the test's.
func (pc *procCluster) start(i int) {
	pc.t.Helper()
	s := pc.lc.Signers[i]
	logf, err := os.OpenFile(pc.logPath(i), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.mu.Lock()
	pc.starts++
	sock := filepath.Join(pc.sockets, fmt.Sprintf("%d.sock", pc.starts))
	pc.mu.Unlock()
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		pc.t.Fatal(err)
	}
	cmd := exec.Command(pc.bin, "--config", s.ConfigPath)
	cmd.Env = append(pc.lc.HSM.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		notify.Close()
		pc.t.Fatal(err)
	}
	logf.Close()
	p := &proc{cmd: cmd, exited: make(chan struct{}), ready: make(chan struct{})}
	pc.mu.Lock()
	pc.procs[i] = p
	pc.mu.Unlock()
	go func() { cmd.Wait(); close(p.exited); notify.Close() }()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			if slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
				close(p.ready)
				return
			}
		}
	}()
}

// waitReady waits until signer i tells systemd it is ready (every share
// unsealed, the database open, every listener serving). A signer whose
// port was taken meanwhile (by another connection's ephemeral port, since
// the ports were chosen by binding port 0), or whose SoftHSM tripped over
// another process's (all tokens share one directory here), is started
// again.
func (pc *procCluster) waitReady(i int) {
	pc.t.Helper()
	limit := time.After(90 * time.Second)
	for {
		pc.mu.Lock()
		p := pc.procs[i]
		pc.mu.Unlock()
		select {
		case <-p.ready:
			return
		case <-p.exited:
			log := pc.logTail(i)
			if !strings.Contains(log, "address already in use") && !strings.Contains(log, "CKR_GENERAL_ERROR") {
				pc.t.Fatalf("signer %d exited while starting:\n%s", i+1, log)
			}
			pc.start(i)
		case <-limit:
			pc.t.Fatalf("signer %d not ready after 90s:\n%s", i+1, pc.logTail(i))
		}
	}
}

// kill stops signer i at once (SIGKILL): no graceful shutdown, as in a
// power cut.
func (pc *procCluster) kill(i int) {
	pc.mu.Lock()
	p := pc.procs[i]
	delete(pc.procs, i)
	pc.mu.Unlock()
	if p != nil {
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (pc *procCluster) killAll() {
	for i := range pc.lc.Signers {
		pc.kill(i)
	}
	if pc.t.Failed() {
		for i := range pc.lc.Signers {
			pc.t.Logf("signer %d log:\n%s", i+1, pc.logTail(i))
		}
	}
}

func (pc *procCluster) logTail(i int) string {
	b, _ := os.ReadFile(pc.logPath(i))
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// waitParticipant follows signer p's view of the ceremony until ok
// accepts it.
func waitParticipant(tb testing.TB, p *adminapi.Client, id string, limit time.Duration, ok func(*adminapi.CeremonyStatus) bool) *adminapi.CeremonyStatus {
	tb.Helper()
	return waitStatus(tb, p, id, limit, ok)
}

// killMidCeremony starts a 3-of-5 ceremony of validators in batches of 5
// at signer 1 and kills signer victim once it has finished batchesDone
// batches (and not all of them).
func (pc *procCluster) killMidCeremony(peers []*adminapi.Client, validators int, participantTimeout string, victim, batchesDone int) string {
	pc.t.Helper()
	req := startRequest(pc.t, validators, 3)
	req.BatchSize = 5
	req.ParticipantTimeout = participantTimeout
	id, err := peers[0].StartCeremony(context.Background(), req)
	if err != nil {
		pc.t.Fatal(err)
	}
	waitParticipant(pc.t, peers[victim], id, 2*time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return st.BatchesDone >= batchesDone && st.State == "running"
	})
	pc.kill(victim)
	return id
}

// TestCeremonyParticipantKilledAndRestartedResumes kills one of five
// signer processes in the middle of a ceremony (SIGKILL, nothing flushed
// on the way out) and starts it again: it resumes from its sealed
// snapshots, the others' retried messages reach it, and the ceremony
// completes with accounts every threshold subset can sign for.
func TestCeremonyParticipantKilledAndRestartedResumes(t *testing.T) {
	pc := newProcCluster(t, 5)
	_, peers := admin(t, pc.lc)
	const victim = 3
	id := pc.killMidCeremony(peers, 40, "2m", victim, 1)
	// The others retry meanwhile: they wait for the victim's messages.
	waitParticipant(t, peers[0], id, time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return slices.Contains(st.Waiting, api.Uint64(victim+1))
	})
	pc.start(victim)
	pc.waitReady(victim)

	st := waitCeremony(t, peers[0], id, 4*time.Minute)
	if st.Coordination.Stage != "complete" {
		t.Fatalf("ceremony ended %s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
	pc.checkResumed(victim, "key generation ceremony")
	keys := checkDeposits(t, pc.net, st.Coordination)
	for i := range pc.lc.Signers {
		if got := len(shareFiles(pc.lc, i)); got != len(keys) {
			t.Errorf("signer %d has %d share files, want %d", i+1, got, len(keys))
		}
		if snaps, staged := ceremonyFiles(pc.lc, i); len(snaps)+len(staged) != 0 {
			t.Errorf("signer %d kept %v %v", i+1, snaps, staged)
		}
	}
	checkEverySubsetSigns(t, pc.lc, pc.net, 3, keys)
}

// TestCeremonyParticipantKilledForGoodFailsCleanly kills one of five
// signer processes in the middle of a ceremony and leaves it down: past
// the participant timeout the coordinator aborts the ceremony everywhere,
// naming the missing participant; no signer keeps a share, a staged share
// or a snapshot of it. When the dead signer finally comes back, it learns
// of the abort and deletes its own snapshots too.
func TestCeremonyParticipantKilledForGoodFailsCleanly(t *testing.T) {
	pc := newProcCluster(t, 5)
	_, peers := admin(t, pc.lc)
	const victim = 3
	id := pc.killMidCeremony(peers, 60, "6s", victim, 2)

	st := waitCeremony(t, peers[0], id, 2*time.Minute)
	if st.Coordination.Stage != "aborted" || !strings.Contains(st.Coordination.Reason, "participant 4") {
		t.Fatalf("ceremony %s, reason %q; want aborted naming participant 4", st.Coordination.Stage, st.Coordination.Reason)
	}
	t.Logf("abort reason: %s", st.Coordination.Reason)
	live := append(append([]*adminapi.Client(nil), peers[:victim]...), peers[victim+1:]...)
	for _, p := range live {
		pst := waitParticipant(t, p, id, time.Minute, func(st *adminapi.CeremonyStatus) bool { return st.State == "aborted" })
		if !strings.Contains(pst.Reason, "participant 4") {
			t.Errorf("participant %s aborted for %q", p.ID(), pst.Reason)
		}
	}
	for i := range pc.lc.Signers {
		snaps, staged := ceremonyFiles(pc.lc, i)
		shares := shareFiles(pc.lc, i)
		if i == victim {
			// Its sealed snapshots and staged shares wait for its return,
			// when they are deleted: staged shares never survive a start.
			if len(shares) != 0 {
				t.Errorf("the dead signer has active shares %v", shares)
			}
			continue
		}
		if len(snaps)+len(staged)+len(shares) != 0 {
			t.Errorf("signer %d kept %v %v %v", i+1, snaps, staged, shares)
		}
	}

	pc.start(victim)
	pc.waitReady(victim)
	waitAborted(t, pc.lc, peers, id)
}

// TestCeremonyCoordinatorKilledAndRestartedCarriesOn kills the
// coordinating signer mid-ceremony: the other participants go on among
// themselves, and the restarted coordinator resumes both its own
// participant and the coordination from what it recorded, to completion.
func TestCeremonyCoordinatorKilledAndRestartedCarriesOn(t *testing.T) {
	pc := newProcCluster(t, 5)
	_, peers := admin(t, pc.lc)
	id := pc.killMidCeremony(peers, 30, "2m", 0, 1)
	// The others go on among themselves until they wait for the
	// coordinator's own messages.
	waitParticipant(t, peers[1], id, time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return slices.Contains(st.Waiting, api.Uint64(1))
	})
	pc.start(0)
	pc.waitReady(0)
	st := waitCeremony(t, peers[0], id, 4*time.Minute)
	if st.Coordination.Stage != "complete" {
		t.Fatalf("ceremony ended %s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
	pc.checkResumed(0, "key generation ceremony")
	keys := checkDeposits(t, pc.net, st.Coordination)
	for i := range pc.lc.Signers {
		if got := len(shareFiles(pc.lc, i)); got != len(keys) {
			t.Errorf("signer %d has %d share files, want %d", i+1, got, len(keys))
		}
	}
}

// checkResumed asserts that signer i resumed a ceremony from its sealed
// snapshots after its restart.
func (pc *procCluster) checkResumed(i int, what string) {
	pc.t.Helper()
	logs, _ := os.ReadFile(pc.logPath(i))
	if !bytes.Contains(logs, []byte("resumed "+what)) {
		pc.t.Fatalf("the restarted signer %d did not resume from its snapshots:\n%s", i+1, pc.logTail(i))
	}
}

// TestReshareRefreshSignerKilledAndRestartedResumes kills one of five
// signer processes in the middle of a refresh (SIGKILL, nothing flushed on
// the way out) and starts it again: it resumes from its sealed snapshots,
// the others' retried messages reach it, and the refresh completes: every
// share file of every signer is new, nothing of the refresh is left, and
// every threshold subset signs with the validator keys unchanged.
func TestReshareRefreshSignerKilledAndRestartedResumes(t *testing.T) {
	pc, keys := newProcClusterWithAccounts(t, 5, 30)
	_, peers := admin(t, pc.lc)
	before := make([]map[string][]byte, len(pc.lc.Signers))
	for i := range pc.lc.Signers {
		before[i] = shareContents(t, pc.lc, i)
	}
	const victim = 3
	id := startRefreshUntilABatchIsDone(t, peers, victim)
	pc.kill(victim)
	waitParticipant(t, peers[0], id, time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return slices.Contains(st.Waiting, api.Uint64(victim+1))
	})
	pc.start(victim)
	pc.waitReady(victim)

	st := waitCeremony(t, peers[0], id, 4*time.Minute)
	if st.Coordination.Stage != adminapi.StageComplete {
		t.Fatalf("refresh ended %s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
	pc.checkResumed(victim, "refresh ceremony")
	for i := range pc.lc.Signers {
		now := shareContents(t, pc.lc, i)
		if len(now) != len(keys) {
			t.Errorf("signer %d has %d share files, want %d", i+1, len(now), len(keys))
		}
		for name, b := range before[i] {
			if bytes.Equal(now[name], b) {
				t.Errorf("signer %d: share file %s unchanged by the refresh", i+1, name)
			}
		}
		waitParticipant(t, peers[i], id, time.Minute, func(st *adminapi.CeremonyStatus) bool { return st.State == adminapi.StateComplete })
		if left := refreshLeftovers(pc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
	}
	checkEverySubsetSigns(t, pc.lc, pc.net, 3, keys)
}
