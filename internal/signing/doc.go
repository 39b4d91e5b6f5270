// Package signing decodes the requests of the Ethereum Remote Signing API
// (../shared/spec/remote-signing-api: every request type, the batch
// request and the distributed profile) into go-eth2-client values, and
// computes the domain and signing root of each exactly as the consensus
// specifications define them.
//
// A signer handles a request body in these steps:
//
//	req, err := signing.ParseRequest(body)    // strict decoding
//	s, err := req.Verify(net)                  // network check + signing root
//	err = req.CheckFuture(net, now, allowance) // nothing beyond the clock's epoch + allowance
//	// policy, slashing protection (s.Proposal, s.Vote), then sign s.SigningRoot
//
// A coordinator forwards req.Received(), the body exactly as it received
// it; each participant decodes and verifies those bytes itself. A request
// built by hand (rampart-vc builds its own) is encoded by json.Marshal,
// with go-eth2-client's JSON of the signed objects, and checked by strict
// decoding of the result.
//
// # Security
//
// A signer never signs a block, an attestation or an aggregate for an epoch
// further ahead of the network's wall clock than its allowance
// ([Request.CheckFuture], [ErrFuture]): recorded by slashing protection,
// one such message would refuse every honest one after it. An attestation
// whose source is after its target is malformed ([ErrInvalidRequest]).
//
// The signer never signs a root it did not compute: [Request.Verify]
// recomputes the signing root from the structured request and refuses a
// different signingRoot ([ErrSigningRootMismatch]). It never signs for
// another network or a fork that does not apply: fork_info must match the
// network's schedule at the message epoch, a DEPOSIT's fork version and a
// GENERIC domain must be the network's. Decoding is strict (missing or
// malformed fields, duplicate keys, unknown members inside signed objects,
// another type's payload: all refused with the field's path), so that a
// coordinator and its participants cannot read one request two ways.
// Unknown top-level members are tolerated because real validator clients
// send some (Nimbus's "proofs"); they change nothing that is signed, and a
// coordinator forwards them with the rest, bounded like the rest by
// [MaxRequestSize]. [CheckGenericDomainType] is the one
// place that decides which domains a GENERIC request may use: none that a
// typed request exists for, and none of the consensus form 0xXX000000.
package signing
