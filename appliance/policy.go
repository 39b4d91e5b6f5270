package appliance

import (
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
	"sync/atomic"
)

// policy is the authorisation table: client name -> accounts -> request
// types, from the authorization rules alone. Anything not granted is
// denied: being an administrator or a peer grants nothing here. "all"
// types means every type but GENERIC, which a rule must list by name.
type policy struct {
	// cur holds the rules; reload replaces them whole (SIGHUP).
	cur atomic.Pointer[map[string]*grant]
}

// rules are the rules in force.
func (p *policy) rules() map[string]*grant { return *p.cur.Load() }

// replace puts np's rules in force.
func (p *policy) replace(np *policy) { p.cur.Store(np.cur.Load()) }

type grant struct {
	allAccounts bool
	accounts    map[api.PublicKey]bool
	allTypes    bool
	types       map[signing.Type]bool
}

func newPolicy(rules []Rule) *policy {
	p := &policy{}
	m := map[string]*grant{}
	p.cur.Store(&m)
	for _, r := range rules {
		g := &grant{allAccounts: r.Accounts.All, allTypes: r.Types.All, accounts: map[api.PublicKey]bool{}, types: map[signing.Type]bool{}}
		for _, a := range r.Accounts.List {
			k, _ := api.ParsePublicKey(a) // validated with the configuration
			g.accounts[k] = true
		}
		for _, t := range r.Types.List {
			g.types[signing.Type(t)] = true
		}
		m[r.Client] = g
	}
	return p
}

// known reports whether client has any rule at all.
func (p *policy) known(client string) bool {
	_, ok := p.rules()[client]
	return ok
}

// anyType, as the type of an account check, asks whether the client may
// use the account for some type: whether it may see it (listings).
const anyType signing.Type = ""

// account reports whether client may use key (for requests of type t: the
// account list of a rule bounds every type alike).
func (p *policy) account(client string, key api.PublicKey, _ signing.Type) bool {
	g, ok := p.rules()[client]
	return ok && (g.allAccounts || g.accounts[key])
}

// requestType reports whether client may ask for t. "all" covers every
// type but GENERIC.
func (p *policy) requestType(client string, t signing.Type) bool {
	g, ok := p.rules()[client]
	return ok && ((g.allTypes && t != signing.TypeGeneric) || g.types[t])
}

// allAccounts reports whether client may use every account for type t
// (so that an unknown key is reported as 404 rather than 403).
func (p *policy) allAccounts(client string, _ signing.Type) bool {
	g, ok := p.rules()[client]
	return ok && g.allAccounts
}
