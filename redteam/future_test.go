//go:build redteam

package redteam_test

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// Far-future records (issue 13 item 3): one signed attestation with a
// far-future target, or one imported, stops a validator for as long as the
// clock takes to get there. Signing and importing are bounded by the
// network's wall-clock epoch plus slashing.future_epochs.

// interchange is an EIP-3076 file for key on the suite's network with one
// block at slot and one attestation source -> target.
func interchange(key api.PublicKey, slot, source, target uint64) []byte {
	return mustJSON(map[string]any{
		"metadata": map[string]any{"interchange_format_version": "5", "genesis_validators_root": gvrHex},
		"data": []map[string]any{{
			"pubkey":              key.String(),
			"signed_blocks":       []map[string]any{{"slot": u64(slot)}},
			"signed_attestations": []map[string]any{{"source_epoch": u64(source), "target_epoch": u64(target)}},
		}},
	})
}

// TestHole3ImportBeyondWallClockRefused imports EIP-3076 files holding a
// block or an attestation ten epochs beyond the network's current epoch: into a slashing database with rampartctl slashing import, and
// into the 2-of-3 cluster with rampartctl import and through the keymanager
// API (the signers' stage path, where every signer checks the history it
// is given). Each is refused with
// an error naming the record and nothing is imported; the same key with a
// history up to the current epoch imports. On 108c238 such a file was
// imported, and the validator could sign nothing until that epoch.
func TestHole3ImportBeyondWallClockRefused(t *testing.T) {
	h := hole(t, 3, "imports of far-future EIP-3076 records refused")
	c := sharedCluster(t, spec23)
	dir := t.TempDir()
	sk, err := bls.GenerateSecretKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := api.PublicKey(sk.PublicKey().Bytes())
	now := wallClockEpoch(c.net)
	spe := c.net.Preset().SlotsPerEpoch
	far := now + 10
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := []struct {
		name, file, names string
	}{
		{"a block ten epochs ahead", write("block.json", interchange(key, far*spe, now-2, now-1)), "data[0].signed_blocks[0]"},
		{"an attestation ten epochs ahead", write("target.json", interchange(key, now*spe, now-1, far)), "data[0].signed_attestations[0]"},
	}
	sane := write("sane.json", interchange(key, now*spe, now-1, now))

	// rampartctl slashing import, into a new database.
	db := filepath.Join(dir, "slashing.db")
	netFlags := []string{"--network-config", c.lc.Signers[0].Config.Network.Config, "--genesis-validators-root", gvrHex}
	slashingImport := func(file string, extra ...string) (int, string) {
		args := append([]string{"slashing", "import", "--db", db, "--create"}, netFlags...)
		return ctl(t, nil, append(append(args, extra...), file)...)
	}
	for _, b := range bad {
		code, out := slashingImport(b.file)
		h.noteAs(fmt.Sprintf("rampartctl slashing import exit %d", code))
		if code == 0 || !strings.Contains(out, b.names) || !strings.Contains(out, key.String()[:10]) {
			t.Errorf("rampartctl slashing import of %s: exit %d, want a refusal naming the key and its %s:\n%s", b.name, code, b.names, out)
		} else {
			t.Logf("rampartctl slashing import of %s: exit %d: %s", b.name, code, lastLine(out))
		}
	}
	if code, out := slashingImport(sane); code != 0 || !strings.Contains(out, "new") {
		t.Errorf("rampartctl slashing import of a history up to the current epoch: exit %d, want the key imported as new (nothing of the refused files kept):\n%s", code, out)
	}
	// The allowance is --future-epochs (slashing.future_epochs on a signer).
	if code, out := slashingImport(bad[1].file, "--future-epochs", "16"); code != 0 {
		t.Errorf("rampartctl slashing import --future-epochs 16 of a target ten epochs ahead: exit %d:\n%s", code, out)
	}

	// rampartctl import: every signer stages the share with its history.
	ks, err := keystore.Encrypt(crand.Reader, sk, []byte("redteam password"), keystore.Options{KDF: keystore.PBKDF2, PBKDF2Iterations: 16})
	if err != nil {
		t.Fatal(err)
	}
	ksJSON, err := ks.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ksDir := filepath.Join(dir, "keystores")
	if err := os.MkdirAll(ksDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write("keystores/keystore-0.json", ksJSON)
	pw := write("password.txt", []byte("redteam password"))
	clusterImport := func(history string) (int, string) {
		return ctl(t, nil, "import", "--cluster", c.clusterFile(), "--keystores", ksDir, "--password-file", pw, "--slashing-protection", history, "--accept-low-safety")
	}
	held := func() int {
		n := 0
		for i := range c.n {
			r := c.do(context.Background(), i, appliance.ListenerParticipant, validatorClient, http.MethodGet, "/api/v1/eth2/distributed/accounts/"+key.String(), nil)
			if r.err == nil && r.code == http.StatusOK {
				n++
			}
		}
		return n
	}
	for _, b := range bad {
		code, out := clusterImport(b.file)
		h.noteAs(fmt.Sprintf("rampartctl import exit %d", code))
		if code == 0 || !strings.Contains(out, b.names) {
			t.Errorf("rampartctl import with %s: exit %d, want a refusal naming its %s:\n%s", b.name, code, b.names, out)
		} else {
			t.Logf("rampartctl import with %s: exit %d: %s", b.name, code, lastLine(out))
		}
		if n := held(); n != 0 {
			t.Errorf("after the refused import with %s, %d signers hold the key", b.name, n)
		}
	}
	// The keymanager API at coordinator 1, which stages the share at
	// every signer on the administrator's behalf.
	for _, b := range bad {
		history, err := os.ReadFile(b.file)
		if err != nil {
			t.Fatal(err)
		}
		body := mustJSON(map[string]any{"keystores": []string{string(ksJSON)}, "passwords": []string{"redteam password"}, "slashing_protection": string(history)})
		r := c.do(context.Background(), 0, appliance.ListenerCoordinator, localcluster.AdminClient, http.MethodPost, "/eth/v1/keystores", body, "Authorization", "Bearer "+c.token())
		var resp struct {
			Data []struct{ Status, Message string } `json:"data"`
		}
		ok := r.err == nil && r.code == http.StatusOK && json.Unmarshal(r.body, &resp) == nil && len(resp.Data) == 1
		if !ok || resp.Data[0].Status != "error" || !strings.Contains(resp.Data[0].Message, b.names) {
			t.Errorf("keymanager import with %s: %d %v %s, want the keystore's status error naming its %s", b.name, r.code, r.err, short(r.body), b.names)
		} else {
			h.noteAs("keymanager import: status error")
			t.Logf("keymanager import with %s: %s", b.name, short([]byte(resp.Data[0].Message)))
		}
		if n := held(); n != 0 {
			t.Errorf("after the refused keymanager import with %s, %d signers hold the key", b.name, n)
		}
	}
	if code, out := clusterImport(sane); code != 0 {
		t.Errorf("rampartctl import with a history up to the current epoch: exit %d:\n%s", code, out)
	} else if n := held(); n != c.n {
		t.Errorf("after the import, %d of %d signers hold the key", n, c.n)
	}
}

// TestHole3AllowanceFollowsFutureEpochs runs the 1-of-1 signer process
// with slashing.future_epochs at its default (1) and at 8: a block and an
// attestation target exactly that far beyond the current epoch sign, one
// epoch further is refused (400, stating the allowance). The
// epoch is read before and after each pair, and the pair sent again if the
// clock crossed an epoch boundary in between.
func TestHole3AllowanceFollowsFutureEpochs(t *testing.T) {
	h := hole(t, 3, "the wall-clock allowance follows slashing.future_epochs")
	c, p := singleSigner(t)
	ctx := context.Background()
	spe := c.net.Preset().SlotsPerEpoch
	r := random()
	for i, f := range []uint64{1, 8} {
		cfg := p.s.ConfigPath
		if f != p.s.Config.Slashing.FutureEpochs {
			cfg = variant(t, p, fmt.Sprintf("future-epochs-%d", f), func(cfg *appliance.Config) { cfg.Slashing.FutureEpochs = f })
		}
		if err := p.start(cfg); err != nil {
			t.Fatal(err)
		}
		if err := p.waitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		key := c.keys[1+i]
		sign := func(body []byte) reply {
			r := c.do(ctx, 0, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), body)
			h.note(r.code, r.err)
			return r
		}
		for try := 0; ; try++ {
			now := wallClockEpoch(c.net)
			last := now + f
			okAtt := sign(attestationBody(c.net, last-1, last, randomRoot(r)))
			badAtt := sign(attestationBody(c.net, last, last+1, randomRoot(r)))
			okBlock := sign(blockBody(c.net, (last+1)*spe-1, randomRoot(r)))
			badBlock := sign(blockBody(c.net, (last+1)*spe, randomRoot(r)))
			if wallClockEpoch(c.net) != now && try < 3 {
				continue // an epoch boundary passed: the bound moved meanwhile
			}
			for _, x := range []struct {
				what  string
				r     reply
				want  int
				names string
			}{
				{fmt.Sprintf("an attestation with target %d (current epoch %d + %d)", last, now, f), okAtt, http.StatusOK, ""},
				{fmt.Sprintf("an attestation with target %d (one beyond)", last+1), badAtt, http.StatusBadRequest, fmt.Sprintf("current epoch %d + %d epoch", now, f)},
				{fmt.Sprintf("a block at the last slot of epoch %d", last), okBlock, http.StatusOK, ""},
				{fmt.Sprintf("a block at the first slot of epoch %d", last+1), badBlock, http.StatusBadRequest, fmt.Sprintf("current epoch %d + %d epoch", now, f)},
			} {
				if x.r.err != nil || x.r.code != x.want || !strings.Contains(string(x.r.body), x.names) {
					t.Errorf("slashing.future_epochs %d: %s: %d %v %s, want %d naming %q", f, x.what, x.r.code, x.r.err, short(x.r.body), x.want, x.names)
				}
			}
			break
		}
		p.stop()
	}
}
