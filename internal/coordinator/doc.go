// Package coordinator turns a cluster of threshold participants into one
// signer: it discovers the distributed accounts, sends an identical request
// to the participants, binds every partial signature to the participant that
// sent it and the component key learned at discovery, recovers the
// signature from the first threshold valid partials and verifies it before
// anyone sees it. rampart-signer runs it behind the standard Remote Signing
// API; rampart-vc uses it as a library.
//
// # Security
//
//   - A signature leaves Sign or SignBatch only after it verified under the
//     composite public key and the signing root the caller computed. Partials
//     are never combined across accounts, messages or batch positions.
//   - A participant's answer is trusted for nothing: its participant id,
//     signing root and signature are checked against what the coordinator
//     already knows; any mismatch counts as no share from that participant.
//   - Discovery refuses an account whose participants disagree on the
//     composite key, threshold or participant set, whose ids or endpoints
//     repeat, or whose component keys do not lie on one polynomial with the
//     composite key at zero (tss.Account.Validate).
//   - Threshold t > n/2 is enforced by tss; with it, two conflicting
//     messages can never both gather t partials from honest participants, so
//     asking only some participants first (hedging) is safe.
package coordinator
