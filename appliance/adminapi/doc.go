// Package adminapi is a signer's administrative API as its callers see it:
// the wire types of the account lifecycle (stage, activate, discard,
// proof, remove, restore) and of key-generation ceremonies, the
// administrative token and the proof every administrative request carries,
// and [Client], the one client of those endpoints, which rampartctl and
// the signers themselves (relaying an administrator's request to their
// peers) use. [Importer] brings existing keys into a cluster through any
// set of [AccountAdmin]s; [ClusterFile] describes a cluster from the
// outside and builds, from one connection pool per signer, both the
// administrative clients and a coordinator.
//
// The package is the appliance's client side: the daemon (package
// appliance) serves these endpoints and imports this package for their
// types; nothing here imports the daemon.
//
// # Security
//
//   - Every administrative request carries two proofs, checked by every
//     signer: an administrator's mTLS identity (or a cluster peer relaying
//     one, named in [HeaderOnBehalfOf]) and the administrative bearer token
//     ([Token]). A signer keeps only the token's [Verifier].
//   - [Token] and the shares of [StageItem] never print (String, GoString
//     and LogValue redact them); callers zero them when done.
//   - An imported key is split here, and the cluster must prove it holds
//     the shares (partial signatures that recover the original key's
//     signature of [ProofSigningRoot]) before anything is activated.
package adminapi
