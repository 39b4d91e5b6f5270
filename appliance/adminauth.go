package appliance

import (
	"net/http"
	"slices"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// Every administrative request, at every signer, carries two proofs:
//
//   - an mTLS identity that is an administrator (admin.clients), or a
//     cluster peer relaying an administrator's request, naming that
//     administrator in the Rampart-On-Behalf-Of header (a signer fanning
//     out a keymanager import or removal, or the joins of a key-generation
//     ceremony, to the others);
//   - the administrative bearer token (Authorization: Bearer), whose
//     SHA-256 is compared in constant time with the verifier of
//     admin.token.
//
// Neither a peer's certificate, nor the operator's certificate, nor the
// token alone is enough. Who acted, and on whose behalf, is logged and
// appended to the audit log before anything is done.

// HeaderOnBehalfOf names the administrator whose request a cluster peer
// relays.
const HeaderOnBehalfOf = "Rampart-On-Behalf-Of"

// adminActor is an authenticated administrative request's sender.
type adminActor struct {
	// client is the mTLS identity that sent the request (or "" in process,
	// for this signer's own start-up and ceremony aborts).
	client string
	// onBehalfOf is the administrator whose request client relays; empty
	// when client is the administrator.
	onBehalfOf string
	// token is the token the request carried, for relaying it; it lives
	// as long as the request.
	token AdminToken
}

// systemActor is this signer acting on its own (completing an interrupted
// removal at start-up, aborting a ceremony).
func systemActor(what string) adminActor { return adminActor{client: "rampart-signer (" + what + ")"} }

// admin is the administrator behind the request.
func (x adminActor) admin() string {
	if x.onBehalfOf != "" {
		return x.onBehalfOf
	}
	return x.client
}

// String is "admin" or "signer-2 on behalf of admin".
func (x adminActor) String() string {
	if x.onBehalfOf != "" {
		return x.client + " on behalf of " + x.onBehalfOf
	}
	return x.client
}

// relay returns p carrying this administrator's proof: the token and,
// since this signer is then a peer of the one it calls, the administrator's
// name.
func (x adminActor) relay(p *Peer) *Peer {
	return p.withAdminProof(x.token, x.admin())
}

func (a *Appliance) isAdmin(client string) bool {
	return client != "" && slices.Contains(a.cfg.Admin.Clients, client)
}

// certNames are the names on the client's verified certificate: DNS
// names, then IP addresses.
func certNames(r *http.Request) []string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// peerNamed returns the cluster participant whose tls_name is among names,
// if exactly one is.
func (a *Appliance) peerNamed(names []string) (ParticipantConfig, bool) {
	var found ParticipantConfig
	for _, p := range a.cfg.Cluster.Participants {
		if slices.Contains(names, p.TLSName) {
			if found.ID != 0 && found.ID != p.ID {
				return ParticipantConfig{}, false // a certificate naming two participants identifies neither
			}
			found = p
		}
	}
	return found, found.ID != 0
}

// authenticateAdmin checks both proofs of an administrative request whose
// client carries names; relayed says whether a peer may relay it.
func (a *Appliance) authenticateAdmin(r *http.Request, names []string, relayed bool) (adminActor, *apiError) {
	var x adminActor
	peer, isPeer := a.peerNamed(names)
	obo := r.Header.Get(HeaderOnBehalfOf)
	direct := ""
	for _, n := range names {
		if a.isAdmin(n) {
			direct = n
			break
		}
	}
	shown := ""
	if len(names) > 0 {
		shown = names[0]
	}
	switch {
	case obo != "":
		if !relayed || !isPeer {
			return x, refuse(http.StatusForbidden, "unauthorised", "client %q may not relay an administrator's request (%s): only a cluster peer fanning out an administrator's request does", shown, HeaderOnBehalfOf)
		}
		if !a.isAdmin(obo) {
			return x, refuse(http.StatusForbidden, "unauthorised", "%s: %q is not an administrator (admin.clients)", HeaderOnBehalfOf, obo)
		}
		x = adminActor{client: peer.TLSName, onBehalfOf: obo}
	case direct != "":
		x = adminActor{client: direct}
	case isPeer:
		return x, refuse(http.StatusForbidden, "unauthorised", "client %q is a peer signer, not an administrator (admin.clients): a peer only relays an administrator's request, naming it in %s, with the administrative token", peer.TLSName, HeaderOnBehalfOf)
	default:
		return x, refuse(http.StatusForbidden, "unauthorised", "client %q is not an administrator (admin.clients)", shown)
	}
	tok, ok, err := bearerToken(r.Header.Get("Authorization"))
	switch {
	case !ok:
		return adminActor{}, refuse(http.StatusUnauthorized, "unauthorised", "missing bearer token: administrative requests carry the administrative token (Authorization: Bearer)")
	case err != nil:
		return adminActor{}, refuse(http.StatusForbidden, "unauthorised", "invalid bearer token: %v", err)
	case a.adminToken == nil || !a.adminToken.check(tok):
		tok.Zero()
		return adminActor{}, refuse(http.StatusForbidden, "unauthorised", "invalid bearer token")
	}
	x.token = tok
	return x, nil
}

// writeAdminError answers a refused administrative request.
func writeAdminError(w http.ResponseWriter, e *apiError) {
	if e.code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeError(w, e)
}

// adminGuard serves h only to authenticated administrators (directly, or
// relayed by a peer when relayed is true), and zeroes the token after.
func (a *Appliance) adminGuard(relayed bool, h func(w http.ResponseWriter, r *http.Request, x adminActor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, e := a.authenticateAdmin(r, certNames(r), relayed)
		if e != nil {
			a.logAdminRefusal(r, e)
			writeAdminError(w, e)
			return
		}
		defer x.token.Zero()
		h(w, r, x)
	}
}

func (a *Appliance) logAdminRefusal(r *http.Request, e *apiError) {
	a.log.Warn("administrative request refused", "method", r.Method, "path", r.URL.Path, "client", firstName(certNames(r)),
		"on_behalf_of", r.Header.Get(HeaderOnBehalfOf), "code", e.code, "err", e.msg)
	a.metrics.refusals.WithLabelValues(e.reason).Inc()
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// recordAdmin logs an administrative action and appends it to the audit
// log before it is carried out; when the audit log cannot take it, the
// action is refused.
func (a *Appliance) recordAdmin(x adminActor, action string, keys ...api.PublicKey) *apiError {
	a.log.Info("administrative action", "action", action, "client", x.client, "on_behalf_of", x.onBehalfOf, "accounts", len(keys))
	if a.audit == nil {
		return nil // not started: nothing can have been done yet
	}
	now := a.now().UTC()
	recs := make([]audit.Record, 0, max(len(keys), 1))
	for _, k := range keys {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, PublicKey: k.String(), Client: x.client, OnBehalfOf: x.onBehalfOf})
	}
	if len(recs) == 0 {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, Client: x.client, OnBehalfOf: x.onBehalfOf})
	}
	if err := a.audit.Append(recs...); err != nil {
		a.log.Error("audit log write failed; administrative action refused", "action", action, "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
	}
	return nil
}

// ceremonyCaller authenticates a ceremony status or abort request: an
// administrator (both proofs), or the cluster peer that coordinates the
// ceremony (the coordinator polls and aborts with its own identity, and
// holds no token after a restart). A peer asking about a ceremony this
// signer does not know gets a 404, so that a coordinator learns to send
// the plan.
func (a *Appliance) ceremonyCaller(r *http.Request, id [32]byte) (adminActor, *apiError) {
	names := certNames(r)
	if r.Header.Get("Authorization") == "" {
		if peer, ok := a.peerNamed(names); ok && r.Header.Get(HeaderOnBehalfOf) == "" {
			c, known := a.ceremonies.get(id)
			switch {
			case !known:
				return adminActor{client: peer.TLSName}, nil
			case c.plan != nil && tss.ID(c.plan.Coordinator) == tss.ID(peer.ID):
				return adminActor{client: peer.TLSName}, nil
			}
			return adminActor{}, refuse(http.StatusForbidden, "unauthorised", "client %q is not the coordinator of ceremony %s, nor an administrator", peer.TLSName, ceremonyIDString(id))
		}
	}
	return a.authenticateAdmin(r, names, true)
}
