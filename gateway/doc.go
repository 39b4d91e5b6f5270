// Package gateway is rampart-gateway: the Remote Signing API on the
// validator client's own host, for a validator client that cannot present
// a TLS client certificate (Lodestar, or any client pointed at a plain
// URL). It serves GET /api/v1/eth2/publicKeys, POST /api/v1/eth2/sign and
// /api/v1/eth2/sign/{identifier}, /upcheck and /healthcheck on a loopback
// address or a unix socket, and obtains each signature from the cluster's
// signers through the threshold coordinator (internal/coordinator), with
// its own mutual-TLS identity towards every signer: no signer is special,
// and every request takes one hop.
//
// # Security
//
//   - The gateway is a signing client, not a peer: each signer authorises
//     the gateway's TLS identity itself (accounts and request types) and
//     applies its own slashing protection; the gateway holds no key share
//     and decides nothing a signer would not decide again.
//   - Requests are decoded strictly (internal/signing), checked against the
//     cluster's network, and their signing root is recomputed here; a
//     request of a type or for an account the configuration does not grant
//     (accounts, types) is refused before any signer is asked. Exits,
//     deposits and GENERIC requests are not granted unless listed.
//   - Every signature answered has been recovered from a threshold of
//     partial signatures and verified under the composite key and the root
//     computed here (the coordinator returns nothing else).
//   - The API is plain HTTP: it listens only on a loopback address, where
//     every local process may connect, or on a unix socket, where the
//     socket's mode and its directory's group decide who may. Its
//     listener bounds header, body and idle time, and every call to a
//     signer has a deadline.
//   - /healthcheck answers 200 only while, for every account served, at
//     least its threshold of signers answered their last health probe.
package gateway
