// Package dkg is Rampart's distributed key generation: a Pedersen
// joint-Feldman ceremony, hardened as DESIGN.md section 7 describes, that
// creates many validator keys at once so that no whole key ever exists
// anywhere. Each participant ends with, per validator, the composite
// public key, every participant's component key and its own share; the
// cluster then signs (for example the validators' deposits) by threshold
// signing with package tss.
//
// A [Participant] is a pure state machine: [New] deals, [Participant.Deliver]
// takes one message from an authenticated peer and returns the messages to
// send, [Participant.Snapshot] and [Resume] persist and restore it. The
// caller owns transport (mutual TLS, retries, timeouts) and storage.
//
// # Rounds
//
//  1. Deal: every participant, as dealer, draws a random polynomial of
//     degree t-1 per validator and broadcasts Feldman commitments to its
//     coefficients with a proof of possession of each constant term; it
//     sends each participant its shares privately.
//  2. Echo: every participant checks the proofs and the shares it received
//     and broadcasts the hash of every dealer's commitments as it received
//     them, with complaints about shares that do not match.
//  3. Justify: every dealer reveals, publicly, the shares complained about.
//  4. Confirm: every participant disqualifies dealers that equivocated,
//     failed a proof or did not answer a complaint with a valid share;
//     with at least t dealers left it computes the keys and signs the
//     transcript hash with its new shares. The ceremony is done when every
//     qualified participant's confirmation matches and verifies.
//
// # Security
//
//   - A proof of possession (a BLS signature by the constant term over a
//     message bound to the ceremony, the dealer and all its constant-term
//     commitments) stops rogue-key contributions: a dealer cannot commit
//     to a key chosen to cancel the others' without knowing its discrete
//     logarithm.
//   - The echo round makes every participant compare commitment hashes, so
//     a dealer showing different commitments to different participants is
//     disqualified everywhere. Any other broadcast a participant sends
//     differently to different peers changes the transcript hash, and the
//     ceremony aborts at confirmation.
//   - A ceremony completes only with at least t qualified dealers, so with
//     at most t-1 dishonest participants every key contains an honest,
//     uniformly random contribution that nobody else knows.
//   - As in every joint-Feldman DKG, a dishonest dealer that sees the
//     others' commitments first can bias the joint key's distribution a
//     little by getting itself disqualified; this does not help it forge
//     threshold BLS signatures (Gennaro, Jarecki, Krawczyk, Rabin 2007).
//   - Every message carries a format version, the ceremony id (a hash of
//     the whole configuration, including a fresh nonce) and its sender and
//     recipient; Deliver refuses messages of other ceremonies, from another
//     sender than the authenticated peer, or for another recipient. Points
//     are decoded with subgroup checks, scalars must be canonical, lists
//     strictly ascending; nothing malformed changes the state.
//   - Batched checks draw their random coefficients after all inputs are
//     fixed, from the caller's random source; any invalid item makes a
//     check fail except with probability about 2^-255.
//   - Secret coefficients are signed with and committed to through the BLS
//     library's key paths, never through variable-time multi-scalar
//     multiplication. Polynomials are zeroed once dealt; an aborted
//     participant zeroes every share it holds, so nothing half-made can
//     sign. Shares messages and snapshots contain secrets and redact
//     themselves when printed; the caller seals snapshots before storing
//     them.
//   - Completion at one participant does not imply completion everywhere
//     (a dishonest participant can confirm to some peers and not to
//     others). The ceremony's coordinator activates accounts only once
//     every participant reports [PhaseDone] with the same transcript.
package dkg
