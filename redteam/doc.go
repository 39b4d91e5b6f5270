// Package redteam is Rampart's adversarial suite: tests that attack loopback
// clusters of real signers (SoftHSM through PKCS#11, real TLS, real bbolt
// files) the way an attacker on the network, a stolen certificate or a
// crash would, and count what got through. It has no code of its own; the
// tests carry the build tag redteam so that `go test ./...` (make test) does
// not run them, and `make redteam` runs them, vets and staticchecks them
// with the tag, and prints a summary table at the end.
//
//	make redteam                                     # all attacks, about 2 minutes on 2 cores
//	go test -tags redteam -count=1 -v ./redteam/     # the same without the linters
//	go test -tags redteam -count=1 -v -run Kill ./redteam/
//
// REDTEAM_SEED replays a run's random choices (kill points, victims,
// roots; the seed is printed with the summary), REDTEAM_KEEP=1 keeps the
// clusters' directories and signer logs (kept anyway when a test fails),
// REDTEAM_LOG=1 prints the in-process signers' logs, and REDTEAM_BIN names
// a directory holding rampart-signer and rampartctl to use instead of
// building them. The suite needs no -race: it counts outcomes against real
// signers under real timing, and make test runs every package with the
// race detector.
//
// # Clusters
//
// A 3-of-5 and a 2-of-3 cluster run in the test process (appliance.New on
// localcluster's provisioning), for the attacks that need no crash; a 3-of-5
// cluster of rampart-signer processes (built from ./cmd/rampart-signer,
// started and SIGKILLed through internal/proc) for the kill -9 attacks; and
// a 1-of-1 signer process, started again and again with broken
// configurations, for the exit-status and start-up holes. The network's
// genesis time is fixed (MIN_GENESIS_TIME 1600000000), so today's
// wall-clock epoch is far above every epoch the attacks use.
//
// # What is counted
//
// A conflicting pair (double vote, surround, double proposal) is
// "slashable and fully signed" when both messages got a full signature that
// verifies under the validator's key, however the attacker obtained it:
// from a coordinator, or recovered from t valid partial signatures
// collected from the participants. That count must be 0 everywhere. Each
// attack prints its own table; TestMain prints the summary (attempts,
// slashable pairs fully signed, refusals by status) after the last test.
//
// # Holes of issue 13 that wait for their fixes
//
// Tests named TestHole<item>... state what must be true once item <item> of
// issue 13 is fixed, and fail on 108c238. They are skipped unless the
// environment variable REDTEAM_EXPECT_FIXED lists their item: "all", or
// item numbers separated by commas ("1,2,3"). `make redteam` passes
// REDTEAM_EXPECT_FIXED from the Makefile variable of the same name, empty
// until the fixes are merged.
//
// # Hole tests the lead adds once the fixes define their configuration
//
// These need configuration fields or commands that do not exist on 108c238,
// so they cannot be written black-box yet. Each names what it must show:
//
//   - TestHole1AdminRequestNeedsTokenAtEverySigner: a participant's
//     administrative endpoints (stage, activate, discard, DELETE, ceremony
//     start) refuse the admin certificate with a wrong bearer token and
//     accept it with the right one, at each signer, not only at the one that
//     fans out.
//   - TestHole1RemovalDisablesAtOnceDestroysAfterGrace: after an accepted
//     removal the key signs nothing (404) at once, the sealed share file is
//     still there, status and metrics show the pending destruction, and it
//     is gone only after the grace period (an injected clock, or a grace
//     period of a few seconds in the test configuration).
//   - TestHole1CancelledRemovalSignsAgain: cancelling a pending removal
//     within the grace period lets the key sign again with its full
//     slashing history.
//   - TestHole1BothRolesNeedExplicitConsent: a name in both admin.clients
//     and cluster.participants starts only with the explicit override the
//     fix adds (TestHole1SignerNameCannotBeAdministrator checks the refusal
//     without it).
//   - TestHole3ImportBeyondWallClockRefused: an EIP-3076 import (rampartctl
//     slashing import, and the stage and keymanager paths) holding a block
//     or attestation beyond the wall-clock bound is refused with an error
//     naming the record.
//   - TestHole3AllowanceConfigurable: the allowance beyond the current
//     epoch follows its configuration field (default 1 epoch).
//   - TestHole4ConnectionAndInFlightCaps: thousands of connections from one
//     client, and from a client the policy denies everything, stay under
//     the per-listener connection cap and the per-client in-flight cap, with
//     the signer's descriptors and memory bounded (redteam/slowclient, the
//     listeners fix, owns these).
//   - TestHole6AuditRecordsDurableWithSlashingRecords: the audit record of
//     a released partial is on disk when the slashing record is (kill -9
//     right after a 200: both present at restart).
//   - TestHole6AuditRewriteDetected: a rewritten audit log (records
//     changed, chain recomputed) is detected by the HSM-keyed checkpoint.
//   - TestHole7AuditRotationKeepsSigning: with a small rotation size the
//     log rotates under a signing stream, the chain verifies across files,
//     retention removes old files, and no request is refused.
//   - TestHole7DiskHeadroomInHealth: disk headroom is a metric, and health
//     turns degraded below the configured headroom.
package redteam
