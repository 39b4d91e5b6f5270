package appliance

import (
	"net/http"
	"slices"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/ceremony"
	"github.com/rampart-signer/rampart/appliance/internal/web"
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
func (a *Appliance) authenticateAdmin(r *http.Request, names []string, relayed bool) (adminapi.Actor, *apiError) {
	var x adminapi.Actor
	peer, isPeer := a.peerNamed(names)
	obo := r.Header.Get(adminapi.HeaderOnBehalfOf)
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
			return x, refuse(http.StatusForbidden, "unauthorised", "client %q may not relay an administrator's request (%s): only a cluster peer fanning out an administrator's request does", shown, adminapi.HeaderOnBehalfOf)
		}
		if !a.isAdmin(obo) {
			return x, refuse(http.StatusForbidden, "unauthorised", "%s: %q is not an administrator (admin.clients)", adminapi.HeaderOnBehalfOf, obo)
		}
		x = adminapi.Actor{Client: peer.TLSName, OnBehalfOf: obo}
	case direct != "":
		x = adminapi.Actor{Client: direct}
	case isPeer:
		return x, refuse(http.StatusForbidden, "unauthorised", "client %q is a peer signer, not an administrator (admin.clients): a peer only relays an administrator's request, naming it in %s, with the administrative token", peer.TLSName, adminapi.HeaderOnBehalfOf)
	default:
		return x, refuse(http.StatusForbidden, "unauthorised", "client %q is not an administrator (admin.clients)", shown)
	}
	tok, ok, err := adminapi.ParseBearer(r.Header.Get("Authorization"))
	switch {
	case !ok:
		return adminapi.Actor{}, refuse(http.StatusUnauthorized, "unauthorised", "missing bearer token: administrative requests carry the administrative token (Authorization: Bearer)")
	case err != nil:
		return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "invalid bearer token: %v", err)
	case a.adminToken == nil || !a.adminToken.Check(tok):
		tok.Zero()
		return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "invalid bearer token")
	}
	x.Token = tok
	return x, nil
}

// writeAdminError answers a refused administrative request.
func writeAdminError(w http.ResponseWriter, e *apiError) {
	if e.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	web.WriteError(w, e)
}

// adminGuard serves h only to authenticated administrators (directly, or
// relayed by a peer when relayed is true), and zeroes the token after.
func (a *Appliance) adminGuard(relayed bool, h func(w http.ResponseWriter, r *http.Request, x adminapi.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, e := a.authenticateAdmin(r, certNames(r), relayed)
		if e != nil {
			a.logAdminRefusal(r, e)
			writeAdminError(w, e)
			return
		}
		defer x.Token.Zero()
		h(w, r, x)
	}
}

func (a *Appliance) logAdminRefusal(r *http.Request, e *apiError) {
	a.log.Warn("administrative request refused", "method", r.Method, "path", r.URL.Path, "client", firstName(certNames(r)),
		"on_behalf_of", r.Header.Get(adminapi.HeaderOnBehalfOf), "code", e.Code, "err", e.Msg)
	a.metrics.refusals.WithLabelValues(e.Reason).Inc()
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
func (a *Appliance) recordAdmin(x adminapi.Actor, action string, keys ...api.PublicKey) *apiError {
	a.log.Info("administrative action", "action", action, "client", x.Client, "on_behalf_of", x.OnBehalfOf, "accounts", len(keys))
	if a.audit == nil {
		return nil // not started: nothing can have been done yet
	}
	now := a.now().UTC()
	recs := make([]audit.Record, 0, max(len(keys), 1))
	for _, k := range keys {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, PublicKey: k.String(), Client: x.Client, OnBehalfOf: x.OnBehalfOf})
	}
	if len(recs) == 0 {
		recs = append(recs, audit.Record{Time: now, Kind: audit.KindAdmin, Type: action, Client: x.Client, OnBehalfOf: x.OnBehalfOf})
	}
	if err := a.audit.Append(recs...); err != nil {
		a.log.Error("audit log write failed; administrative action refused", "action", action, "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
	}
	return nil
}

// ceremonyGuard serves a ceremony route to the callers its Access names:
//
//   - AccessAdmin: an administrator (both proofs, directly or relayed);
//   - AccessAdminOrCoordinator: an administrator, or the cluster peer that
//     coordinates the ceremony (it polls and aborts with its own identity,
//     and holds no token after a restart); a peer asking about a ceremony
//     this signer does not know gets through to a 404, so that a
//     coordinator learns to send the plan;
//   - AccessCoordinator: the cluster peer that coordinates the ceremony;
//   - AccessParticipant: any cluster peer.
func (a *Appliance) ceremonyGuard(rt ceremony.Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		names := certNames(r)
		p, isPeer := a.peerNamed(names)
		var caller ceremony.Caller
		if isPeer {
			caller = ceremony.Caller{Peer: tss.ID(p.ID), Actor: adminapi.Actor{Client: p.TLSName}}
		}
		asPeer := isPeer && r.Header.Get("Authorization") == "" && r.Header.Get(adminapi.HeaderOnBehalfOf) == ""
		var e *apiError
		switch rt.Access {
		case ceremony.AccessAdmin:
			caller.Actor, e = a.authenticateAdmin(r, names, true)
		case ceremony.AccessAdminOrCoordinator:
			if !asPeer {
				caller.Actor, e = a.authenticateAdmin(r, names, true)
				break
			}
			id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
			if err != nil {
				e = refuse(http.StatusBadRequest, "bad_request", "%v", err)
				break
			}
			if coord, known := a.ceremonies.CoordinatorOf(id); known && coord != tss.ID(p.ID) {
				e = refuse(http.StatusForbidden, "unauthorised", "client %q is not the coordinator of ceremony %s, nor an administrator", p.TLSName, adminapi.CeremonyID(id))
			}
		case ceremony.AccessCoordinator:
			id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
			switch {
			case err != nil:
				e = refuse(http.StatusBadRequest, "bad_request", "%v", err)
			case !isPeer:
				e = refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster: only the ceremony's coordinator may do this", firstName(names))
			default:
				if coord, known := a.ceremonies.CoordinatorOf(id); known && coord != 0 && coord != tss.ID(p.ID) {
					e = refuse(http.StatusForbidden, "unauthorised", "only the ceremony's coordinator (participant %d) may do this", coord)
				}
			}
		case ceremony.AccessParticipant:
			if !isPeer {
				e = refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster", tlsClientName(r, a.policy))
			}
		default:
			e = refuse(http.StatusForbidden, "unauthorised", "route %s names no access", rt.Pattern)
		}
		if e != nil {
			a.logAdminRefusal(r, e)
			writeAdminError(w, e)
			return
		}
		defer caller.Actor.Token.Zero()
		rt.Handle(w, r, caller)
	}
}
