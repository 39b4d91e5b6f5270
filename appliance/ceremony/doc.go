// Package ceremony runs key-generation ceremonies (DESIGN.md section 7),
// refresh ceremonies (docs/resharing.md: new shares of existing accounts,
// same signers, same threshold, same keys) and share repairs (a replaced
// signer gets its shares again) at one signer: its side of every ceremony
// it joins, and the coordination of those an operator starts at it.
//
// One signer coordinates: it receives the operator's start request,
// derives the plan, and sends it to every participant; then the
// participants run the tss/dkg state machine among themselves, each
// message going straight to its recipient over mutual TLS. The ceremony is
// split into batches of validators, each a dkg ceremony of its own, so
// that progress shows and messages stay small. A participant's states are
// adminapi.CeremonyState, the coordinator's stages
// adminapi.CoordinationStage.
//
// The package reaches the signer only through the narrow interfaces of
// deps.go (its accounts, its HSM sealing key, its coordinator for the
// deposits, its peers, its audit log, its clock), which the daemon
// (package appliance) wires; it never sees the daemon itself. Its HTTP
// endpoints are Routes, each naming who may call it (Access); the daemon
// mounts them under its guards.
//
// # Security
//
//   - Private shares go straight to their recipient over mutual TLS,
//     never through the coordinator.
//   - Each participant's state, which holds secrets, is sealed by its HSM
//     (bound to the ceremony, batch, participant and cluster) before it
//     reaches disk, and persisted before a message it produced is sent or
//     a message it received is acknowledged.
//   - Accounts are activated only when every participant reports the same
//     transcript; an aborted ceremony zeroes its secrets, discards staged
//     shares, removes activated accounts and deletes its snapshots:
//     nothing half-made can sign.
//   - A refresh's new shares replace the current ones only when every
//     participant reports the same transcript; the previous sealed share
//     is kept until the coordinator finalises (then destroyed), and an
//     abort puts it back. Each participant deals only its own current
//     shares, checked against its component key in the plan.
//   - A repair starts only on an administrator's request naming the
//     repaired participant; its shares are checked against its component
//     keys (interpolated from the others') before they are kept, and its
//     slashing protection starts from every helper's history, which a
//     helper gives the repaired participant alone, with floors past the
//     cutover.
//   - The coordinator signs the deposits through the cluster; each
//     participant signs a peer's DEPOSIT only for a ceremony that peer
//     coordinates, with the plan's credentials and amount
//     (Service.AllowsDeposit), and the coordinator verifies every deposit
//     before keeping it.
//   - The administrator's token that started a ceremony is kept in memory
//     only, until every participant joined.
package ceremony
