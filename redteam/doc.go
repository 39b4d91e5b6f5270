// Package redteam is Rampart's adversarial suite: tests that attack loopback
// clusters of real signers (SoftHSM through PKCS#11, real TLS, real bbolt
// files) the way an attacker on the network, a stolen certificate, an
// intruder with the signer's files but not its HSM, or a crash would, and
// count what got through. It has no code of its own; the tests carry the
// build tag redteam so that `go test ./...` (make test) does not run them,
// and `make redteam` vets and staticchecks them with the tag, runs this
// package and redteam/slowclient one after the other (-p 1), and prints a
// summary table at the end.
//
//	make redteam                                       # everything, about 2 minutes on 2 cores
//	go test -tags redteam -p 1 -count=1 -v ./redteam/...  # the same without the linters
//	go test -tags redteam -count=1 -v -run Hole6 ./redteam/
//
// Every test runs every time: there is no switch to skip one. A failure is
// a regression of the signer, or of the suite against a changed format
// (the audit log's is read here independently of appliance/audit).
//
// REDTEAM_SEED replays a run's random choices (kill points, victims,
// roots; the seed is printed with the summary), REDTEAM_KEEP=1 keeps the
// clusters' directories and signer logs (kept anyway when a test fails),
// REDTEAM_LOG=1 prints the in-process signers' logs, and REDTEAM_BIN names
// a directory holding rampart-signer and rampartctl to use instead of
// building them (redteam/slowclient takes RAMPART_SIGNER_BIN). The suite
// needs no -race: it counts outcomes against real signers under real
// timing, and make test runs every package with the race detector.
//
// # Clusters
//
// Started on first use and shared by the tests:
//
//   - a 3-of-5 and a 2-of-3 cluster in the test process (appliance.New on
//     localcluster's provisioning; the 2-of-3 with the keymanager API on),
//     for the attacks that need no crash;
//   - a 2-of-3 cluster in the test process whose clock and free disk space
//     the tests move (appliance.Options.Now, After and StatFS): a removed
//     share's grace period of 24 hours passes in a moment, a disk fills;
//   - a 3-of-5 cluster of rampart-signer processes (built from
//     ./cmd/rampart-signer, started and SIGKILLed through internal/proc),
//     for kill -9 and the processes' memory and descriptors;
//   - a 1-of-1 signer process, started again and again with broken or
//     changed configurations (written as variant-*.yaml beside its own):
//     exit statuses, token files, the audit log's rotation and tampering,
//     listener caps, the wall-clock allowance.
//
// In-process signers get their pre-bound listeners only once they serve;
// until then a connection is closed at once, as an unbound port refuses
// it, so that a signer's first discovery of peers still starting fails
// fast instead of waiting out a TLS handshake timeout. The network's
// genesis time is fixed (MIN_GENESIS_TIME 1600000000), so today's
// wall-clock epoch is far above every epoch the conflicting-pair attacks
// use.
//
// # What is counted
//
// A conflicting pair (double vote, surround, double proposal) is
// "slashable and fully signed" when both messages got a full signature that
// verifies under the validator's key, however the attacker obtained it:
// from a coordinator, or recovered from t valid partial signatures
// collected from the participants. That count must be 0 everywhere. Each
// attack prints its own table; TestMain prints the summary (attempts,
// slashable pairs fully signed, outcomes, refusals by status and reason)
// after the last test, the regression tests of issue 13's holes in a
// section of their own with what each tried and was answered.
//
// # The holes of issue 13
//
// An adversarial review of commit 108c238 found eight holes around the
// slashing core. Tests named TestHole<item>... attack what each fix closed
// and failed on 108c238:
//
//  1. Roles. TestHole1PeerNamedCertificateCannotDeleteShare,
//     TestHole1AdminCertificateWithoutTokenCannotDelete,
//     TestHole1SignerNameCannotBeAdministrator and
//     TestHole1BothRolesNeedExplicitConsent (a name in admin.clients and
//     cluster.participants stops the signer with status 2 unless
//     admin.allow_peer_administrators); TestHole1AdminRequestNeedsTokenAtEverySigner
//     (every administrative endpoint of every signer, as the administrator
//     or a peer-named certificate, with and without the token and
//     Rampart-On-Behalf-Of: only both proofs pass);
//     TestHole1CompromisedPeerGetsNoExitDepositOrGeneric (a peer-named
//     certificate gets no partial of a VOLUNTARY_EXIT, DEPOSIT or GENERIC
//     from any participant or coordinator, and cannot remove, stage,
//     restore or start a ceremony without the token);
//     TestHole1RemovalDisablesAtOnceDestroysAfterGrace (404 at once, the
//     sealed share kept, listed and counted until accounts.destroy_after,
//     then destroyed on the moved clock); TestHole1CancelledRemovalSignsAgain
//     (rampartctl accounts restore; conflicts with messages signed before
//     the removal are still refused).
//  2. GENERIC. TestHole2GenericRefusedInTypedDomains, in every typed
//     domain, the consensus form and Rampart's proof-of-possession domain,
//     for an administrator and a client granted GENERIC;
//     TestGenericServesUntypedDomainToGrantedClient is the other side.
//  3. Wall-clock bounds. TestHole3AttestationAtFarFutureTargetRefused,
//     ...BeyondWallClockRefused, ...BlockAtMaxSlotRefused,
//     ...SourceAfterTargetIsBadRequest; TestHole3ImportBeyondWallClockRefused
//     (rampartctl slashing import, and rampartctl import and the keymanager
//     API through every signer's stage path: refused naming the record,
//     nothing imported); TestHole3AllowanceFollowsFutureEpochs
//     (slashing.future_epochs 1 and 8, to the epoch).
//  4. Listeners. TestHole4UnauthorisedSlowBodyRefusedBeforeBody,
//     TestHole4AuthorisedSlowBodyCutOff, TestHole4IntruderBodiesCostNoMemory;
//     TestHole4ConnectionAndInFlightCaps (redteam/slowclient's 2,000
//     connections from a denied and from an authorised client, and idle TLS
//     connections, against small listen.limits: the signer's own gauges
//     stay under the caps, descriptors and memory bounded).
//     redteam/slowclient's TestSlowClientsAreDisconnected runs the default
//     limits.
//  5. The token file. TestHole5AdminTokenFileReadableByOthersRefused
//     (admin.token: a token or sha256: verifier file readable by others,
//     or the old keymanager.token_file, exits 2; an owner-only file or a
//     systemd credential starts, and then exactly its token opens the
//     administrative endpoints).
//  6. The audit log. TestHole6AuditRecordsSurviveKill9 (every partial and
//     full signature a client received, after kill -9 of two signers
//     mid-stream, has its record; a kill keeps the page cache, so this
//     shows the record precedes the release, and the audit package's own
//     tests cut the power); TestHole6TamperedAuditLogDetected (a cut tail,
//     the newest file emptied or deleted, a rotated file deleted, and a
//     record rewritten with the chain recomputed, checkpoints re-pointed
//     and the anchor forged: rampartctl audit verify with the anchor and
//     --key fails on each, and start-up exits 2 on each but the deleted
//     rotated file, which start-up does not read: it checks the newest
//     file only, so that its time does not grow with the log).
//  7. Growth and disk. TestHole7AuditRotationKeepsSigning (audit.rotate_mib
//     1 under eight signing clients: no refusal, rotated files read-only and
//     compressed, the chain verifies across them, with the HSM tags);
//     TestHole7DiskHeadroomInHealth (a filling disk: DEGRADED and ready,
//     then DOWN and 503, then UP, with the free-space metric).
//  8. Exit statuses. TestHole8StartupErrorsExitWithStatus2 (wrong PIN,
//     missing PIN file, token or key); TestConfigurationErrorExitsWithStatus2.
package redteam
