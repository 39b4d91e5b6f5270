package beacon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// maxHealthBody bounds the answers of the small endpoints the health check
// reads (syncing, genesis, fork schedule, spec); real ones are a few KiB.
const maxHealthBody = 1 << 20

// errWrongNetwork marks an identity check that found another chain.
var errWrongNetwork = errors.New("node serves another network")

// checkAll checks every node at once and waits for all.
func (c *Client) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.checkNode(ctx, n)
		}()
	}
	wg.Wait()
}

// syncing is the answer of /eth/v1/node/syncing, with el_offline, which
// go-eth2-client's SyncState lacks.
type syncing struct {
	HeadSlot     string `json:"head_slot"`
	SyncDistance string `json:"sync_distance"`
	IsSyncing    bool   `json:"is_syncing"`
	IsOptimistic bool   `json:"is_optimistic"`
	ELOffline    bool   `json:"el_offline"`
}

// checkNode updates one node's state. The chain identity is checked on
// every round, from fresh answers rather than go-eth2-client's cache, so a
// node restarted on another network is noticed at the next round.
func (c *Client) checkNode(ctx context.Context, n *node) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	defer func() {
		n.mu.Lock()
		n.checkedAt = c.now()
		n.mu.Unlock()
	}()
	var s syncing
	if err := c.getJSON(ctx, n, "/eth/v1/node/syncing", &s); err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.setState(n, StateUnreachable, err.Error())
		}
		return
	}
	head, err1 := strconv.ParseUint(s.HeadSlot, 10, 64)
	dist, err2 := strconv.ParseUint(s.SyncDistance, 10, 64)
	if err1 != nil || err2 != nil {
		c.setState(n, StateUnreachable, "malformed /eth/v1/node/syncing answer")
		return
	}
	if err := c.checkIdentity(ctx, n); err != nil {
		if errors.Is(err, errWrongNetwork) {
			c.setState(n, StateWrongNetwork, err.Error())
		} else {
			c.setState(n, StateUnreachable, err.Error())
		}
		return
	}
	n.mu.Lock()
	n.headSlot = phase0.Slot(head)
	n.mu.Unlock()
	c.metrics.head(n.name, head)
	switch {
	case s.IsSyncing && dist > c.cfg.MaxSyncDistance:
		c.setState(n, StateSyncing, fmt.Sprintf("syncing, %d slots behind", dist))
	case s.IsOptimistic:
		c.setState(n, StateSyncing, "optimistic (head not verified by the execution client)")
	case s.ELOffline:
		c.setState(n, StateSyncing, "execution client offline")
	case c.suspect(n):
		reason := "a request failed within the last minute"
		if st := n.status(); st.State == StateDegraded && st.Reason != "" {
			reason = st.Reason // the failure that degraded it
		}
		c.setState(n, StateDegraded, reason)
	default:
		c.setState(n, StateHealthy, "")
	}
}

// checkIdentity compares the node's chain with the configured network:
// genesis validators root, genesis fork version and time, every fork the
// node schedules, slots per epoch and slot duration.
func (c *Client) checkIdentity(ctx context.Context, n *node) error {
	var g apiv1.Genesis
	if err := c.getJSON(ctx, n, "/eth/v1/beacon/genesis", &g); err != nil {
		return err
	}
	var forks []*phase0.Fork
	if err := c.getJSON(ctx, n, "/eth/v1/config/fork_schedule", &forks); err != nil {
		return err
	}
	var spec map[string]any
	if err := c.getJSON(ctx, n, "/eth/v1/config/spec", &spec); err != nil {
		return err
	}
	if err := sameNetwork(c.net, &g, forks, spec); err != nil {
		return fmt.Errorf("%w: %w", errWrongNetwork, err)
	}
	return nil
}

// sameNetwork reports the first way the node's chain differs from net.
func sameNetwork(net *network.Network, g *apiv1.Genesis, forks []*phase0.Fork, spec map[string]any) error {
	if g.GenesisValidatorsRoot != net.GenesisValidatorsRoot() {
		return fmt.Errorf("genesis validators root %#x, want %#x", g.GenesisValidatorsRoot, net.GenesisValidatorsRoot())
	}
	if g.GenesisForkVersion != net.GenesisForkVersion() {
		return fmt.Errorf("genesis fork version %#x, want %#x", g.GenesisForkVersion, net.GenesisForkVersion())
	}
	if want := net.GenesisTime(); !want.IsZero() && !g.GenesisTime.Equal(want) {
		return fmt.Errorf("genesis time %s, want %s", g.GenesisTime.UTC().Format(time.RFC3339), want.UTC().Format(time.RFC3339))
	}
	if err := compareForks(net, forks); err != nil {
		return err
	}
	if got, err := specUint(spec, "SLOTS_PER_EPOCH"); err != nil {
		return err
	} else if got != net.Preset().SlotsPerEpoch {
		return fmt.Errorf("SLOTS_PER_EPOCH %d, want %d", got, net.Preset().SlotsPerEpoch)
	}
	ms, errMS := specUint(spec, "SLOT_DURATION_MS")
	secs, errSecs := specUint(spec, "SECONDS_PER_SLOT")
	want := uint64(net.SlotDuration().Milliseconds())
	switch {
	case errMS == nil && ms != want:
		return fmt.Errorf("SLOT_DURATION_MS %d, want %d", ms, want)
	case errSecs == nil && secs*1000 != want:
		return fmt.Errorf("SECONDS_PER_SLOT %d, want %d ms", secs, want)
	case errMS != nil && errSecs != nil:
		return errors.New("spec gives neither SLOT_DURATION_MS nor SECONDS_PER_SLOT")
	}
	return nil
}

// compareForks compares a node's fork schedule with the network's: every
// fork the node schedules must be the network's fork at that epoch, and
// every fork the network schedules must be on the node's list.
func compareForks(net *network.Network, forks []*phase0.Fork) error {
	if len(forks) == 0 {
		return errors.New("empty fork schedule")
	}
	seen := map[phase0.Version]bool{}
	for _, f := range forks {
		if f == nil {
			return errors.New("fork schedule has a null entry")
		}
		if f.Epoch == network.FarFutureEpoch {
			continue
		}
		nf, ok := forkByVersion(net, f.CurrentVersion)
		if !ok || nf.Epoch != f.Epoch || nf.PreviousVersion != f.PreviousVersion {
			return fmt.Errorf("node schedules fork %#x at epoch %d (previous %#x), which this network does not", f.CurrentVersion, f.Epoch, f.PreviousVersion)
		}
		seen[f.CurrentVersion] = true
	}
	for _, nf := range net.Forks()[1:] {
		if !seen[nf.Version] {
			return fmt.Errorf("node does not schedule %s (version %#x at epoch %d)", nf.Name, nf.Version, nf.Epoch)
		}
	}
	return nil
}

func forkByVersion(net *network.Network, v phase0.Version) (network.Fork, bool) {
	for _, f := range net.Forks() {
		if f.Version == v {
			return f, true
		}
	}
	return network.Fork{}, false
}

// specUint reads a decimal value of the spec, served as a string.
func specUint(spec map[string]any, key string) (uint64, error) {
	s, ok := spec[key].(string)
	if !ok {
		return 0, fmt.Errorf("spec has no %s", key)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("spec %s: %q is not a number", key, s)
	}
	return v, nil
}

// getJSON GETs path from a node and decodes the "data" member of the
// answer into out.
func (c *Client) getJSON(ctx context.Context, n *node, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base.String()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		// The URL may hold credentials: report the path only.
		return fmt.Errorf("GET %s: %w", path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if len(body) > maxHealthBody {
		return fmt.Errorf("GET %s: answer larger than %d bytes", path, maxHealthBody)
	}
	// 206 is /eth/v1/node/health's "syncing"; other endpoints answer 200.
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Data) == 0 {
		return fmt.Errorf("GET %s: not a {\"data\": ...} JSON answer", path)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
