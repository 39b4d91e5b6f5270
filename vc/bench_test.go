package vc_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/internal/coordinator"
)

// BenchmarkEpoch runs rampart-vc for whole epochs (8 slots of 2 s, Electra)
// over a fake beacon node and an in-process 3-of-5 cluster whose signers
// are asked three at a time, with duties shaped as a large operator's on
// mainnet (committees of 512, no sync committee seat). One iteration is
// one epoch of wall-clock time. It reports:
//
//   - attestation-ms: the mean time from the attestation moment (the
//     slot's head event, or a third into the slot) to the publication of
//     the slot's attestations, fake signers' work included;
//   - vc-cpu-ms/validator/epoch: the process's CPU time less the fake
//     signers' (measured on their threads), per validator and epoch: the
//     client's own cost (duties, requests, recovery and verification of
//     every signature), the fake beacon node's small share included;
//   - signer-cpu-ms/validator/epoch: the three signers' combined cost.
func BenchmarkEpoch(b *testing.B) {
	for _, n := range []int{64, 1024} {
		b.Run(fmt.Sprintf("validators=%d", n), func(b *testing.B) {
			o := defaultEnv()
			o.validators, o.slotsPerEpoch, o.mainnetDuties = n, 8, true
			o.coordinator = func(c *coordinator.Config) { c.HedgeDelay = time.Minute }
			e := newEnv(b, o)
			_, reg, _, stop := e.start(b, nil)
			spe := phase0.Slot(o.slotsPerEpoch)
			// Warm up: the first whole epoch fetches duties and selection
			// proofs like every other, but starts caches and connections.
			first := (e.slotNow()/spe + 2) * spe
			waitUntil(b, e, first)
			cpu0, signers0 := processCPU(b), e.cluster.signerCPU()
			sum0, count0 := histogram(b, reg, "attestation")
			b.ResetTimer()
			waitUntil(b, e, first+phase0.Slot(b.N)*spe)
			b.StopTimer()
			cpu, signers := processCPU(b)-cpu0, time.Duration(e.cluster.signerCPU()-signers0)
			sum, count := histogram(b, reg, "attestation")
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			per := float64(n * b.N)
			b.ReportMetric(1000*(sum-sum0)/float64(count-count0), "attestation-ms")
			b.ReportMetric(float64((cpu-signers).Microseconds())/1000/per, "vc-cpu-ms/validator/epoch")
			b.ReportMetric(float64(signers.Microseconds())/1000/per, "signer-cpu-ms/validator/epoch")
		})
	}
}

func waitUntil(b *testing.B, e *env, s phase0.Slot) {
	b.Helper()
	for e.slotNow() < s {
		time.Sleep(20 * time.Millisecond)
	}
}

// processCPU is the process's user and system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// histogram returns the sum and count of rampart_vc_duty_seconds for a
// duty.
func histogram(b *testing.B, reg *prometheus.Registry, duty string) (float64, uint64) {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rampart_vc_duty_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "duty" && l.GetValue() == duty {
					return m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0, 0
}
