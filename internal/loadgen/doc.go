// Package loadgen drives a Remote Signing API endpoint (a Rampart
// coordinator, rampart-gateway, or anything Web3Signer-compatible) with
// synthetic, valid and slashing-safe attestation requests, and measures
// it: latencies, percentiles and throughput, next to a raw local BLS
// signature measured in the same run as the denominator. It draws a
// latency histogram and a latency-over-time chart as SVG.
//
// Slashing safety: every request is an attestation whose target epoch is
// taken from one cursor that only moves forward, starting at the
// network's current wall-clock epoch (plus an offset for a later run
// against the same signers), with source = target - 1 and data fixed by
// the target epoch: no key ever signs two different attestations for one
// target, and no two of its attestations surround each other. A signer
// refuses targets beyond its horizon (current epoch + its
// slashing.future_epochs): a plan that needs more epochs than
// [Options.EpochsAhead] allows is refused before anything is sent.
//
// Every signature received is verified afterwards (internal/bls
// BatchVerify), outside the timed windows; a run with an invalid
// signature fails.
package loadgen
