// Package audit is the signer's append-only audit log: one JSON line for
// every partial or full signature the process releases, each line chained to
// the previous one by SHA-256, so that removing, reordering or editing any
// record breaks verification from that point on.
//
// # Security
//
// Records hold only public data: request type, public keys, signing roots,
// the authenticated client name and the outcome. The chain detects tampering
// by anyone who cannot rewrite the whole file; rotation keeps the previous
// file's final hash as the first record's predecessor so files chain too.
// The log is written before the signature leaves the process, so a released
// signature without a record can only follow a write error, which refuses
// the request instead.
package audit
