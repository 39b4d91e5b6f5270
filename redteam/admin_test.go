//go:build redteam

package redteam_test

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
)

// Attacks on the administrative role (issue 13 item 1): every
// administrative request, at every signer, needs the administrator's mTLS
// identity (or a peer's relaying it, naming it in Rampart-On-Behalf-Of) and
// the administrative bearer token; a removal stops signing at once but
// destroys the sealed share only after accounts.destroy_after, and can be
// undone until then.

// adminDo sends an administrative request to signer i's participant
// listener with the identity's certificate, the bearer token (none when
// empty) and a Rampart-On-Behalf-Of header (none when empty).
// pendingExt ends a removed share's pending-destruction record in the
// shares directory: the layout an operator sees, spelled out here as an
// attacker reading the disk would.
const pendingExt = ".removed"

func (c *cluster) adminDo(ctx context.Context, i int, identity, method, path string, body []byte, token, onBehalfOf string) reply {
	var h []string
	if token != "" {
		h = append(h, "Authorization", "Bearer "+token)
	}
	if onBehalfOf != "" {
		h = append(h, adminapi.HeaderOnBehalfOf, onBehalfOf)
	}
	return c.do(ctx, i, appliance.ListenerParticipant, identity, method, path, body, h...)
}

// token is the cluster's administrative token, as rampartctl holds it.
func (c *cluster) token() string { return c.lc.AdminToken.Hex() }

// otherToken is a well-formed token that is not the cluster's.
func otherToken(t *testing.T) string {
	t.Helper()
	tok, err := adminapi.NewToken(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Hex()
}

// authRefused reports whether an administrative request was refused by
// authentication (401 or 403), before it did anything.
func authRefused(r reply) bool {
	return r.err == nil && (r.code == http.StatusUnauthorized || r.code == http.StatusForbidden)
}

// removeEverywhere removes key at every signer as rampartctl does (the
// administrator's identity and token at each), wanting each to have held
// it.
func (c *cluster) removeEverywhere(t *testing.T, h *holeRecord, key api.PublicKey) {
	t.Helper()
	for i := range c.n {
		r := c.adminDo(context.Background(), i, localcluster.AdminClient, http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil, c.token(), "")
		h.note(r.code, r.err)
		var rr adminapi.RemoveResponse
		if r.err != nil || r.code != http.StatusOK || json.Unmarshal(r.body, &rr) != nil || !rr.Removed || len(rr.SlashingProtection) == 0 {
			t.Fatalf("signer %d: removing %s with the administrator's identity and token: %d %v %s", i+1, key, r.code, r.err, short(r.body))
		}
	}
}

// requireNoSignature wants every participant to answer want (404 for an
// account that no longer signs) and the coordinators to give no
// signature, and the attacker to hold no full signature of m.
func (c *cluster) requireNoSignature(t *testing.T, h *holeRecord, what string, key api.PublicKey, m message, want int) {
	t.Helper()
	ctx := context.Background()
	e := newEvidence(c)
	for i, r := range c.participantsAll(ctx, e, key, m) {
		h.note(r.code, r.err)
		if r.err != nil || r.code != want {
			t.Errorf("%s: participant %d answered %d %v %s, want %d", what, i+1, r.code, r.err, short(r.body), want)
		}
	}
	for i := range c.n {
		r := c.coordinatorSingle(ctx, e, i, key, m)
		h.note(r.code, r.err)
		if r.err == nil && r.code == http.StatusOK {
			t.Errorf("%s: coordinator %d signed", what, i+1)
		}
	}
	if e.signed(key, m) {
		t.Errorf("%s: the attacker holds a full signature", what)
	}
}

// adminProbe is an administrative endpoint, called so that passing
// authentication is harmless: an empty stage, an unknown account, an
// invalid ceremony.
type adminProbe struct {
	name, method, path string
	body               []byte
}

func adminProbes() []adminProbe {
	var unknown api.PublicKey
	unknown[0], unknown[47] = 0xa0, 0x02
	u := unknown.String()
	keys := mustJSON(map[string]any{"keys": []string{u}})
	return []adminProbe{
		{"stage", http.MethodPost, "/rampart/v1/accounts", []byte(`{"accounts":[]}`)},
		{"activate", http.MethodPost, "/rampart/v1/accounts/activate", keys},
		{"discard", http.MethodPost, "/rampart/v1/accounts/discard", keys},
		{"proof", http.MethodPost, "/rampart/v1/accounts/proof", keys},
		{"DELETE", http.MethodDelete, "/rampart/v1/accounts/" + u, nil},
		{"removed list", http.MethodGet, "/rampart/v1/accounts/removed", nil},
		{"restore", http.MethodPost, "/rampart/v1/accounts/" + u + "/restore", nil},
		{"ceremony start", http.MethodPost, "/rampart/v1/ceremonies", []byte(`{"timeout":"not-a-duration"}`)},
		{"ceremony join", http.MethodPut, "/rampart/v1/ceremonies/" + strings.Repeat("00", 32), []byte(`{}`)},
	}
}

// TestHole1AdminRequestNeedsTokenAtEverySigner calls every administrative
// endpoint of every signer of the 3-of-5 cluster, each time as the
// administrator or as a certificate named after peer signer-2 (a stolen
// signer key, or a second certificate from the CA), with and without the
// token and Rampart-On-Behalf-Of. Only the administrator with the token,
// and a peer relaying the administrator's request with the token, pass
// authentication; on 108c238 the admin certificate alone, and any peer's,
// passed at every signer.
func TestHole1AdminRequestNeedsTokenAtEverySigner(t *testing.T) {
	h := hole(t, 1, "each signer checks both administrative proofs")
	c := sharedCluster(t, spec35)
	ctx := context.Background()
	good, bad := c.token(), otherToken(t)
	admin := localcluster.AdminClient
	callers := []struct {
		name, identity, token, onBehalfOf string
		pass                              bool
	}{
		{"administrator with the token", admin, good, "", true},
		{"peer relaying the administrator, with the token", forgedPeer, good, admin, true},
		{"administrator without a token", admin, "", "", false},
		{"administrator with another token", admin, bad, "", false},
		{"administrator with a malformed token", admin, "abc", "", false},
		{"administrator posing as a relaying peer", admin, good, admin, false},
		{"peer without relaying, with the token", forgedPeer, good, "", false},
		{"peer relaying the administrator, without a token", forgedPeer, "", admin, false},
		{"peer relaying the administrator, with another token", forgedPeer, bad, admin, false},
		{"peer relaying a validator client, with the token", forgedPeer, good, validatorClient, false},
		{"validator client with the token", validatorClient, good, "", false},
		{"validator client relaying the administrator, with the token", validatorClient, good, admin, false},
	}
	var b strings.Builder
	probes := adminProbes()
	b.WriteString("| Caller |")
	for _, p := range probes {
		b.WriteString(" " + p.name + " |")
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(probes)) + "\n")
	for _, cl := range callers {
		fmt.Fprintf(&b, "| %s |", cl.name)
		for _, p := range probes {
			codes := map[int]int{}
			for i := range c.n {
				r := c.adminDo(ctx, i, cl.identity, p.method, p.path, p.body, cl.token, cl.onBehalfOf)
				if cl.pass {
					h.pass("authenticated, probe answered " + reason(r.code, r.err))
				} else {
					h.note(r.code, r.err)
				}
				codes[r.code]++
				switch {
				case r.err != nil:
					t.Errorf("%s, %s at signer %d: %v", cl.name, p.name, i+1, r.err)
				case cl.pass && authRefused(r):
					t.Errorf("%s, %s at signer %d: refused %d %s", cl.name, p.name, i+1, r.code, short(r.body))
				case !cl.pass && !authRefused(r):
					t.Errorf("%s, %s at signer %d: passed authentication (%d %s)", cl.name, p.name, i+1, r.code, short(r.body))
				}
			}
			fmt.Fprintf(&b, " %s |", statusSet(codes))
		}
		b.WriteString("\n")
	}
	t.Logf("Administrative endpoints at the five signers (status: count):\n%s", b.String())
}

// statusSet renders {403: 5} as "403" and mixed answers as "403×4 401×1".
func statusSet(codes map[int]int) string {
	if len(codes) == 1 {
		for code := range codes {
			return fmt.Sprint(code)
		}
	}
	var parts []string
	for code, n := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", code, n))
	}
	return strings.Join(parts, " ")
}

// TestHole1CompromisedPeerGetsNoExitDepositOrGeneric: an attacker holding
// a certificate named after peer signer-2 (its stolen key, or a second
// certificate from the CA) and signer-2's own share asks the other signers
// for what the peer role does not grant: a VOLUNTARY_EXIT, a DEPOSIT with
// its own withdrawal credentials, GENERIC in the exit domain and in a
// domain no typed request uses. Every participant must refuse a partial
// (with signer-2's share, any one partial more than t-1 would do in a
// 2-of-3), no coordinator may sign, and without the token the same
// certificate cannot remove, stage, restore or start a ceremony.
func TestHole1CompromisedPeerGetsNoExitDepositOrGeneric(t *testing.T) {
	h := hole(t, 1, "a peer's certificate signs duties only and administers nothing")
	c := sharedCluster(t, spec35)
	ctx := context.Background()
	key := c.sacrifice(t)
	e := newEvidence(c)
	withdrawal := [32]byte{0x01, 11: 0xee, 31: 0x66}
	gv := c.net.GenesisForkVersion()
	msgs := []message{
		newMessage(c.net, "VOLUNTARY_EXIT", mustJSON(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(c.net, 6),
			"voluntary_exit": map[string]any{"epoch": "6", "validator_index": "9"}})),
		newMessage(c.net, "DEPOSIT with the attacker's withdrawal credentials", mustJSON(map[string]any{"type": "DEPOSIT",
			"deposit": map[string]any{"pubkey": key.String(), "withdrawal_credentials": hexOf(withdrawal[:]), "amount": "32000000000", "genesis_fork_version": hexOf(gv[:])}})),
		newMessage(c.net, "GENERIC in the voluntary exit domain", genericBody(c.net, [4]byte{0x04, 0, 0, 0}, [32]byte{0x66, 0x04})),
		newMessage(c.net, "GENERIC in an untyped domain", genericBody(c.net, untypedDomain, [32]byte{0x66, 0xf0})),
	}
	for _, m := range msgs {
		for i := range c.n {
			r := c.participantAs(ctx, e, i, forgedPeer, key, m)
			h.note(r.code, r.err)
			if r.err == nil && r.code == http.StatusOK {
				t.Errorf("%s: participant %d released a partial signature to a certificate named %s", m.what, i+1, forgedPeerName)
			}
			r = c.do(ctx, i, appliance.ListenerCoordinator, forgedPeer, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), m.body)
			h.note(r.code, r.err)
			if r.err == nil && r.code == http.StatusOK {
				t.Errorf("%s: coordinator %d signed for a certificate named %s", m.what, i+1, forgedPeerName)
			}
		}
		if n := e.partialCount(key, m); n > 0 || e.signed(key, m) {
			t.Errorf("%s: the compromised peer collected %d partial signatures (full signature: %v)", m.what, n, e.signed(key, m))
		}
	}

	// Administrative actions on a real account, without the token: each
	// would destroy, replace or bring back key material.
	stage := mustJSON(map[string]any{"accounts": []map[string]any{{"composite_public_key": key.String(), "threshold": "3"}}})
	actions := []adminProbe{
		{"remove", http.MethodDelete, "/rampart/v1/accounts/" + key.String(), nil},
		{"stage", http.MethodPost, "/rampart/v1/accounts", stage},
		{"restore", http.MethodPost, "/rampart/v1/accounts/" + key.String() + "/restore", nil},
		{"ceremony start", http.MethodPost, "/rampart/v1/ceremonies", mustJSON(map[string]any{"validators": 1, "threshold": 3})},
	}
	bad := otherToken(t)
	for _, a := range actions {
		for _, how := range []struct{ name, token, onBehalfOf string }{
			{"on its own, without a token", "", ""},
			{"relaying the administrator, without a token", "", localcluster.AdminClient},
			{"relaying the administrator, with another token", bad, localcluster.AdminClient},
		} {
			for i := range c.n {
				r := c.adminDo(ctx, i, forgedPeer, a.method, a.path, a.body, how.token, how.onBehalfOf)
				h.note(r.code, r.err)
				if !authRefused(r) {
					t.Errorf("%s by a certificate named %s %s, at signer %d: %d %v %s", a.name, forgedPeerName, how.name, i+1, r.code, r.err, short(r.body))
				}
			}
		}
	}
	c.requireSharesSign(t, key)
}

// participantAs asks participant i for a partial signature of m by key
// with the identity's certificate, and records a valid one as evidence.
func (c *cluster) participantAs(ctx context.Context, e *evidence, i int, identity string, key api.PublicKey, m message) reply {
	r := c.do(ctx, i, appliance.ListenerParticipant, identity, http.MethodPost, "/api/v1/eth2/distributed/sign/"+key.String(), m.body)
	if r.err != nil || r.code != http.StatusOK {
		return r
	}
	ps, err := api.DecodePartialSignature(r.body)
	if err == nil {
		e.addPartial(i, key, m, ps.ParticipantID, ps.SigningRoot, ps.Signature, fmt.Sprintf("participant %d as %s", i+1, identity))
	}
	return r
}

// ctl runs rampartctl with args and returns its exit status and output.
func ctl(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binaries(t)["rampartctl"], args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("rampartctl %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// clusterFile is the cluster file rampartctl reads.
func (c *cluster) clusterFile() string { return filepath.Join(c.lc.Dir, "cluster.yaml") }

// TestHole1CancelledRemovalSignsAgain: a validator signs an attestation
// and a block, is removed at every signer (it signs nothing: 404), then
// restored within the grace period with rampartctl accounts restore. It
// must sign again, with its whole slashing history: the conflicting
// attestation, the surrounding one and the other block of the slot it
// signed before its removal are refused (412) at every participant and
// coordinator. On 108c238 a removal destroyed the share at once.
func TestHole1CancelledRemovalSignsAgain(t *testing.T) {
	h := hole(t, 1, "a removal can be undone, history intact")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	r := random()
	e, slot := c.epochs(4), c.slot()
	// Signed at every participant, so each has them in its history (a
	// coordinator may stop asking once t answered).
	ev := newEvidence(c)
	for _, m := range []message{attestation(c.net, e+1, e+2, randomRoot(r)), block(c.net, slot, randomRoot(r))} {
		for i, rp := range c.participantsAll(context.Background(), ev, key, m) {
			if rp.err != nil || rp.code != http.StatusOK {
				t.Fatalf("%s at participant %d before the removal: %d %v %s", m.what, i+1, rp.code, rp.err, short(rp.body))
			}
		}
	}

	c.removeEverywhere(t, h, key)
	c.requireNoSignature(t, h, "a new attestation of the removed key", key, attestation(c.net, e+2, e+3, randomRoot(r)), http.StatusNotFound)

	code, out := ctl(t, nil, "accounts", "restore", "--cluster", c.clusterFile(), key.String())
	h.note(map[bool]int{true: 200, false: 500}[code == 0], nil)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("restored at %d of %d signers", c.n, c.n)) {
		t.Fatalf("rampartctl accounts restore: exit %d:\n%s", code, out)
	}
	t.Logf("rampartctl accounts restore:\n%s", out)

	for _, m := range []message{
		attestation(c.net, e+1, e+2, randomRoot(r)), // double vote
		attestation(c.net, e, e+3, randomRoot(r)),   // surrounds the signed one
		block(c.net, slot, randomRoot(r)),           // double proposal
	} {
		c.attackBothPaths(t, h, "after the restore, "+m.what+" conflicting with one signed before the removal", key, m.body, http.StatusPreconditionFailed)
	}
	next := attestation(c.net, e+2, e+3, randomRoot(r))
	c.requireSigns(t, "after the restore, the next attestation", key, next.body)
	h.note(http.StatusOK, nil)
}

// TestHole1RemovalDisablesAtOnceDestroysAfterGrace removes a validator at
// every signer of a cluster whose clock the test moves. At once the key
// signs nothing (404 at every participant, no signature anywhere), but its
// sealed share waits in a pending-destruction record beside the shares,
// listed by every signer and rampartctl accounts removed and counted in
// metrics and health. A minute before accounts.destroy_after it is still
// there; a minute after, every signer has destroyed it and it cannot be
// restored. On 108c238 the share file was deleted by the request itself.
func TestHole1RemovalDisablesAtOnceDestroysAfterGrace(t *testing.T) {
	h := hole(t, 1, "removal disables at once, destroys after the grace period")
	c := sharedCluster(t, clocked23)
	ctx := context.Background()
	key := c.sacrifice(t)
	r := random()
	c.requireSigns(t, "a selection proof before the removal", key, aggregationSlotBody(c.net, 7*32))
	grace := c.lc.Signers[0].Config.Accounts.DestroyAfter
	removedAt := c.clock.Now()
	c.removeEverywhere(t, h, key)

	c.requireNoSignature(t, h, "right after the removal, an attestation", key, attestation(c.net, 2000, 2001, randomRoot(r)), http.StatusNotFound)
	pendingFiles := func(i int) (records []string, share bool) {
		dir := c.lc.Signers[i].Config.Accounts.SharesDir
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			switch {
			case de.Name() == key.String()+appliance.ShareFileExt:
				share = true
			case strings.HasPrefix(de.Name(), key.String()+".") && strings.HasSuffix(de.Name(), pendingExt):
				records = append(records, de.Name())
			}
		}
		return records, share
	}
	removedList := func(i int) []adminapi.PendingDestruction {
		rp := c.adminDo(ctx, i, localcluster.AdminClient, http.MethodGet, "/rampart/v1/accounts/removed", nil, c.token(), "")
		var rr adminapi.RemovedResponse
		if rp.err != nil || rp.code != http.StatusOK || json.Unmarshal(rp.body, &rr) != nil {
			t.Fatalf("signer %d: the list of removed shares: %d %v %s", i+1, rp.code, rp.err, short(rp.body))
		}
		var out []adminapi.PendingDestruction
		for _, pd := range rr.Removed {
			if pd.PublicKey == key {
				out = append(out, pd)
			}
		}
		return out
	}
	for i := range c.n {
		records, share := pendingFiles(i)
		if share || len(records) != 1 {
			t.Errorf("signer %d after the removal: share file present %v, pending-destruction records %v; want the share moved into one record", i+1, share, records)
		}
		l := removedList(i)
		if len(l) != 1 || l[0].Client != localcluster.AdminClient || l[0].Due.Before(removedAt.Add(grace)) || l[0].Due.After(c.clock.Now().Add(grace)) {
			t.Errorf("signer %d lists %+v, want one pending destruction by %s due %v after the removal", i+1, l, localcluster.AdminClient, grace)
		}
		if v, err := c.metric(i, "rampart_accounts_pending_destruction"); err != nil || v != 1 {
			t.Errorf("signer %d: rampart_accounts_pending_destruction %v %v, want 1", i+1, v, err)
		}
		if hr, err := c.health(i); err != nil || !strings.Contains(string(hr.body), `"accounts_pending_destruction":{"count":1`) {
			t.Errorf("signer %d: health does not show the pending destruction: %v %s", i+1, err, short(hr.body))
		}
	}
	if code, out := ctl(t, nil, "accounts", "removed", "--cluster", c.clusterFile()); code != 0 || strings.Count(out, key.String()) < c.n {
		t.Errorf("rampartctl accounts removed: exit %d, want the key listed by each of %d signers:\n%s", code, c.n, out)
	} else {
		t.Logf("rampartctl accounts removed:\n%s", out)
	}

	// A minute before the end of the grace period: still there.
	c.clock.Advance(removedAt.Add(grace - time.Minute).Sub(c.clock.Now()))
	for i := range c.n {
		if l := removedList(i); len(l) != 1 {
			t.Errorf("signer %d: a minute before the end of the grace period, the removed share is gone", i+1)
		}
	}
	// A minute after: destroyed at every signer, by the signer's own
	// destroyer (the test waits for that state, then asks).
	c.clock.Advance(2 * time.Minute)
	for i := range c.n {
		if err := waitFor(time.Minute, func() bool { records, _ := pendingFiles(i); return len(records) == 0 }); err != nil {
			t.Errorf("signer %d: the removed share is still on disk after its grace period", i+1)
		}
		if l := removedList(i); len(l) != 0 {
			t.Errorf("signer %d still lists %+v after the grace period", i+1, l)
		}
		rp := c.adminDo(ctx, i, localcluster.AdminClient, http.MethodPost, "/rampart/v1/accounts/"+key.String()+"/restore", nil, c.token(), "")
		h.note(rp.code, rp.err)
		if rp.err != nil || rp.code != http.StatusNotFound {
			t.Errorf("signer %d: restoring a destroyed share: %d %v %s, want 404", i+1, rp.code, rp.err, short(rp.body))
		}
		if v, err := c.metric(i, "rampart_accounts_pending_destruction"); err != nil || v != 0 {
			t.Errorf("signer %d: rampart_accounts_pending_destruction %v %v after the destruction, want 0", i+1, v, err)
		}
	}
	c.requireNoSignature(t, h, "after the destruction, an attestation", key, attestation(c.net, 2002, 2003, randomRoot(r)), http.StatusNotFound)
}

// TestHole1BothRolesNeedExplicitConsent: a name that is both a cluster
// peer and an administrator stops the signer at start with status 2,
// naming the override; with admin.allow_peer_administrators the same
// configuration starts (TestHole1SignerNameCannotBeAdministrator checks
// appliance.New's refusal).
func TestHole1BothRolesNeedExplicitConsent(t *testing.T) {
	h := hole(t, 1, "one name in both roles only with allow_peer_administrators")
	c, p := singleSigner(t)
	peer := c.lc.Signers[0].Name
	both := variant(t, p, "both-roles", func(cfg *appliance.Config) {
		cfg.Admin.Clients = []string{localcluster.AdminClient, peer}
	})
	if runToExit(t, p, "admin.clients naming peer "+peer, both, 2) {
		h.noteAs("exit status 2")
		if !strings.Contains(tail(p.log, 3), "allow_peer_administrators") {
			t.Errorf("the refusal does not name admin.allow_peer_administrators:\n%s", tail(p.log, 3))
		}
	}
	consent := variant(t, p, "both-roles-consent", func(cfg *appliance.Config) {
		cfg.Admin.Clients = []string{localcluster.AdminClient, peer}
		cfg.Admin.AllowPeerAdministrators = true
	})
	if err := p.start(consent); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Errorf("with admin.allow_peer_administrators: %v", err)
	}
	h.note(http.StatusOK, nil)
	p.stop()
}
