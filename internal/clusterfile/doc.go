// Package clusterfile reads and writes cluster.yaml, the description of a
// Rampart cluster from the outside: its network, its signers (participant
// endpoints and TLS names), the cluster CA, the client identities of the
// operator and of validator clients, and the accounts. `rampartctl devnet
// up` writes one; an operator writes one by hand for a production cluster.
// rampartctl (key generation, import, status) and rampart-vc read it, which
// is why it lives under internal/ rather than in either program's package.
//
// # Security
//
// The file holds no secret: identities name a certificate and a key file
// (or a pkcs11: URI of a key in an HSM), never the key itself. Parsing is
// strict (unknown fields, a second document, a wrong type are refused) and
// [File.Validate] names the first wrong field by its YAML path, so a typo
// cannot silently drop a participant or a trust root. The TLS
// configuration built from it trusts the cluster CA alone, requires TLS 1.3,
// and every participant must present a certificate for its configured TLS
// name whatever address it is reached at. A PEM client key must be readable
// by its owner only: a key others can read is refused rather than used.
package clusterfile
