package appliance

import (
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
)

// policy is the authorisation table: client name -> accounts -> request
// types. Anything not granted is denied.
type policy struct {
	rules map[string]*grant
}

type grant struct {
	allAccounts bool
	accounts    map[api.PublicKey]bool
	allTypes    bool
	types       map[signing.Type]bool
}

func newPolicy(rules []Rule) *policy {
	p := &policy{rules: map[string]*grant{}}
	for _, r := range rules {
		g := &grant{allAccounts: r.Accounts.All, allTypes: r.Types.All, accounts: map[api.PublicKey]bool{}, types: map[signing.Type]bool{}}
		for _, a := range r.Accounts.List {
			k, _ := api.ParsePublicKey(a) // validated with the configuration
			g.accounts[k] = true
		}
		for _, t := range r.Types.List {
			g.types[signing.Type(t)] = true
		}
		p.rules[r.Client] = g
	}
	return p
}

// grantGeneric lets an administrator request GENERIC signatures of every
// account, which is how imports are verified through the cluster.
// GENERIC in the proposer or attester domain stays refused for everyone.
func (p *policy) grantGeneric(client string) {
	g, ok := p.rules[client]
	if !ok {
		g = &grant{allAccounts: true, accounts: map[api.PublicKey]bool{}, types: map[signing.Type]bool{}}
		p.rules[client] = g
	}
	g.allAccounts = true
	g.types[signing.TypeGeneric] = true
}

// known reports whether client has any rule at all.
func (p *policy) known(client string) bool {
	_, ok := p.rules[client]
	return ok
}

// account reports whether client may use key.
func (p *policy) account(client string, key api.PublicKey) bool {
	g, ok := p.rules[client]
	return ok && (g.allAccounts || g.accounts[key])
}

// requestType reports whether client may ask for t.
func (p *policy) requestType(client string, t signing.Type) bool {
	g, ok := p.rules[client]
	return ok && (g.allTypes || g.types[t])
}

// allAccounts reports whether client may see every account (so that an
// unknown key is reported as 404 rather than 403).
func (p *policy) allAccounts(client string) bool {
	g, ok := p.rules[client]
	return ok && g.allAccounts
}
