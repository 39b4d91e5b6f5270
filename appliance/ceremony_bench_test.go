package appliance_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
)

// BenchmarkCeremony runs networked key generation through five
// rampart-signer processes on this machine (3-of-5, real TLS, SoftHSM,
// bbolt, sealed snapshots after every step), from the operator's start
// request to verified deposit data, and reports how long each stage took.
// The 1,000-validator case is the goal: under 60 s.
func BenchmarkCeremony(b *testing.B) {
	for _, validators := range []int{100, 1000} {
		b.Run(fmt.Sprintf("3of5/%d-validators", validators), func(b *testing.B) {
			pc := newProcCluster(b, 5)
			_, peers := admin(b, pc.lc)
			stages := map[adminapi.CoordinationStage]time.Duration{}
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				id, err := peers[0].StartCeremony(context.Background(), startRequest(b, validators, 3))
				if err != nil {
					b.Fatal(err)
				}
				timeStages(b, peers[0], id, start, 10*time.Minute, stages)
				if total := time.Since(start); b.N == 1 {
					b.Logf("%d validators 3-of-5: %s (%.1f validators/s)", validators, total.Round(time.Millisecond), float64(validators)/total.Seconds())
				}
			}
			for _, s := range []adminapi.CoordinationStage{adminapi.StageGenerating, adminapi.StageActivating, adminapi.StageDepositing, adminapi.StageFinalizing} {
				b.ReportMetric(stages[s].Seconds()/float64(b.N), string(s)+"-s/op")
			}
			b.ReportMetric(float64(validators)*float64(b.N)/b.Elapsed().Seconds(), "validators/s")
		})
	}
}

// BenchmarkReshareRefresh refreshes every share of validators through five
// in-process signers on this machine (3-of-5, real TLS, SoftHSM, bbolt,
// sealed snapshots after every step), from the operator's start request to
// the old shares destroyed everywhere, and reports how long each stage
// took.
func BenchmarkReshareRefresh(b *testing.B) {
	for _, validators := range []int{100, 1000} {
		b.Run(fmt.Sprintf("3of5/%d-validators", validators), func(b *testing.B) {
			tc := newTestCluster(b, 5, 3, validators)
			_, peers := admin(b, tc.lc)
			stages := map[adminapi.CoordinationStage]time.Duration{}
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh})
				if err != nil {
					b.Fatal(err)
				}
				timeStages(b, peers[0], id, start, 20*time.Minute, stages)
				if total := time.Since(start); b.N == 1 {
					b.Logf("%d validators 3-of-5 refreshed: %s (%.1f validators/s)", validators, total.Round(time.Millisecond), float64(validators)/total.Seconds())
				}
			}
			for _, s := range []adminapi.CoordinationStage{adminapi.StageGenerating, adminapi.StageActivating, adminapi.StageFinalizing} {
				b.ReportMetric(stages[s].Seconds()/float64(b.N), string(s)+"-s/op")
			}
			b.ReportMetric(float64(validators)*float64(b.N)/b.Elapsed().Seconds(), "validators/s")
		})
	}
}

// timeStages follows ceremony id at its coordinator p, started at start,
// until it completes (an abort fails the benchmark), adding how long each
// coordination stage took to stages. Each stage change is seen as it
// happens: the signer answers the status once it changed.
// BenchmarkReshareRedistribute times the example on signer
// processes over mutual TLS: 3-of-5 on signers 1 to 5 to 5-of-7 on all
// seven (the next iteration goes back).
func BenchmarkReshareRedistribute(b *testing.B) {
	for _, validators := range []int{100, 1000} {
		b.Run(fmt.Sprintf("3of5-to-5of7/%d-validators", validators), func(b *testing.B) {
			pc, _ := newProcClusterDealt(b, 7, func(lc *localcluster.Cluster) ([]api.PublicKey, error) {
				return localcluster.DealMembers(context.Background(), lc.Configs()[:5], validators, 3, rand.Reader, 0)
			})
			_, peers := admin(b, pc.lc)
			stages := map[adminapi.CoordinationStage]time.Duration{}
			configs := []struct {
				members   []api.Uint64
				threshold api.Uint64
			}{{[]api.Uint64{1, 2, 3, 4, 5, 6, 7}, 5}, {[]api.Uint64{1, 2, 3, 4, 5}, 3}}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				to := configs[i%2]
				i++
				start := time.Now()
				id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRedistribute, NewMembers: to.members, NewThreshold: to.threshold})
				if err != nil {
					b.Fatal(err)
				}
				timeStages(b, peers[0], id, start, 20*time.Minute, stages)
				if total := time.Since(start); b.N == 1 {
					b.Logf("%d validators redistributed to %d-of-%d: %s (%.1f validators/s)", validators, to.threshold, len(to.members), total.Round(time.Millisecond), float64(validators)/total.Seconds())
				}
			}
			for _, s := range []adminapi.CoordinationStage{adminapi.StageGenerating, adminapi.StageActivating, adminapi.StageFinalizing} {
				b.ReportMetric(stages[s].Seconds()/float64(b.N), string(s)+"-s/op")
			}
			b.ReportMetric(float64(validators)*float64(b.N)/b.Elapsed().Seconds(), "validators/s")
		})
	}
}

func timeStages(b *testing.B, p *adminapi.Client, id string, start time.Time, limit time.Duration, stages map[adminapi.CoordinationStage]time.Duration) {
	b.Helper()
	stage, since := adminapi.StageGenerating, start
	waitStatus(b, p, id, limit, func(st *adminapi.CeremonyStatus) bool {
		if st.Coordination == nil {
			return false
		}
		if s := st.Coordination.Stage; s != stage {
			now := time.Now()
			stages[stage] += now.Sub(since)
			stage, since = s, now
		}
		if stage == adminapi.StageAborted {
			b.Fatalf("ceremony %s aborted: %s", id, st.Coordination.Reason)
		}
		return stage == adminapi.StageComplete
	})
}
