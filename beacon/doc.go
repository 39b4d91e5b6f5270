// Package beacon is the validator client's access to several beacon nodes
// (through github.com/attestantio/go-eth2-client): a [Client] keeps track
// of every node's health, sends reads to the best node and fails over by
// the kind of error, sends writes to every node, cross-checks attestation
// data between nodes, validates every answer against the configured
// network, and delivers head and reorg events from all nodes' event
// streams, each once.
//
// Lifetimes: [New] checks the configuration and does nothing else;
// [Client.Run] connects, checks health every Config.HealthInterval and reads
// the event streams until its context ends; [Client.Ready] is closed after
// the first round of checks. Per-node Prometheus metrics go to the
// Registerer of the Config (none when it is nil).
//
// # Failover
//
// A read goes to the usable nodes in order: healthy, then degraded (a
// request failed within the last minute), then syncing, each group in
// configured order. The next node is tried after a connection error,
// timeout, 5xx, 408 or 429 ([ErrUnavailable]) and after an invalid answer
// ([ErrInvalidResponse]); both degrade the node. A 4xx refusal
// ([ErrRejected]) ends the call at once: the request is at fault, another
// node would refuse it too, and it says nothing about the node's health.
// The caller's context ending ends the call and blames no node.
//
// A write (attestations, aggregates, blocks, sync committee messages and
// contributions, subscriptions, registrations, preparations, exits) goes to
// every usable node at once and succeeds when at least one accepts it.
//
// # Attestation data
//
// [Client.AttestationData] asks every healthy node and chooses: identical
// data from more than half of the answers; otherwise the answer with the
// highest head slot among those whose source and target are the ones most
// answers give. Nodes that answered otherwise are reported (log, metric,
// [AttestationData].Disagreeing).
//
// # Security
//
//   - A node is used only after its genesis (validators root, fork version,
//     time), fork schedule, slots per epoch and slot duration were found
//     equal to the configured network's, and this is checked again at every
//     health round from fresh answers: a node on another chain, or
//     restarted on one, is never asked for duties or data (state
//     wrong_network, logged as an error).
//   - Every answer is validated before it is returned: duties outside the
//     requested epoch, for validators not asked about, with another key or
//     impossible committee positions; attestation data for another slot or
//     with a target outside the slot's epoch; blocks and aggregates of the
//     wrong fork, slot, data root or RANDAO reveal; execution-optimistic
//     duties. Such an answer is refused and the next node asked.
//   - Inputs are validated before anything is sent ([ErrInvalidRequest]); in
//     particular an Electra attestation must be a single attestation,
//     because go-eth2-client silently drops one it cannot convert.
//   - Node URLs may carry credentials: they appear in no log, metric or
//     error (nodes are named by Config name; URL errors are scrubbed).
//   - A node cannot make the client buffer without bound: health answers
//     and server-sent events are size-limited.
package beacon
