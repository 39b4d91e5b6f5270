// Package reshare is Rampart's resharing: it gives the validators' keys a
// new configuration (other members, another threshold) or new shares for
// the same members, without the keys changing and without any key ever
// existing whole. docs/resharing.md describes the protocol and the
// cutover around it.
//
// Redistribution follows Desmedt and Jajodia ("Redistributing secret
// shares to new access structures and its applications", 1997), made
// verifiable as by Wong, Wang and Wing ("Verifiable secret redistribution
// for archive systems", 2002): at least t_old current members (dealers)
// sub-share their shares, each with a random polynomial of degree
// t_new-1 and Feldman commitments to its coefficients whose constant term
// must equal the dealer's public share (component key) in the current
// configuration. New members verify their sub-shares, complain, and
// dealers justify publicly, as in package dkg, whose rounds and message
// kinds this package reuses: deal, echo, justify, confirm. Each new
// member's share is the sum of its sub-shares weighted by the Lagrange
// coefficients at zero over the qualified dealers.
//
// Refresh is proactive secret sharing in the style of Herzberg, Jarecki,
// Krawczyk and Yung (1995): dealers share zero (the constant-term
// commitment must be the identity, checked when the message is parsed),
// and each member adds its sub-shares to its current share.
//
// Share repair gives one member that lost its shares the same shares
// again, for its existing index, with no other share changing (Herzberg,
// Jarecki, Krawczyk, Yung 1995, share recovery): helpers deal masking
// polynomials that are zero at the repaired index (checked through their
// commitments), then each sends the repaired member its share plus its
// masks; the repaired member checks each masked share against the public
// data, interpolates them at its index and checks the result against its
// component key.
//
// Before a new member confirms, the new public polynomial of every
// validator must have the validator key as constant term and every new
// component key must lie on it ([tss.Account.Validate]); the confirmation
// is a signature, with the sum of the member's new shares, over the
// transcript and the new configuration's hash, checked by every other
// member. A [Participant] is a pure state machine like [dkg.Participant]:
// the caller carries messages over mutually authenticated TLS, seals the
// result, and activates it at an agreed epoch.
//
// Security:
//
//   - Every message carries the session id, a hash of the whole
//     configuration (fresh nonce, mode, thresholds, dealers, new members,
//     every validator's current keys, the caller's context such as the
//     cutover epoch): messages of an earlier session, or of a member
//     configured differently (a downgraded old threshold), are refused.
//   - A dealer cannot sub-share anything but its share: its constant term
//     is checked against its public share by every member. A dealer that
//     shows different commitments to different members is exposed by the
//     echoes and disqualified everywhere. A session completes only with at
//     least t_old qualified dealers.
//   - Secrets (current shares, sub-shares, new shares) are zeroed on abort
//     and once done; messages carrying sub-shares redact themselves.
//   - [Participant.Snapshot] and [Resume] persist and restore a member (the
//     caller seals the snapshot): a restarted member resumes where it was
//     and re-sends the same bytes.
//   - Not yet: the encryption of sub-shares to the receiver's HSM-held
//     identity beyond the mutual TLS channel.
package reshare
