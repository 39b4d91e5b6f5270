//go:build redteam

package redteam_test

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
)

// Hole tests: what must be true once issue 13's items are fixed. Each
// fails on 108c238 and is skipped unless REDTEAM_EXPECT_FIXED lists its
// item (see the package documentation). Tests without "Hole" in their name
// check what already holds.

// refused reports whether a reply is a refusal by authorisation or by the
// request's validity: no signature, no action.
func refused(r reply) bool {
	return r.err != nil || (r.code >= 400 && r.code < 500)
}

// requireSharesSign checks that every signer still holds key's share and
// that the cluster still signs with it: a selection proof (no slashing
// state) from every participant and from a coordinator.
func (c *cluster) requireSharesSign(t *testing.T, key api.PublicKey) {
	t.Helper()
	ctx := context.Background()
	e := newEvidence(c)
	m := newMessage(c.net, "selection proof", aggregationSlotBody(c.net, 6*32+uint64(time.Now().UnixNano()%1000)))
	for i, r := range c.participantsAll(ctx, e, key, m) {
		if r.err != nil || r.code != http.StatusOK {
			t.Errorf("signer %d no longer signs with %s: %d %v %s", i+1, key, r.code, r.err, short(r.body))
		}
	}
	if r := c.coordinatorSingle(ctx, e, 0, key, m); r.err != nil || r.code != http.StatusOK {
		t.Errorf("the cluster no longer signs with %s: %d %v %s", key, r.code, r.err, short(r.body))
	}
}

// TestHole1PeerNamedCertificateCannotDeleteShare: a second certificate
// from the cluster CA naming signer-2 (or signer-2's own key, stolen) asks
// every other signer to delete a validator's share. On 108c238 each
// answers 200 and the share is gone; a signer identity must never hold
// administrative power by default.
func TestHole1PeerNamedCertificateCannotDeleteShare(t *testing.T) {
	h := hole(t, 1, "roles: a peer signer is no administrator")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	for i, s := range c.lc.Signers {
		if s.Name == forgedPeerName {
			continue
		}
		r := c.do(context.Background(), i, appliance.ListenerParticipant, forgedPeer, http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil)
		h.note(r.code, r.err)
		if !refused(r) {
			t.Errorf("signer %d: DELETE of %s by a certificate named %s answered %d %s", i+1, key, forgedPeerName, r.code, short(r.body))
		}
	}
	c.requireSharesSign(t, key)
}

// TestHole1AdminCertificateWithoutTokenCannotDelete: the operator's
// certificate alone, without the bearer token, asks every signer to delete
// a validator's share. On 108c238 all three shares of the 2-of-3 cluster
// are destroyed.
func TestHole1AdminCertificateWithoutTokenCannotDelete(t *testing.T) {
	h := hole(t, 1, "administrative requests carry the bearer token at every signer")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	for i := range c.lc.Signers {
		r := c.do(context.Background(), i, appliance.ListenerParticipant, localcluster.AdminClient, http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil)
		h.note(r.code, r.err)
		if !refused(r) {
			t.Errorf("signer %d: DELETE of %s by the admin certificate without a token answered %d %s", i+1, key, r.code, short(r.body))
		}
	}
	c.requireSharesSign(t, key)
}

// TestHole1SignerNameCannotBeAdministrator: a configuration naming a peer
// signer in admin.clients (what localcluster and the example configuration
// do on 108c238) must be refused unless the operator says so explicitly.
func TestHole1SignerNameCannotBeAdministrator(t *testing.T) {
	h := hole(t, 1, "roles: one name cannot hold both roles by default")
	c := sharedCluster(t, spec23)
	cfg := *c.lc.Signers[0].Config
	cfg.Admin.Clients = []string{localcluster.AdminClient, c.lc.Signers[1].Name}
	if _, err := appliance.New(&cfg, appliance.Options{}); err == nil {
		t.Errorf("a configuration with peer %s in admin.clients was accepted", c.lc.Signers[1].Name)
	} else {
		h.noteAs("appliance.New refused")
		t.Logf("refused: %v", err)
	}
}

// typedDomains are the domain types that have a typed request (or, for
// BLS-to-execution changes, a signature the signer must not make blindly):
// GENERIC must never sign in them, whoever asks (issue 13 item 2).
var typedDomains = []struct {
	name string
	typ  [4]byte
}{
	{"beacon proposer", [4]byte{0x00, 0, 0, 0}},
	{"beacon attester", [4]byte{0x01, 0, 0, 0}},
	{"randao", [4]byte{0x02, 0, 0, 0}},
	{"deposit", [4]byte{0x03, 0, 0, 0}},
	{"voluntary exit", [4]byte{0x04, 0, 0, 0}},
	{"selection proof", [4]byte{0x05, 0, 0, 0}},
	{"aggregate and proof", [4]byte{0x06, 0, 0, 0}},
	{"sync committee", [4]byte{0x07, 0, 0, 0}},
	{"sync committee selection proof", [4]byte{0x08, 0, 0, 0}},
	{"contribution and proof", [4]byte{0x09, 0, 0, 0}},
	{"BLS to execution change", [4]byte{0x0a, 0, 0, 0}},
	{"application builder", [4]byte{0, 0, 0, 0x01}},
	// Not typed today, but of the consensus form 0xXX000000 that later
	// forks take their domains from: refused, failing closed.
	{"consensus form 0xf0000000 (a later fork's)", [4]byte{0xf0, 0, 0, 0}},
	// Rampart's own: the proof of possession an import checks.
	{"Rampart proof of possession (RPOP)", [4]byte{'R', 'P', 'O', 'P'}},
}

// untypedDomain is a domain type no request type uses, outside the
// consensus form 0xXX000000 and Rampart's own domains: the only kind
// GENERIC serves.
var untypedDomain = [4]byte{0xf0, 0x0f, 0x5a, 0xa5}

// TestHole2GenericRefusedInTypedDomains: GENERIC over the domain of a
// typed request, asked by an administrator or by a client granted GENERIC
// only, at a coordinator and straight at a participant. On 108c238 every
// domain but proposer and attester signs, so an administrator gets the
// VOLUNTARY_EXIT the policy refuses it, and a DEPOSIT with its own
// withdrawal credentials. Being an administrator also grants no signing
// type: its GENERIC in an untyped domain is refused too.
func TestHole2GenericRefusedInTypedDomains(t *testing.T) {
	h := hole(t, 2, "GENERIC only for untyped domains, administrators get no signing type")
	c := sharedCluster(t, spec23)
	ctx := context.Background()
	key := c.keys[0]
	var signed []string
	asked := 0
	var b strings.Builder
	b.WriteString("| Domain | admin at coordinator | admin at participant | vc-generic at coordinator | vc-generic at participant |\n| --- | --- | --- | --- | --- |\n")
	domains := append(typedDomains, struct {
		name string
		typ  [4]byte
	}{"untyped 0xf00f5aa5 (administrator only)", untypedDomain})
	for _, d := range domains {
		body := genericBody(c.net, d.typ, [32]byte{0x5e, d.typ[0], d.typ[3]})
		fmt.Fprintf(&b, "| %s |", d.name)
		for _, id := range []string{localcluster.AdminClient, genericClient} {
			for _, at := range []struct {
				listener, path string
			}{
				{appliance.ListenerCoordinator, "/api/v1/eth2/sign/" + key.String()},
				{appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/" + key.String()},
			} {
				if d.typ == untypedDomain && id == genericClient {
					b.WriteString(" (granted) |")
					continue
				}
				r := c.do(ctx, 1, at.listener, id, http.MethodPost, at.path, body)
				h.note(r.code, r.err)
				fmt.Fprintf(&b, " %d |", r.code)
				asked++
				if !refused(r) {
					signed = append(signed, fmt.Sprintf("%s by %s at the %s", d.name, id, at.listener))
				}
			}
		}
		b.WriteString("\n")
	}
	t.Logf("GENERIC requests at signer 2:\n%s", b.String())
	if len(signed) > 0 {
		t.Errorf("%d of %d GENERIC requests signed in domains they must not: %s", len(signed), asked, strings.Join(signed, "; "))
	}
}

// TestGenericServesUntypedDomainToGrantedClient: a client granted GENERIC
// gets a signature in a domain no typed request covers from every
// participant (as its own coordinator: a signer coordinates validator
// duties only, since peers grant each other nothing else, so a coordinator
// refuses GENERIC with 403), and the partials recover the validator's
// signature. Neither it nor an administrator gets a typed signature it
// was not granted, at a coordinator or a participant.
func TestGenericServesUntypedDomainToGrantedClient(t *testing.T) {
	c := sharedCluster(t, spec23)
	ctx := context.Background()
	key := c.keys[0]
	e := newEvidence(c)
	m := newMessage(c.net, "GENERIC untyped", genericBody(c.net, untypedDomain, [32]byte{0x77}))
	for i := range c.n {
		if r := c.participantAs(ctx, e, i, genericClient, key, m); r.err != nil || r.code != http.StatusOK {
			t.Errorf("GENERIC in an untyped domain by a client granted it, at participant %d: %d %v %s", i+1, r.code, r.err, short(r.body))
		}
	}
	if !e.signed(key, m) || len(e.invalid) > 0 {
		t.Errorf("the partials do not recover the validator's signature (%d partials): %v", e.partialCount(key, m), e.invalid)
	}
	if r := c.do(ctx, 0, appliance.ListenerCoordinator, genericClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), m.body); r.err != nil || r.code != http.StatusForbidden {
		t.Errorf("GENERIC at a coordinator: %d %v %s, want 403 (a signer coordinates validator duties only)", r.code, r.err, short(r.body))
	}
	exit := mustJSON(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(c.net, 6), "voluntary_exit": map[string]any{"epoch": "6", "validator_index": "9"}})
	for _, id := range []string{genericClient, localcluster.AdminClient} {
		for name, body := range map[string][]byte{
			"VOLUNTARY_EXIT": exit,
			"ATTESTATION":    attestationBody(c.net, 3, 4, [32]byte{0x99}),
		} {
			for _, at := range []struct{ listener, path string }{
				{appliance.ListenerCoordinator, "/api/v1/eth2/sign/" + key.String()},
				{appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/" + key.String()},
			} {
				if r := c.do(ctx, 0, at.listener, id, http.MethodPost, at.path, body); r.err != nil || r.code != http.StatusForbidden {
					t.Errorf("%s by %s at the %s listener: %d %v %s, want 403", name, id, at.listener, r.code, r.err, short(r.body))
				}
			}
		}
	}
}

// attackBothPaths sends body for key to coordinator 1 and straight to
// every participant, and wants status want from each.
func (c *cluster) attackBothPaths(t *testing.T, h *holeRecord, what string, key api.PublicKey, body []byte, want int) {
	t.Helper()
	ctx := context.Background()
	r := c.do(ctx, 0, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), body)
	h.note(r.code, r.err)
	if r.err != nil || r.code != want {
		t.Errorf("%s at coordinator 1: %d %v %s, want %d", what, r.code, r.err, short(r.body), want)
	}
	for i := range c.n {
		r := c.do(ctx, i, appliance.ListenerParticipant, validatorClient, http.MethodPost, "/api/v1/eth2/distributed/sign/"+key.String(), body)
		h.note(r.code, r.err)
		if r.err != nil || r.code != want {
			t.Errorf("%s at participant %d: %d %v %s, want %d", what, i+1, r.code, r.err, short(r.body), want)
		}
	}
}

// requireSigns wants a full signature of body by key from coordinator 1.
func (c *cluster) requireSigns(t *testing.T, what string, key api.PublicKey, body []byte) {
	t.Helper()
	r := c.do(context.Background(), 0, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), body)
	if r.err != nil || r.code != http.StatusOK {
		t.Errorf("%s: %d %v %s, want a signature", what, r.code, r.err, short(r.body))
	}
}

// TestHole3AttestationAtFarFutureTargetRefused: an attestation with source
// 150001 and target 2^64-2 was signed on 108c238, and every normal
// attestation after it was refused as surrounded: one request stopped the
// validator from ever attesting again.
func TestHole3AttestationAtFarFutureTargetRefused(t *testing.T) {
	h := hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	c.attackBothPaths(t, h, "attestation 150001 -> 2^64-2", key, attestationBody(c.net, 150001, 1<<64-2, [32]byte{0xee}), http.StatusBadRequest)
	now := wallClockEpoch(c.net)
	c.requireSigns(t, "a normal attestation afterwards", key, attestationBody(c.net, now-1, now, [32]byte{0x11}))
}

// TestHole3AttestationBeyondWallClockRefused: a target ten epochs beyond
// the network's current epoch (the allowance is one by default).
func TestHole3AttestationBeyondWallClockRefused(t *testing.T) {
	h := hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	now := wallClockEpoch(c.net)
	c.attackBothPaths(t, h, "attestation ten epochs ahead", key, attestationBody(c.net, now+9, now+10, [32]byte{0xed}), http.StatusBadRequest)
	c.requireSigns(t, "a normal attestation afterwards", key, attestationBody(c.net, now-1, now, [32]byte{0x12}))
}

// TestHole3BlockAtMaxSlotRefused: BLOCK_V2 at slot 2^64-1 was signed on
// 108c238, after which the validator could never propose again.
func TestHole3BlockAtMaxSlotRefused(t *testing.T) {
	h := hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	c.attackBothPaths(t, h, "block at slot 2^64-1", key, blockBody(c.net, 1<<64-1, [32]byte{0xec}), http.StatusBadRequest)
	slot := wallClockEpoch(c.net) * c.net.Preset().SlotsPerEpoch
	c.requireSigns(t, "a block at the current slot afterwards", key, blockBody(c.net, slot, [32]byte{0x13}))
}

// TestHole3SourceAfterTargetIsBadRequest: a vote whose source follows its
// target is malformed (400), not slashable (412).
func TestHole3SourceAfterTargetIsBadRequest(t *testing.T) {
	h := hole(t, 3, "source after target is a 400")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	now := wallClockEpoch(c.net)
	c.attackBothPaths(t, h, "attestation with source after target", key, attestationBody(c.net, now-1, now-2, [32]byte{0xeb}), http.StatusBadRequest)
}

// singleSigner is the 1-of-1 signer process, stopped for a test that runs
// it with broken configurations, and started again (healthy) afterwards.
func singleSigner(t *testing.T) (*cluster, *procSigner) {
	t.Helper()
	c := sharedCluster(t, procs11)
	p := c.procs[0]
	p.stop()
	t.Cleanup(func() {
		if err := p.start(p.s.ConfigPath); err != nil {
			t.Error(err)
			return
		}
		if err := p.waitHealthy(context.Background()); err != nil {
			t.Errorf("the 1-of-1 signer does not start again with its own configuration: %v", err)
		}
	})
	return c, p
}

// variant writes a copy of the signer's configuration changed by edit.
func variant(t *testing.T, p *procSigner, name string, edit func(cfg *appliance.Config)) string {
	t.Helper()
	cfg := *p.s.Config
	edit(&cfg)
	path := filepath.Join(p.s.Dir, "variant-"+name+".yaml")
	if err := writeConfig(&cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runToExit starts the signer with config (and env) and wants it to exit
// with status want, before it ever serves. A signer that comes up is
// stopped. It reports whether the signer exited with want.
func runToExit(t *testing.T, p *procSigner, what, config string, want int, env ...string) bool {
	t.Helper()
	if err := p.start(config, env...); err != nil {
		t.Fatal(err)
	}
	exited, code, healthy := p.awaitExitOrHealthy(context.Background(), 2*time.Minute)
	switch {
	case healthy:
		p.stop()
		t.Errorf("%s: the signer started and serves; want exit status %d", what, want)
	case !exited:
		p.stop()
		t.Errorf("%s: the signer neither exited nor became healthy in two minutes", what)
	case code != want:
		t.Errorf("%s: exit status %d, want %d; last lines of its log:\n%s", what, code, want, tail(p.log, 5))
	default:
		t.Logf("%s: exit status %d: %s", what, code, tail(p.log, 1))
		return true
	}
	return false
}

// editURI changes the sealing and TLS key URIs of cfg.
func editURI(t *testing.T, cfg *appliance.Config, edit func(u *hsm.URI, sealing bool)) {
	t.Helper()
	for _, f := range []struct {
		p       *string
		sealing bool
	}{{&cfg.HSM.SealingKey, true}, {&cfg.TLS.Key, false}} {
		u, err := hsm.ParseURI(*f.p)
		if err != nil {
			t.Fatal(err)
		}
		edit(u, f.sealing)
		*f.p = u.Encode()
	}
}

// TestConfigurationErrorExitsWithStatus2: a configuration the signer
// cannot parse ends it with status 2, which its unit does not restart.
func TestConfigurationErrorExitsWithStatus2(t *testing.T) {
	_, p := singleSigner(t)
	path := filepath.Join(p.s.Dir, "variant-broken.yaml")
	if err := os.WriteFile(path, []byte("node: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runToExit(t, p, "unparsable configuration", path, 2)
}

// TestHole8StartupErrorsExitWithStatus2: a wrong PIN, a missing PIN file,
// a missing token and a missing key end the signer with status 2, so
// systemd does not retry a wrong PIN until the HSM locks. On 108c238 they
// exit with 1, which the unit restarts.
func TestHole8StartupErrorsExitWithStatus2(t *testing.T) {
	h := hole(t, 8, "start-up errors exit with status 2")
	_, p := singleSigner(t)
	wrongPIN := filepath.Join(p.s.Dir, "wrong.pin")
	if err := os.WriteFile(wrongPIN, []byte("0000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		edit func(u *hsm.URI, sealing bool)
	}{
		{"wrong-pin", func(u *hsm.URI, _ bool) { u.PINSource = "file:" + wrongPIN }},
		{"missing-pin-file", func(u *hsm.URI, _ bool) { u.PINSource = "file:" + filepath.Join(p.s.Dir, "no-such.pin") }},
		{"missing-token", func(u *hsm.URI, _ bool) { u.Token = "no-such-token" }},
		{"missing-key", func(u *hsm.URI, sealing bool) {
			if sealing {
				u.Object = "no-such-key"
			}
		}},
	} {
		path := variant(t, p, v.name, func(cfg *appliance.Config) { editURI(t, cfg, v.edit) })
		if runToExit(t, p, v.name, path, 2) {
			h.noteAs("exit status 2")
		}
	}
}

// TestHole5AdminTokenFileReadableByOthersRefused: the administrative
// token (admin.token, which replaced keymanager.token_file) is read like
// the PIN: a file readable by others, holding the token or only its
// verifier, stops the signer at start with status 2 (no restart); an
// owner-only file or a systemd credential is taken, and then exactly that
// token opens the administrative endpoints. A configuration that still
// names keymanager.token_file is refused with a message pointing at
// admin.token. On 108c238 the keymanager token file's mode was not checked.
func TestHole5AdminTokenFileReadableByOthersRefused(t *testing.T) {
	h := hole(t, 5, "the administrative token's file is owner-only, like the PIN's")
	c, p := singleSigner(t)
	tokens := make([]adminapi.Token, 2)
	for i := range tokens {
		var err error
		if tokens[i], err = adminapi.NewToken(crand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(p.s.Dir, name)
		if err := os.WriteFile(path, []byte(content+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return path
	}
	withToken := func(source string) func(cfg *appliance.Config) {
		return func(cfg *appliance.Config) { cfg.Admin.Token = source }
	}
	for _, v := range []struct {
		name   string
		edit   func(cfg *appliance.Config)
		naming string
	}{
		{"token-0644", withToken("file:" + write("loose.token", tokens[0].Hex(), 0o644)), "admin.token"},
		{"verifier-0640", withToken("file:" + write("loose.verifier", tokens[0].Verifier(), 0o640)), "admin.token"},
		{"keymanager-token-file", func(cfg *appliance.Config) {
			cfg.Keymanager = &appliance.KeymanagerConfig{TokenFile: write("old-keymanager.token", tokens[0].Hex(), 0o600)}
		}, "admin.token"},
	} {
		path := variant(t, p, v.name, v.edit)
		if runToExit(t, p, v.name, path, 2) {
			h.noteAs("exit status 2")
			if !strings.Contains(tail(p.log, 3), v.naming) {
				t.Errorf("%s: the refusal does not name %s:\n%s", v.name, v.naming, tail(p.log, 3))
			}
		}
	}

	// Accepted sources: each opens the administrative endpoints with its
	// token, and with no other.
	creds := filepath.Join(p.s.Dir, "credentials")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	// A systemd credential is the service manager's copy; its mode is
	// systemd's business, not the file's owner's.
	if err := os.WriteFile(filepath.Join(creds, "rampart-admin-token"), []byte(tokens[1].Verifier()+"\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []struct {
		name  string
		edit  func(cfg *appliance.Config)
		env   []string
		token adminapi.Token
	}{
		{"token-0600", withToken("file:" + write("tight.token", tokens[0].Hex(), 0o600)), nil, tokens[0]},
		{"verifier-0600", withToken("file:" + write("tight.verifier", tokens[1].Verifier(), 0o600)), nil, tokens[1]},
		{"credential", withToken("credential:rampart-admin-token"), []string{"CREDENTIALS_DIRECTORY=" + creds}, tokens[1]},
	} {
		path := variant(t, p, v.name, v.edit)
		if err := p.start(path, v.env...); err != nil {
			t.Fatal(err)
		}
		if err := p.waitHealthy(ctx); err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		for _, try := range []struct {
			token string
			want  int
		}{
			{v.token.Hex(), http.StatusOK},
			{c.lc.AdminToken.Hex(), http.StatusForbidden},
			{"", http.StatusUnauthorized},
		} {
			r := c.adminDo(ctx, 0, localcluster.AdminClient, http.MethodGet, "/rampart/v1/accounts/removed", nil, try.token, "")
			h.note(r.code, r.err)
			if r.err != nil || r.code != try.want {
				t.Errorf("%s: the administrative list of removed shares with %s: %d %v %s, want %d", v.name, tokenName(try.token, v.token), r.code, r.err, short(r.body), try.want)
			}
		}
		p.stop()
	}
}

// tokenName describes a bearer token in a message without printing it.
func tokenName(token string, right adminapi.Token) string {
	switch token {
	case "":
		return "no token"
	case right.Hex():
		return "the configured token"
	}
	return "another token"
}

// TestHole4IntruderBodiesCostNoMemory: 32 bodies announcing 256 MiB each
// from a client the policy denies everything must be refused from its TLS
// identity before any body is read, so the signer's memory does not grow.
// On 108c238 each is read up to the 8 MiB cap first (about 12 MiB of heap
// each while the buffer grows).
func TestHole4IntruderBodiesCostNoMemory(t *testing.T) {
	h := hole(t, 4, "listener limits: authorisation before the body")
	c := sharedCluster(t, procs35)
	p := c.procs[1]
	_, before, err := p.memory()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := c.keys[0].String()
	var sends []func(context.Context)
	var mu sync.Mutex
	answers := counts{}
	for _, target := range []struct{ listener, path string }{
		{appliance.ListenerCoordinator, "/api/v1/eth2/sign/" + key},
		{appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/" + key},
	} {
		for range 16 {
			sends = append(sends, func(ctx context.Context) {
				code, _, err := c.oversized(ctx, 1, target.listener, intruderClient, target.path, 256<<20)
				h.note(code, err)
				mu.Lock()
				defer mu.Unlock()
				answers[reason(code, err)]++
			})
		}
	}
	atOnce(ctx, sends)
	_, after, err := p.memory()
	if err != nil {
		t.Fatal(err)
	}
	if growth := int64(after) - int64(before); growth > 32<<20 {
		t.Errorf("peak RSS of signer 2 grew by %d MiB under 32 bodies from a client denied everything (answers: %s)", growth>>20, answers)
	}
	if n := answers["403 unauthorised"] + answers["no answer"]; n != 32 {
		t.Errorf("answers to 32 bodies from a client denied everything: %s; want 403 (or the connection closed) for each", answers)
	}
}
