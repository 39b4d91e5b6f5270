package appliance

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// quorumReport is the quorum section of /healthcheck: whether enough
// signers are ready for the cluster to sign. It never changes this
// signer's own readiness (status): a signer that can sign stays ready
// while its peers are away, so that the cluster recovers as soon as they
// come back, and a load balancer does not take every signer out at once.
type quorumReport struct {
	// Status is UP when Ready >= Threshold, DOWN otherwise, UNKNOWN
	// before the first round.
	Status    string       `json:"status"`
	Ready     int          `json:"ready"`
	Threshold int          `json:"threshold"`
	Signers   []peerReport `json:"signers"`
	// Checked is when the round ended (RFC 3339).
	Checked string `json:"checked,omitempty"`
}

// peerReport is one signer as this one last saw it.
type peerReport struct {
	ID        uint64 `json:"id"`
	Self      bool   `json:"self,omitempty"`
	Reachable bool   `json:"reachable"`
	Ready     bool   `json:"ready"`
	Error     string `json:"error,omitempty"`
}

// quorumState is the last round of watchCluster.
type quorumState struct {
	mu sync.Mutex
	r  *quorumReport
}

func (q *quorumState) get() *quorumReport {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.r == nil {
		return nil
	}
	c := *q.r
	c.Signers = append([]peerReport(nil), q.r.Signers...)
	return &c
}

func (q *quorumState) set(r *quorumReport) {
	q.mu.Lock()
	q.r = r
	q.mu.Unlock()
}

// maxPeerError bounds a peer's error as reported.
const maxPeerError = 300

// threshold is the number of ready signers the cluster needs: the highest
// threshold of this signer's accounts, or, with none, the keymanager's
// threshold or a strict majority.
func (a *Appliance) threshold() int {
	if a.accounts != nil {
		if t := a.accounts.maxThreshold(); t > 0 {
			return t
		}
	}
	if k := a.cfg.Keymanager; k != nil && k.Threshold > 0 {
		return k.Threshold
	}
	return len(a.cfg.Cluster.Participants)/2 + 1
}

// checkCluster asks every other signer's /healthcheck at once, each under
// cluster.timeout, counts this signer by its own readiness, and records
// the quorum.
func (a *Appliance) checkCluster(ctx context.Context) *quorumReport {
	ps := a.cfg.Cluster.Participants
	out := make([]peerReport, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		out[i] = peerReport{ID: p.ID}
		if p.ID == a.cfg.Node.ID {
			_, ok := a.health.report()
			out[i] = peerReport{ID: p.ID, Self: true, Reachable: true, Ready: ok}
			if !ok {
				out[i].Error = "not ready (see checks)"
			}
			continue
		}
		c := a.peers[tss.ID(p.ID)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, a.cfg.Cluster.Timeout)
			defer cancel()
			_, err := c.Do(cctx, peer.Request{Method: "GET", Path: "/healthcheck"})
			switch {
			case err == nil:
				out[i].Reachable, out[i].Ready = true, true
			case peer.Status(err) != 0:
				out[i].Reachable = true
				out[i].Error = shorten(err.Error(), maxPeerError)
			default:
				out[i].Error = shorten(err.Error(), maxPeerError)
			}
		}()
	}
	wg.Wait()
	r := &quorumReport{Threshold: a.threshold(), Signers: out, Checked: a.now().UTC().Format(time.RFC3339)}
	for _, p := range out {
		if p.Ready {
			r.Ready++
		}
		id := strconv.FormatUint(p.ID, 10)
		a.metrics.peerReachable.WithLabelValues(id).Set(b2f(p.Reachable))
		a.metrics.peerReady.WithLabelValues(id).Set(b2f(p.Ready))
	}
	r.Status = "DOWN"
	if r.Ready >= r.Threshold {
		r.Status = "UP"
	}
	a.metrics.readySigners.Set(float64(r.Ready))
	a.metrics.threshold.Set(float64(r.Threshold))
	a.metrics.quorum.Set(b2f(r.Ready >= r.Threshold))
	sort.Slice(r.Signers, func(i, j int) bool { return r.Signers[i].ID < r.Signers[j].ID })
	return r
}

// watchCluster checks the cluster every cluster.probe_interval and logs
// when the quorum is lost or regained.
//
// The first round is one interval after the signer is ready: at start
// the other signers are usually starting too, and the new connections
// would compete with the start's own work.
func (a *Appliance) watchCluster(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-a.ready:
	}
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.opts.After(a.cfg.Cluster.ProbeInterval):
		}
		r := a.checkCluster(ctx)
		if ctx.Err() != nil {
			return
		}
		a.quorum.set(r)
		if r.Status != last {
			if r.Status == "UP" {
				a.log.Info("cluster quorum", "ready", r.Ready, "threshold", r.Threshold)
			} else {
				a.log.Error("cluster quorum lost: the cluster cannot sign", "ready", r.Ready, "threshold", r.Threshold)
			}
			last = r.Status
		}
	}
}

// dbProbeAnchor is the slashing database anchor the health check writes.
const dbProbeAnchor = "rampart-health"

// checkDB proves the slashing database takes writes: it sets an anchor
// and waits for its durable commit, under storage.check_interval, so that
// a closed or failed database, or a wedged disk, shows as DOWN rather than
// only at the next signing request.
func (a *Appliance) checkDB(ctx context.Context) error {
	db := a.db
	if db == nil {
		return fmt.Errorf("slashing database not open")
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Storage.CheckInterval)
	defer cancel()
	v := binary.BigEndian.AppendUint64(nil, uint64(a.now().Unix()))
	if err := db.SetAnchor(dbProbeAnchor, v); err != nil {
		return fmt.Errorf("slashing database: %w", err)
	}
	if err := db.Flush(ctx); err != nil {
		return fmt.Errorf("slashing database takes no writes: %w", err)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// shorten cuts s to at most n bytes.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
