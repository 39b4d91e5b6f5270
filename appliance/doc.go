// Package appliance is rampart-signer, the signing appliance: it holds
// this signer's key shares (sealed by its HSM, unsealed into locked memory
// at start-up), applies slashing protection before every partial
// signature, serves the Remote Signing API (as a participant of the
// distributed profile, and as a coordinator recovering full signatures
// from the cluster), and manages accounts with the other signers of its
// cluster: import, activation, removal, and key-generation ceremonies.
//
// [New] checks a [Config]; [Appliance.Run] opens the HSM, unseals, opens
// the slashing protection database and serves until its context ends.
//
// # Security
//
//   - Every listener but the loopback coordinator listener is mutual TLS
//     with the cluster CA as the only root; clients are authorised by the
//     name on their certificate, in three roles kept apart by the
//     configuration (docs/threat-model.md): signing clients
//     (authorization rules), peers (cluster.participants tls_name: ceremony
//     messages, each mapped to its participant id so a message claiming
//     another sender is refused, and validator duties only), and
//     administrators (admin.clients), who are granted no signing type. A
//     name both peer and administrator is refused unless explicitly
//     allowed.
//   - Every administrative request (authz.go) needs an administrator's
//     identity, or a peer relaying one (Rampart-On-Behalf-Of), and the
//     administrative bearer token, checked at each signer in constant time
//     against the verifier of admin.token; it is logged and audited before
//     it is carried out.
//   - GENERIC is refused in every domain a typed request exists for, and
//     in every domain of the consensus form (signing.CheckGenericDomainType).
//   - A removed account stops signing at once, but its sealed share is
//     destroyed only accounts.destroy_after later, restorable until then
//     (pending.go); a restart finishes an interrupted removal or restore.
//   - A new account is never signable at some signers and missing at
//     others: its shares are staged first (sealed, written next to their
//     final name, keys registered in slashing protection) and activated
//     only once every participant staged. A staged share left by a crash is
//     deleted at the next start.
//   - Key-generation ceremonies (package ceremony) run the tss/dkg state
//     machine peer to peer: private shares go straight to their recipient
//     over mutual TLS, never through the coordinator. Each participant's
//     state, which holds secrets, is sealed by its HSM (bound to the
//     ceremony, batch, participant and cluster) before it reaches disk, and
//     persisted before a message it produced is sent or a message it
//     received is acknowledged. Accounts are activated only when every
//     participant reports the same transcript. An aborted ceremony zeroes
//     its secrets, discards staged shares, removes activated accounts and
//     deletes its snapshots: nothing half-made can sign.
//   - Deposit data is threshold-signed through the cluster (each participant
//     signs a peer's DEPOSIT only for a ceremony that peer coordinates, with
//     the plan's credentials and amount), verified by the coordinator (signature under the composite key over the DEPOSIT
//     root, both roots recomputed, the credentials and amount asked for)
//     and verified again by rampartctl before it is written.
//   - Secrets (shares, snapshots, ceremony messages carrying shares) are
//     zeroed when no longer needed and never logged; errors name fields,
//     never values.
package appliance
