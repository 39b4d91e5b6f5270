// Package vc is rampart-vc's validator client: it performs every duty of
// the cluster's validators, for every fork from phase0 to fulu, against
// several beacon nodes (package beacon) and obtains each signature from the
// threshold cluster through the coordinator (package
// internal/coordinator).
//
// Duties and their timing, slot by slot:
//
//   - at the start of a slot, the proposer signs its RANDAO reveal, asks
//     for a block (produceBlockV3, full or blinded), signs its header
//     (BLOCK_V2) and publishes it;
//   - at the slot's head event, or one third into the slot if none comes,
//     attesters sign the attestation data (one batch request per signer
//     for each distinct data: one for the whole slot from Electra on) and
//     sync committee members sign the head block root (one batch);
//   - two thirds into the slot, aggregators (selected by selection proofs
//     signed in batches per slot ahead of time) publish aggregates
//     (AGGREGATE_AND_PROOF_V2) and sync committee aggregators their
//     contributions;
//   - every epoch, duties for the next epoch, committee and sync committee
//     subscriptions, fee recipients (prepare_beacon_proposer) and, with
//     builders enabled, signed validator registrations.
//
// Voluntary exits are signed on request ([Exit], `rampartctl exit`).
//
// Lifetimes: [New] checks its inputs and starts nothing; [Client.Run]
// performs duties until its context ends. The beacon client and the
// coordinator it is given must be running (their own Run) for it to work.
//
// # Security
//
//   - No key, share or slashing database is here: every signature comes from
//     the cluster, whose signers each apply their own slashing protection.
//     Every signature the coordinator returns was verified against the
//     validator's composite key and the signing root this package computed
//     from the structured request (package signing), and the request sent
//     carries that root, so a signer that computes another refuses.
//   - A refusal by slashing protection (HTTP 412) is final for that duty:
//     it is counted, logged once per validator and duty until a signature
//     succeeds again, and never retried.
//   - Several instances may serve one cluster at once. Attestations asked
//     with the same data are exact repeats the signers allow; conflicting
//     requests cannot both gather a threshold of signers (t > n/2), so at
//     most one is signed. Proposals are staggered by instance
//     (redundancy.instance) so instances do not split the signers' votes
//     between two blocks.
//   - Doppelganger detection: with it enabled (the default) nothing is
//     signed until the validators have been seen inactive (the liveness
//     endpoint) for whole epochs after start; a validator seen live stops
//     the client with [ErrDoppelganger]. The epoch in which the client
//     starts is not watched, since a previous run of this client may have
//     signed in it.
//   - Blocks are checked before signing: slot, proposer index and RANDAO
//     reveal must be ours. Every beacon answer is validated by package
//     beacon against the configured network.
package vc
