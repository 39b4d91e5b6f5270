package appliance

import (
	"net/http"
	"slices"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/ceremony"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// Every authorisation decision of the signer is made in this file, in one
// vocabulary of roles (DESIGN.md section 2, item 4). A client is named by
// its verified certificate (the fixed loopback name on the insecure
// loopback listener), and a name may hold several roles:
//
//   - signing client: has an authorization rule (policy.go), which grants
//     accounts and request types; nothing else grants a signing type;
//   - peer: a cluster participant, by the tls_name of cluster.participants
//     (a certificate naming two participants identifies neither);
//   - administrator: in admin.clients; it manages accounts, with the
//     administrative token as second proof, and is granted no signing type
//     by that role;
//   - self: this signer's own coordinator calling its participant in
//     process (selfClient), which its caller authorised already.
//
// The guards, each refusing with 403 (401 for a missing token) before a
// handler reads a body unless said otherwise:
//
//  1. admission (admit, every listener): the client has some role on the
//     listener at all (participantRole, coordinatorRole, operationsRole);
//  2. participant signing: the caller (partialCaller), the request type
//     and the ceremony deposit grant (partialRequest, after decoding), the
//     account (partialAccount);
//  3. coordinator signing: the caller (coordinatorCaller), the request
//     type (coordinatorRequest, after decoding), the duties-only rule
//     (coordinatorDuty, after verifying), the account (coordinatorAccount);
//  4. administrative proof (adminGuard): an administrator, or a peer
//     relaying one (Rampart-On-Behalf-Of), with the token;
//  5. keymanager (keymanagerGuard): the administrative proof, not relayed,
//     on the coordinator listeners;
//  6. ceremony routes (ceremonyGuard), by the Access each route names:
//     administrator, administrator or the ceremony's coordinator, the
//     coordinator, any participant. The one decision left to a handler is
//     the join's: the plan's coordinator is known only from the body, and
//     the handler compares it with the relaying peer the guard named.

// authz holds what the decisions need: the rules, the cluster's
// participants and administrators, the verifier of the administrative
// token (once loaded), and the ceremonies (once loaded), which grant the
// DEPOSIT of their own accounts and know who coordinates them.
type authz struct {
	policy       *policy
	participants []ParticipantConfig
	admins       []string
	keymanager   bool
	// token is the verifier of the administrative token; nil without
	// administrators (then no administrative request passes).
	token *adminapi.Verifier
	// ceremonies is nil until the ceremonies are loaded.
	ceremonies ceremonyAuthority
}

// ceremonyAuthority is what the guards ask the ceremonies
// (ceremony.Service).
type ceremonyAuthority interface {
	CoordinatorOf(id [32]byte) (coordinator tss.ID, known bool)
	AllowsDeposit(from tss.ID, key api.PublicKey, d *signing.Deposit) bool
}

func newAuthz(cfg *Config) *authz {
	return &authz{
		policy: newPolicy(cfg.Authorization), participants: cfg.Cluster.Participants,
		admins: cfg.Admin.Clients, keymanager: cfg.Keymanager != nil,
	}
}

// selfClient is the client name of the signer's own coordinator when it
// calls its participant in process. It contains a space, so no certificate
// the cluster CA issues (DNS names or IP addresses) can claim it.
const selfClient = "rampart coordinator (in process)"

// clientNamer extracts the authenticated client name of a request.
type clientNamer func(*http.Request, *policy) string

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

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// tlsClientName is the name authorisation rules see on the client's
// verified certificate: the first name that has a rule, else the first
// one.
func tlsClientName(r *http.Request, p *policy) string {
	names := certNames(r)
	for _, n := range names {
		if p.known(n) {
			return n
		}
	}
	return firstName(names)
}

// fixedClient names every request on a listener with no client
// certificates (the loopback coordinator listener).
func fixedClient(name string) clientNamer {
	return func(*http.Request, *policy) string { return name }
}

// peerNamed returns the cluster participant whose tls_name is among names,
// if exactly one is.
func (z *authz) peerNamed(names []string) (ParticipantConfig, bool) {
	var found ParticipantConfig
	for _, p := range z.participants {
		if slices.Contains(names, p.TLSName) {
			if found.ID != 0 && found.ID != p.ID {
				return ParticipantConfig{}, false // a certificate naming two participants identifies neither
			}
			found = p
		}
	}
	return found, found.ID != 0
}

func (z *authz) isAdmin(client string) bool {
	return client != "" && slices.Contains(z.admins, client)
}

// 1. Admission.

// participantRole names a client of the participant listener and says
// whether it has a role there: an authorisation rule, an administrator,
// or a cluster participant (ceremony messages). Names come from the
// configuration: a participant known only by one of its certificate's
// names is counted under its configured tls_name.
func (z *authz) participantRole(r *http.Request) (string, bool) {
	client := tlsClientName(r, z.policy)
	if z.policy.known(client) || z.isAdmin(client) {
		return client, true
	}
	if p, ok := z.peerNamed(certNames(r)); ok {
		return p.TLSName, true
	}
	return client, false
}

// coordinatorRole names a client of a coordinator listener and says
// whether it has a role there: an authorisation rule, or an administrator
// when the keymanager API is on.
func (z *authz) coordinatorRole(clientOf clientNamer) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		client := clientOf(r, z.policy)
		return client, z.policy.known(client) || (z.keymanager && z.isAdmin(client))
	}
}

// operationsClient is the one name every client of the operations listener
// is counted under: it serves only metrics and health, never a body.
const operationsClient = "operations"

func operationsRole(*http.Request) (string, bool) { return operationsClient, true }

// refuseNoRole answers a client with no role on a listener, before its
// body, and closes the connection.
func refuseNoRole(w http.ResponseWriter, client, listener string) {
	w.Header().Set("Connection", "close")
	web.WriteError(w, refuse(http.StatusForbidden, "unauthorised", "client %q has no role on the %s listener (no authorization rule, not a cluster participant, not in admin.clients)", client, listener))
}

// notAuthorised refuses, before the body is read, a client that may not
// use a signing endpoint at all (the caller guard's refusal), and closes
// its connection: its body, however large, is never read.
func notAuthorised(w http.ResponseWriter, client string, caller func(string) *apiError) *apiError {
	e := caller(client)
	if e != nil {
		w.Header().Set("Connection", "close")
	}
	return e
}

// refuseCaller is the refusal of a client that may not call an endpoint.
func refuseCaller(client string) *apiError {
	return refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client)
}

// 2. Participant signing (partial signatures of this signer's shares).

// partialCaller lets in a client that may ask this signer's participant
// anything at all: a signing client, or this signer itself.
func (z *authz) partialCaller(client string) *apiError {
	if client == selfClient || z.policy.known(client) {
		return nil
	}
	return refuseCaller(client)
}

// partialRequest authorises a decoded request's type: the client's rules
// (self may ask any), or the DEPOSIT of a key-generation ceremony this
// signer joined, asked for by that ceremony's coordinator with the
// ceremony's own parameters (ceremony.Service.AllowsDeposit), granted
// without a rule since peers are never granted DEPOSIT. granted says the
// ceremony's grant applied: the account check is then the ceremony's.
func (z *authz) partialRequest(client string, key api.PublicKey, req *signing.Request) (granted bool, e *apiError) {
	if req.Type == signing.TypeDeposit && req.Deposit != nil && z.ceremonies != nil {
		if p, ok := z.peerNamed([]string{client}); ok && z.ceremonies.AllowsDeposit(tss.ID(p.ID), key, req.Deposit) {
			return true, nil
		}
	}
	if client == selfClient || z.policy.requestType(client, req.Type) {
		return false, nil
	}
	return false, refuse(http.StatusForbidden, "unauthorised", "client %q may not request %s", client, req.Type)
}

// partialAccount authorises the use of an account: 403 for an account the
// client may not use (without saying whether it exists), except that a
// client that may use every account learns it is unknown (404).
func (z *authz) partialAccount(client string, key api.PublicKey, t signing.Type) *apiError {
	switch {
	case client == selfClient || z.policy.account(client, key, t):
		return nil
	case z.policy.allAccounts(client, t):
		return refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key)
	}
	return refuse(http.StatusForbidden, "unauthorised", "client %q may not use account %s", client, key)
}

// sees reports whether client may see account key in a listing: it may
// use it for some type.
func (z *authz) sees(client string, key api.PublicKey) bool {
	return client == selfClient || z.policy.account(client, key, anyType)
}

// 3. Coordinator signing (full signatures through the cluster).

// coordinatorCaller lets in a client that may ask this signer's
// coordinator anything: a signing client.
func (z *authz) coordinatorCaller(client string) *apiError {
	if z.policy.known(client) {
		return nil
	}
	return refuseCaller(client)
}

// coordinatorRequest authorises a decoded request's type at the
// coordinator: the client's rules grant it.
func (z *authz) coordinatorRequest(client string, req *signing.Request) *apiError {
	if !z.policy.requestType(client, req.Type) {
		return refuse(http.StatusForbidden, "unauthorised", "client %q may not request %s", client, req.Type)
	}
	return nil
}

// coordinatorDuty refuses, once the request verified, what is not a
// validator duty: the coordinator asks the other signers with this
// signer's identity, and peers are granted duty types only.
func (z *authz) coordinatorDuty(req *signing.Request) *apiError {
	if !req.Type.Duty() {
		return refuse(http.StatusForbidden, "coordinator_duty_only", "%s is not a validator duty: a signer coordinates duties only, since the other signers grant each other nothing else; use rampartctl exit, or a coordinator beside the client that uses the client's own identity at every signer (rampart-vc)", req.Type)
	}
	return nil
}

// coordinatorAccount authorises the use of an account at the coordinator,
// as partialAccount does at the participant.
func (z *authz) coordinatorAccount(client string, key api.PublicKey, t signing.Type) *apiError {
	switch {
	case z.policy.account(client, key, t):
		return nil
	case z.policy.allAccounts(client, t):
		return refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key)
	}
	return refuse(http.StatusForbidden, "unauthorised", "client %q may not use account %s", client, key)
}

// 4. The administrative proof.

// authenticateAdmin checks both proofs of an administrative request whose
// client carries names; relayed says whether a peer may relay it.
func (z *authz) authenticateAdmin(r *http.Request, names []string, relayed bool) (adminapi.Actor, *apiError) {
	var x adminapi.Actor
	peer, isPeer := z.peerNamed(names)
	obo := r.Header.Get(adminapi.HeaderOnBehalfOf)
	direct := ""
	for _, n := range names {
		if z.isAdmin(n) {
			direct = n
			break
		}
	}
	shown := firstName(names)
	switch {
	case obo != "":
		if !relayed || !isPeer {
			return x, refuse(http.StatusForbidden, "unauthorised", "client %q may not relay an administrator's request (%s): only a cluster peer fanning out an administrator's request does", shown, adminapi.HeaderOnBehalfOf)
		}
		if !z.isAdmin(obo) {
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
	case z.token == nil || !z.token.Check(tok):
		tok.Zero()
		return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "invalid bearer token")
	}
	x.Token = tok
	return x, nil
}

// adminHandler is an administrative handler, given who sent the request.
type adminHandler func(w http.ResponseWriter, r *http.Request, x adminapi.Actor)

// adminGuard serves h only to authenticated administrators (directly, or
// relayed by a peer when relayed is true), and zeroes the token after.
func (a *Appliance) adminGuard(relayed bool, h adminHandler) http.HandlerFunc {
	return a.guarded(func(r *http.Request) (adminapi.Actor, *apiError) {
		return a.authz.authenticateAdmin(r, certNames(r), relayed)
	}, h)
}

// 5. The keymanager API.

// keymanagerGuard serves h only to an administrator with the token, on the
// coordinator listeners (no relaying there), and appends action to the
// audit log first when it is not a read ("").
func (a *Appliance) keymanagerGuard(clientOf clientNamer, action string, h adminHandler) http.HandlerFunc {
	return a.guarded(func(r *http.Request) (adminapi.Actor, *apiError) {
		names := []string{clientOf(r, a.authz.policy)} // the loopback listener's fixed name
		if r.TLS != nil {
			names = certNames(r)
		}
		x, e := a.authz.authenticateAdmin(r, names, false)
		if e == nil && action != "" {
			if e = a.recordAdmin(x, action); e != nil {
				x.Token.Zero()
			}
		}
		return x, e
	}, h)
}

// 6. The ceremony routes.

// ceremonyGuard serves a ceremony route to the callers its Access names.
func (a *Appliance) ceremonyGuard(rt ceremony.Route) http.HandlerFunc {
	return a.guarded(func(r *http.Request) (adminapi.Actor, *apiError) {
		return a.authz.ceremonyCaller(r, rt.Access)
	}, func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		c := ceremony.Caller{Actor: x}
		if p, ok := a.authz.peerNamed(certNames(r)); ok {
			c.Peer = tss.ID(p.ID)
		}
		rt.Handle(w, r, c)
	})
}

// ceremonyCaller decides a ceremony route's Access:
//
//   - AccessAdmin: an administrator (both proofs, directly or relayed);
//   - AccessAdminOrCoordinator: an administrator, or the cluster peer that
//     coordinates the ceremony (it polls and aborts with its own identity,
//     and holds no token after a restart); a peer asking about a ceremony
//     this signer does not know gets through to a 404, so that a
//     coordinator learns to send the plan;
//   - AccessCoordinator: the cluster peer that coordinates the ceremony;
//   - AccessParticipant: any cluster peer.
func (z *authz) ceremonyCaller(r *http.Request, access ceremony.Access) (adminapi.Actor, *apiError) {
	names := certNames(r)
	p, isPeer := z.peerNamed(names)
	peer := adminapi.Actor{Client: p.TLSName}
	switch access {
	case ceremony.AccessAdmin:
		return z.authenticateAdmin(r, names, true)
	case ceremony.AccessAdminOrCoordinator:
		if !isPeer || r.Header.Get("Authorization") != "" || r.Header.Get(adminapi.HeaderOnBehalfOf) != "" {
			return z.authenticateAdmin(r, names, true)
		}
		id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
		if err != nil {
			return adminapi.Actor{}, refuse(http.StatusBadRequest, "bad_request", "%v", err)
		}
		if coord, known := z.ceremonies.CoordinatorOf(id); known && coord != tss.ID(p.ID) {
			return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "client %q is not the coordinator of ceremony %s, nor an administrator", p.TLSName, adminapi.CeremonyID(id))
		}
		return peer, nil
	case ceremony.AccessCoordinator:
		id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
		switch {
		case err != nil:
			return adminapi.Actor{}, refuse(http.StatusBadRequest, "bad_request", "%v", err)
		case !isPeer:
			return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster: only the ceremony's coordinator may do this", firstName(names))
		}
		if coord, known := z.ceremonies.CoordinatorOf(id); known && coord != 0 && coord != tss.ID(p.ID) {
			return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "only the ceremony's coordinator (participant %d) may do this", coord)
		}
		return peer, nil
	case ceremony.AccessParticipant:
		if !isPeer {
			return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster", tlsClientName(r, z.policy))
		}
		return peer, nil
	}
	return adminapi.Actor{}, refuse(http.StatusForbidden, "unauthorised", "the route names no access")
}

// guarded serves h to the caller decide lets in; a refusal is logged,
// counted and answered (with WWW-Authenticate for a missing token), and
// the caller's token is zeroed when h returns.
func (a *Appliance) guarded(decide func(*http.Request) (adminapi.Actor, *apiError), h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, e := decide(r)
		if e != nil {
			a.log.Warn("administrative request refused", "method", r.Method, "path", r.URL.Path, "client", firstName(certNames(r)),
				"on_behalf_of", r.Header.Get(adminapi.HeaderOnBehalfOf), "code", e.Code, "err", e.Msg)
			a.metrics.refusals.WithLabelValues(e.Reason).Inc()
			if e.Code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			web.WriteError(w, e)
			return
		}
		defer x.Token.Zero()
		h(w, r, x)
	}
}

// admit wraps every handler of a listener. Before the handler reads a byte
// of the body it decides from the client's identity alone: a client with
// no role on this listener gets 403 and its connection is closed (HTTP/2:
// GOAWAY) without its body being read; a client over its in-flight bound
// gets 429 with Retry-After (limits.go). An admitted request gets its body
// deadline and, for administrative routes, the longer write deadline.
func (a *Appliance) admit(g *gate, next http.Handler) http.Handler {
	inFlight := a.lmetrics.inFlight.WithLabelValues(g.listener)
	refused := func(reason string) { a.lmetrics.refusedRq.WithLabelValues(g.listener, reason).Inc() }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, ok := g.identify(r)
		if !ok {
			refused("no_role")
			a.metrics.refusals.WithLabelValues("unauthorised").Inc()
			g.noRole.log("request refused before its body: the client has no role on this listener", "listener", g.listener, "client", client, "method", r.Method, "path", r.URL.Path)
			refuseNoRole(w, client, g.listener)
			return
		}
		took, err := g.inFlight.acquire(client)
		if !took {
			refused("client_busy")
			a.metrics.refusals.WithLabelValues("client_busy").Inc()
			w.Header().Set("Retry-After", "1")
			if err != nil {
				web.WriteError(w, refuse(http.StatusServiceUnavailable, "unavailable", "the %s listener is serving too many clients at once; retry in a second", g.listener))
				return
			}
			web.WriteError(w, refuse(http.StatusTooManyRequests, "client_busy", "client %q already has %d requests in flight on the %s listener (listen.limits.max_in_flight_per_client); retry once earlier ones are answered", client, g.inFlight.max, g.listener))
			return
		}
		defer g.inFlight.release(client)
		inFlight.Inc()
		defer inFlight.Dec()

		l := a.cfg.Listen.Limits
		rc := http.NewResponseController(w)
		now := time.Now()
		if r.ContentLength != 0 {
			// Only with a body: without one, net/http already waits in
			// the background for the client's next bytes, and a read
			// deadline there would cancel the request's context.
			_ = rc.SetReadDeadline(now.Add(l.ReadBodyTimeout))
		}
		if isAdminPath(r.URL.Path) {
			_ = rc.SetWriteDeadline(now.Add(l.AdminTimeout))
		} else {
			_ = rc.SetWriteDeadline(now.Add(a.cfg.signingWriteTimeout()))
		}
		next.ServeHTTP(w, r)
	})
}
