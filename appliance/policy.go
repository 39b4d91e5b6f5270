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
	// genericAll lets an administrator use every account for GENERIC
	// only: its rule's account list still bounds every other type.
	genericAll bool
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
		g = &grant{accounts: map[api.PublicKey]bool{}, types: map[signing.Type]bool{}}
		p.rules[client] = g
	}
	g.genericAll = true
	g.types[signing.TypeGeneric] = true
}

// known reports whether client has any rule at all.
func (p *policy) known(client string) bool {
	_, ok := p.rules[client]
	return ok
}

// anyType, as the type of an account check, asks whether the client may
// use the account for some type: whether it may see it (listings).
const anyType signing.Type = ""

// account reports whether client may use key for requests of type t.
func (p *policy) account(client string, key api.PublicKey, t signing.Type) bool {
	g, ok := p.rules[client]
	return ok && (g.allAccounts || g.accounts[key] || g.genericFor(t))
}

// requestType reports whether client may ask for t.
func (p *policy) requestType(client string, t signing.Type) bool {
	g, ok := p.rules[client]
	return ok && (g.allTypes || g.types[t])
}

// allAccounts reports whether client may use every account for type t
// (so that an unknown key is reported as 404 rather than 403).
func (p *policy) allAccounts(client string, t signing.Type) bool {
	g, ok := p.rules[client]
	return ok && (g.allAccounts || g.genericFor(t))
}

// genericFor reports whether the administrator's GENERIC grant covers
// type t.
func (g *grant) genericFor(t signing.Type) bool {
	return g.genericAll && (t == signing.TypeGeneric || t == anyType)
}
