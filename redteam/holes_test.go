//go:build redteam

package redteam_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
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
	hole(t, 1, "roles: a peer signer is no administrator")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	for i, s := range c.lc.Signers {
		if s.Name == forgedPeerName {
			continue
		}
		r := c.do(context.Background(), i, appliance.ListenerParticipant, forgedPeer, http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil)
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
	hole(t, 1, "administrative requests carry the bearer token at every signer")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	for i := range c.lc.Signers {
		r := c.do(context.Background(), i, appliance.ListenerParticipant, localcluster.AdminClient, http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil)
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
	hole(t, 1, "roles: one name cannot hold both roles by default")
	c := sharedCluster(t, spec23)
	cfg := *c.lc.Signers[0].Config
	cfg.Admin.Clients = []string{localcluster.AdminClient, c.lc.Signers[1].Name}
	if _, err := appliance.New(&cfg, appliance.Options{}); err == nil {
		t.Errorf("a configuration with peer %s in admin.clients was accepted", c.lc.Signers[1].Name)
	} else {
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
}

// untypedDomain is a domain type no request type uses.
var untypedDomain = [4]byte{0xf0, 0, 0, 0}

// TestHole2GenericRefusedInTypedDomains: GENERIC over the domain of a
// typed request, asked by an administrator or by a client granted GENERIC
// only, at a coordinator and straight at a participant. On 108c238 every
// domain but proposer and attester signs, so an administrator gets the
// VOLUNTARY_EXIT the policy refuses it, and a DEPOSIT with its own
// withdrawal credentials. Being an administrator also grants no signing
// type: its GENERIC in an untyped domain is refused too.
func TestHole2GenericRefusedInTypedDomains(t *testing.T) {
	hole(t, 2, "GENERIC only for untyped domains, administrators get no signing type")
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
	}{"untyped 0xf0000000 (administrator only)", untypedDomain})
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
// gets a full signature in a domain no typed request covers, and no typed
// request type; an administrator gets no typed signature.
func TestGenericServesUntypedDomainToGrantedClient(t *testing.T) {
	c := sharedCluster(t, spec23)
	ctx := context.Background()
	key := c.keys[0]
	e := newEvidence(c)
	m := newMessage(c.net, "GENERIC untyped", genericBody(c.net, untypedDomain, [32]byte{0x77}))
	r := c.do(ctx, 0, appliance.ListenerCoordinator, genericClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), m.body)
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("GENERIC in an untyped domain by a client granted it: %d %v %s", r.code, r.err, short(r.body))
	}
	sr, err := api.DecodeSigningResponse(r.body)
	if err != nil || !e.addFull(key, m, sr.Signature, "coordinator 1") {
		t.Fatalf("the signature does not verify: %v %v", err, e.invalid)
	}
	exit := mustJSON(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(c.net, 6), "voluntary_exit": map[string]any{"epoch": "6", "validator_index": "9"}})
	for _, id := range []string{genericClient, localcluster.AdminClient} {
		for name, body := range map[string][]byte{
			"VOLUNTARY_EXIT": exit,
			"ATTESTATION":    attestationBody(c.net, 3, 4, [32]byte{0x99}),
		} {
			if r := c.do(ctx, 0, appliance.ListenerCoordinator, id, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), body); r.err != nil || r.code != http.StatusForbidden {
				t.Errorf("%s by %s: %d %v %s, want 403", name, id, r.code, r.err, short(r.body))
			}
		}
	}
}

// attackBothPaths sends body for key to coordinator 1 and straight to
// every participant, and wants status want from each.
func (c *cluster) attackBothPaths(t *testing.T, what string, key api.PublicKey, body []byte, want int) {
	t.Helper()
	ctx := context.Background()
	r := c.do(ctx, 0, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), body)
	if r.err != nil || r.code != want {
		t.Errorf("%s at coordinator 1: %d %v %s, want %d", what, r.code, r.err, short(r.body), want)
	}
	for i := range c.n {
		r := c.do(ctx, i, appliance.ListenerParticipant, validatorClient, http.MethodPost, "/api/v1/eth2/distributed/sign/"+key.String(), body)
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
	hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	c.attackBothPaths(t, "attestation 150001 -> 2^64-2", key, attestationBody(c.net, 150001, 1<<64-2, [32]byte{0xee}), http.StatusBadRequest)
	now := wallClockEpoch(c.net)
	c.requireSigns(t, "a normal attestation afterwards", key, attestationBody(c.net, now-1, now, [32]byte{0x11}))
}

// TestHole3AttestationBeyondWallClockRefused: a target ten epochs beyond
// the network's current epoch (the allowance is one by default).
func TestHole3AttestationBeyondWallClockRefused(t *testing.T) {
	hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	now := wallClockEpoch(c.net)
	c.attackBothPaths(t, "attestation ten epochs ahead", key, attestationBody(c.net, now+9, now+10, [32]byte{0xed}), http.StatusBadRequest)
	c.requireSigns(t, "a normal attestation afterwards", key, attestationBody(c.net, now-1, now, [32]byte{0x12}))
}

// TestHole3BlockAtMaxSlotRefused: BLOCK_V2 at slot 2^64-1 was signed on
// 108c238, after which the validator could never propose again.
func TestHole3BlockAtMaxSlotRefused(t *testing.T) {
	hole(t, 3, "epochs and slots bounded by the wall clock")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	c.attackBothPaths(t, "block at slot 2^64-1", key, blockBody(c.net, 1<<64-1, [32]byte{0xec}), http.StatusBadRequest)
	slot := wallClockEpoch(c.net) * c.net.Preset().SlotsPerEpoch
	c.requireSigns(t, "a block at the current slot afterwards", key, blockBody(c.net, slot, [32]byte{0x13}))
}

// TestHole3SourceAfterTargetIsBadRequest: a vote whose source follows its
// target is malformed (400), not slashable (412).
func TestHole3SourceAfterTargetIsBadRequest(t *testing.T) {
	hole(t, 3, "source after target is a 400")
	c := sharedCluster(t, spec23)
	key := c.sacrifice(t)
	now := wallClockEpoch(c.net)
	c.attackBothPaths(t, "attestation with source after target", key, attestationBody(c.net, now-1, now-2, [32]byte{0xeb}), http.StatusBadRequest)
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

// runToExit starts the signer with config and wants it to exit with
// status want, before it ever serves. A signer that comes up is stopped.
func runToExit(t *testing.T, p *procSigner, what, config string, want int) {
	t.Helper()
	if err := p.start(config); err != nil {
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
	}
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
	hole(t, 8, "start-up errors exit with status 2")
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
		runToExit(t, p, v.name, path, 2)
	}
}

// TestHole5TokenFileReadableByOthersRefused: the keymanager token file is
// checked like the PIN file: readable by others, the signer refuses to
// start (status 2); owner-only, it starts.
func TestHole5TokenFileReadableByOthersRefused(t *testing.T) {
	hole(t, 5, "keymanager token file mode")
	_, p := singleSigner(t)
	token := strings.Repeat("ab", 32)
	loose := filepath.Join(p.s.Dir, "loose.token")
	if err := os.WriteFile(loose, []byte(token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	path := variant(t, p, "loose-token", func(cfg *appliance.Config) {
		cfg.Keymanager = &appliance.KeymanagerConfig{TokenFile: loose}
	})
	runToExit(t, p, "keymanager.token_file mode 0644", path, 2)
	if !strings.Contains(tail(p.log, 5), "token_file") {
		t.Errorf("the refusal does not name keymanager.token_file:\n%s", tail(p.log, 5))
	}

	tight := filepath.Join(p.s.Dir, "tight.token")
	if err := os.WriteFile(tight, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path = variant(t, p, "tight-token", func(cfg *appliance.Config) {
		cfg.Keymanager = &appliance.KeymanagerConfig{TokenFile: tight}
	})
	if err := p.start(path); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Errorf("an owner-only token file: %v", err)
	}
	p.stop()
}

// TestHole6TruncatedAuditLogDetected: cutting the last record off the
// audit log, or emptying it, must not verify as intact, and a signer must
// not start on it as if nothing happened. On 108c238 `rampartctl audit
// verify` reports "chain intact" and the signer starts. (If the fix makes
// verify take the slashing database to find the anchor, add its flag
// here.)
func TestHole6TruncatedAuditLogDetected(t *testing.T) {
	hole(t, 6, "audit log anchored")
	c, p := singleSigner(t)
	// Records to cut: start the signer, sign, stop it.
	if err := p.start(p.s.ConfigPath); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEvidence(c)
	for s := range uint64(3) {
		m := newMessage(c.net, "selection proof", aggregationSlotBody(c.net, 6*32+s))
		if r := c.coordinatorSingle(context.Background(), e, 0, c.keys[0], m); r.err != nil || r.code != http.StatusOK {
			t.Fatalf("signing: %d %v %s", r.code, r.err, short(r.body))
		}
	}
	p.stop()
	logPath := filepath.Join(p.s.Config.DataDir, "audit.log")
	orig, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(logPath, orig, 0o600); err != nil {
			t.Error(err)
		}
	})
	lines := bytes.SplitAfter(bytes.TrimRight(orig, "\n"), []byte("\n"))
	ctl := binaries(t)["rampartctl"]
	for _, cut := range []struct {
		name string
		data []byte
	}{
		{"last record cut off", bytes.Join(lines[:len(lines)-1], nil)},
		{"emptied", nil},
	} {
		if err := os.WriteFile(logPath, cut.data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ctl, "audit", "verify", logPath).CombinedOutput()
		if err == nil {
			t.Errorf("audit log %s: rampartctl audit verify succeeds: %s", cut.name, out)
		}
		if err := p.start(p.s.ConfigPath); err != nil {
			t.Fatal(err)
		}
		exited, code, healthy := p.awaitExitOrHealthy(context.Background(), 2*time.Minute)
		switch {
		case healthy:
			p.stop()
			t.Errorf("audit log %s: the signer starts and serves as if nothing happened", cut.name)
		case !exited:
			p.stop()
			t.Errorf("audit log %s: the signer neither exited nor became healthy in two minutes", cut.name)
		default:
			t.Logf("audit log %s: the signer exits with status %d: %s", cut.name, code, tail(p.log, 1))
		}
	}
	if err := os.WriteFile(logPath, orig, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHole4IntruderBodiesCostNoMemory: 32 bodies announcing 256 MiB each
// from a client the policy denies everything must be refused from its TLS
// identity before any body is read, so the signer's memory does not grow.
// On 108c238 each is read up to the 8 MiB cap first (about 12 MiB of heap
// each while the buffer grows).
func TestHole4IntruderBodiesCostNoMemory(t *testing.T) {
	hole(t, 4, "listener limits: authorisation before the body")
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
