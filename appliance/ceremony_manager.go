package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/tss"
)

// ceremonyManager runs this signer's side of every ceremony it joined and
// the coordination of those it coordinates.
type ceremonyManager struct {
	a   *Appliance
	dir string

	mu     sync.Mutex
	byID   map[[32]byte]*ceremony
	coords map[[32]byte]*coordination
	// starting is set while coordinate starts a ceremony, so that two
	// start requests at once cannot both pass the one-at-a-time check.
	starting bool
	// ctx is the ceremonies' context: made by load, so that requests
	// served before run's goroutine is scheduled find the service ready,
	// and cancelled when run's context ends.
	ctx      context.Context
	cancel   context.CancelFunc
	stopping bool
	// loaded and loadedCoords are what load found on disk, for run to
	// resume.
	loaded       []*ceremony
	loadedCoords []*coordination
	wg           sync.WaitGroup
}

func newCeremonyManager(a *Appliance) *ceremonyManager {
	return &ceremonyManager{a: a, byID: map[[32]byte]*ceremony{}, coords: map[[32]byte]*coordination{}}
}

// spawn runs f in the background under the manager's context, or reports
// that the manager is not running.
func (m *ceremonyManager) spawn(f func(ctx context.Context)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.stopping {
		return false
	}
	ctx := m.ctx
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f(ctx)
	}()
	return true
}

// peer returns the administrative client of participant id.
func (m *ceremonyManager) peer(id tss.ID) *adminapi.Client {
	return adminapi.NewClient(m.a.peers[id])
}

// load reads every ceremony this signer took part in from its data
// directory, without replaying anything: run resumes them. It runs at
// start-up, before the listeners serve, so that a ceremony on disk is
// never mistaken for a new one.
func (m *ceremonyManager) load() error {
	m.mu.Lock()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.Unlock()
	m.dir = filepath.Join(m.a.cfg.DataDir, "ceremonies")
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return fmt.Errorf("ceremonies directory: %w", err)
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("ceremonies directory: %w", err)
	}
	for _, e := range entries {
		id, err := adminapi.ParseCeremonyID(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		c, err := m.loadCeremony(id, filepath.Join(m.dir, e.Name()))
		if errors.Is(err, errNotCeremony) {
			// A crash between creating the directory and writing the plan:
			// nothing of the ceremony happened here.
			m.a.log.Warn("removing an empty ceremony directory", "ceremony", e.Name())
			os.RemoveAll(filepath.Join(m.dir, e.Name()))
			continue
		}
		if err != nil {
			return fmt.Errorf("ceremony %s: %w", e.Name(), err)
		}
		m.byID[id] = c
		m.loaded = append(m.loaded, c)
		co, err := loadCoordination(m, c)
		if err != nil {
			return fmt.Errorf("ceremony %s: %w", e.Name(), err)
		}
		if co != nil {
			m.coords[id] = co
			m.loadedCoords = append(m.loadedCoords, co)
		}
	}
	return nil
}

// run resumes the loaded ceremonies and coordinations and enforces
// deadlines until ctx ends; then it waits for every ceremony goroutine and
// zeroes every secret the ceremonies hold in memory.
func (m *ceremonyManager) run(ctx context.Context) {
	m.mu.Lock()
	mctx, loaded, coords := m.ctx, m.loaded, m.loadedCoords
	m.loaded, m.loadedCoords = nil, nil
	m.mu.Unlock()
	if mctx == nil {
		return // load never ran: the signer did not start
	}
	for _, c := range loaded {
		m.spawn(c.resume)
	}
	for _, co := range coords {
		m.spawn(co.run)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.stopping = true
			m.cancel()
			m.mu.Unlock()
			m.wg.Wait()
			for _, c := range m.all() {
				c.zero()
			}
			return
		case <-t.C:
			for _, c := range m.all() {
				c.checkDeadline(mctx)
			}
		}
	}
}

func (m *ceremonyManager) all() []*ceremony {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*ceremony, 0, len(m.byID))
	for _, c := range m.byID {
		out = append(out, c)
	}
	return out
}

func (m *ceremonyManager) get(id [32]byte) (*ceremony, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	return c, ok
}

func (m *ceremonyManager) coordination(id [32]byte) *coordination {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.coords[id]
}

// join makes this signer a participant of plan (idempotent). The caller
// has authenticated the coordinator.
func (m *ceremonyManager) join(plan *ceremonyPlan) (*ceremony, *apiError) {
	id := plan.ID()
	m.mu.Lock()
	if m.ctx == nil || m.stopping {
		m.mu.Unlock()
		return nil, refuse(http.StatusServiceUnavailable, "unavailable", "the ceremony service is not running")
	}
	if c, ok := m.byID[id]; ok {
		m.mu.Unlock()
		if st, reason := c.current(); st == adminapi.StateAborting || st == adminapi.StateAborted {
			return nil, refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
		}
		return c, nil
	}
	if err := plan.validate(m.a, m.a.now()); err != nil {
		m.mu.Unlock()
		return nil, refuse(http.StatusBadRequest, "bad_request", "plan: %v", err)
	}
	dir := filepath.Join(m.dir, adminapi.CeremonyID(id))
	c := m.newCeremony(id, plan, dir)
	c.state = adminapi.StateRunning
	b, err := json.MarshalIndent(plan, "", "  ")
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		err = files.WriteDurable(filepath.Join(dir, planFile), b, 0o600)
	}
	if err != nil {
		m.mu.Unlock()
		os.RemoveAll(dir)
		return nil, refuse(http.StatusServiceUnavailable, "unavailable", "recording the ceremony: %v", err)
	}
	m.byID[id] = c
	m.mu.Unlock()
	m.a.log.Info("joined key generation ceremony", "ceremony", adminapi.CeremonyID(id), "coordinator", plan.Coordinator,
		"validators", plan.Validators, "threshold", plan.Threshold, "batches", plan.batches())
	m.spawn(c.startBatches)
	return c, nil
}

// tombstone records a ceremony this signer never joined as aborted, so
// that a late join is refused.
func (m *ceremonyManager) tombstone(id [32]byte, reason string) *apiError {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[id]; ok {
		return nil
	}
	c := m.newCeremony(id, nil, filepath.Join(m.dir, adminapi.CeremonyID(id)))
	c.state, c.reason = adminapi.StateAborted, reason
	close(c.ended)
	if err := c.writeRecord(ceremonyRecord{State: adminapi.StateAborted, Reason: reason}); err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "recording the abort: %v", err)
	}
	m.byID[id] = c
	return nil
}
