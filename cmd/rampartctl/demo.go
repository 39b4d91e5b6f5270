package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/devnet"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

func demoCommand() *cli.Command {
	var o upOptions
	var fs *flag.FlagSet
	var keep bool
	return &cli.Command{
		Name:    "demo",
		Summary: "Bring up a 3-of-5 cluster, sign, refuse, survive two failures, replace a server, tear down.",
		Description: `The whole story on this host: a local cluster of five signer processes
(SoftHSM tokens, mTLS identities in them, sealed shares), 64 validators
from distributed key generation; a slot's attestations signed through the
coordinator API with one batch request; a slashable attestation refused by
every signer; signing still working with two signers stopped; the last
signer's server lost with its HSM and replaced by a new one (new token,
new TLS identity, empty disk) that gets the same shares and the others'
slashing history back by reshare repair (with watermarks past the last
epoch the others could have signed for), and refuses the double vote the
lost one refused; everything torn down; a short report. Takes the same
flags as devnet up.`,
		Flags: func(f *flag.FlagSet) {
			fs = f
			o.register(f)
			f.BoolVar(&keep, "keep", false, "leave the devnet running at the end")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			if o.dir == "" {
				d, err := os.MkdirTemp("", "rampart-demo-")
				if err != nil {
					return err
				}
				o.dir = d
			}
			// Every signer must record every message for step 3 to show a
			// refusal at each of them: ask all participants at once.
			o.hedge = 0
			// The demonstration's cluster is 3-of-5 by design (it shows
			// signing with two signers down); its tolerance is printed,
			// not asked about.
			o.acceptLowSafety = true
			return runDemo(ctx, env, &o, fs, keep)
		},
	}
}

type demoReport struct {
	lines []string
}

func (r *demoReport) add(format string, a ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, a...))
}

func runDemo(ctx context.Context, env *cli.Env, o *upOptions, fs *flag.FlagSet, keep bool) error {
	start := time.Now()
	rep := &demoReport{}
	fmt.Fprintf(env.Stdout, "== 1. bringing up a %d-of-%d cluster with %d validators in %s\n", o.threshold, o.signers, o.count, o.dir)
	st, err := devnetUp(ctx, env, o, fs)
	if err != nil {
		return err
	}
	if !keep {
		defer func() {
			fmt.Fprintf(env.Stdout, "== 6. tearing down\n")
			if err := st.Down(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(env.Stderr, "devnet down: %v\n", err)
			}
		}()
	}
	rep.add("cluster: %d signers, threshold %d, up with validators in %s", o.signers, o.threshold, time.Since(start).Round(time.Millisecond))
	cf, err := st.ClusterFile()
	if err != nil {
		return err
	}
	n, err := cf.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	tlsCfg, closeFn, err := cf.TLSConfig(ctx, cf.Client)
	if err != nil {
		return err
	}
	defer closeFn()
	d := &demo{cf: cf, net: n, tls: tlsCfg, env: env}
	epoch := uint64(currentEpoch(n, time.Now()))

	fmt.Fprintf(env.Stdout, "== 2. signing one slot's attestations for all %d validators (one batch request to signer 1's coordinator API)\n", len(cf.Accounts))
	took, err := d.signSlot(ctx, 0, epoch)
	if err != nil {
		return err
	}
	rep.add("slot burst: %d attestations signed, recovered and verified in %s", len(cf.Accounts), took.Round(time.Millisecond))

	fmt.Fprintf(env.Stdout, "== 3. a slashable attestation (same target, other block) sent straight to every signer\n")
	refused, err := d.slashable(ctx, epoch)
	if err != nil {
		return err
	}
	rep.add("slashable request: refused with 412 by %d of %d signers", refused, len(cf.Participants))

	// The last signer's component keys, to compare with what the repair
	// of step 5 gives its replacement.
	lastKeys, err := d.components(ctx, len(cf.Participants)-1)
	if err != nil {
		return err
	}

	fmt.Fprintf(env.Stdout, "== 4. stopping signers 4 and 5, then signing the next epoch\n")
	for _, id := range []uint64{4, 5} {
		if err := st.Stop(ctx, id); err != nil {
			return err
		}
	}
	took, err = d.signSlot(ctx, 1, epoch+1)
	if err != nil {
		return err
	}
	rep.add("with 2 of 5 signers stopped: %d attestations signed in %s", len(cf.Accounts), took.Round(time.Millisecond))

	last := cf.Participants[len(cf.Participants)-1].ID
	fmt.Fprintf(env.Stdout, "== 5. signer %d's server is lost with its HSM: a new one (new token, new TLS identity, empty disk) gets its shares back from the others (reshare repair)\n", last)
	rstart := time.Now()
	if err := d.replace(ctx, st, last, epoch, lastKeys); err != nil {
		return err
	}
	rep.add("replacement: signer %d on a new HSM holds its %d shares again after %s (the same component keys); its slashing protection, merged from the others', starts at the cutover past the last epoch they could have signed for, and refuses step 3's double vote", last, len(cf.Accounts), time.Since(rstart).Round(time.Millisecond))

	fmt.Fprintf(env.Stdout, "\nRampart demo report\n")
	for _, l := range rep.lines {
		fmt.Fprintf(env.Stdout, "  - %s\n", l)
	}
	fmt.Fprintf(env.Stdout, "  - total %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

type demo struct {
	cf  *adminapi.ClusterFile
	net *network.Network
	tls *tls.Config
	env *cli.Env
}

func (d *demo) tlsConfig() *tls.Config { return d.tls }

func (d *demo) client(i int) *http.Client {
	cfg := d.tlsConfig().Clone()
	cfg.ServerName = d.cf.Participants[i].TLSName
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: time.Minute}
}

func attestation(n *network.Network, epoch uint64, block byte) map[string]any {
	f := n.ForkAtEpoch(phase0.Epoch(epoch))
	root := func(b byte) string { return "0x" + strings.Repeat(hex.EncodeToString([]byte{b}), 32) }
	return map[string]any{
		"type": "ATTESTATION",
		"fork_info": map[string]any{
			"fork":                    map[string]any{"previous_version": fmt.Sprintf("%#x", f.PreviousVersion[:]), "current_version": fmt.Sprintf("%#x", f.Version[:]), "epoch": fmt.Sprint(uint64(f.Epoch))},
			"genesis_validators_root": n.GenesisValidatorsRoot().String(),
		},
		"attestation": map[string]any{
			"slot": fmt.Sprint(epoch * n.Preset().SlotsPerEpoch), "index": "0", "beacon_block_root": root(block),
			"source": map[string]any{"epoch": fmt.Sprint(epoch - 1), "root": root(0x11)},
			"target": map[string]any{"epoch": fmt.Sprint(epoch), "root": root(block)},
		},
	}
}

// signSlot signs one attestation per validator through participant i's
// coordinator API and verifies every signature.
func (d *demo) signSlot(ctx context.Context, i int, epoch uint64) (time.Duration, error) {
	req := attestation(d.net, epoch, 0xa1)
	body, _ := json.Marshal(map[string]any{"identifiers": d.cf.Accounts, "signing_request": req})
	start := time.Now()
	resp, err := d.client(i).Post(d.cf.Participants[i].Coordinator+"/api/v1/eth2/sign", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("batch signing: %d %s", resp.StatusCode, data)
	}
	results, err := api.DecodeBatchResults(data)
	if err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(req)
	parsed, err := signing.ParseRequest(raw)
	if err != nil {
		return 0, err
	}
	sg, err := parsed.Verify(d.net)
	if err != nil {
		return 0, err
	}
	for k, r := range results {
		if r.Error != nil {
			return 0, fmt.Errorf("validator %s: %d %s", r.Identifier, r.Error.Code, r.Error.Message)
		}
		if r.Signature == nil {
			return 0, fmt.Errorf("validator %d: no signature in the answer", k)
		}
		if err := verifyDemoSignature(r.Identifier, sg.SigningRoot, *r.Signature); err != nil {
			return 0, fmt.Errorf("validator %d: %w", k, err)
		}
	}
	fmt.Fprintf(d.env.Stdout, "   %d signatures, each verified under its validator key, in %s\n", len(results), took.Round(time.Millisecond))
	return took, nil
}

// verifyDemoSignature checks a full signature the cluster returned for a
// validator key over root.
func verifyDemoSignature(key api.PublicKey, root [32]byte, sig api.Signature) error {
	pk, err := bls.PublicKeyFromBytes(key[:])
	if err != nil {
		return err
	}
	s, err := bls.SignatureFromBytes(sig[:])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	// Policy: a cluster returning infinity is broken; name it rather than
	// report a signature that merely does not verify.
	if s.IsInfinity() {
		return fmt.Errorf("signature: %w", bls.ErrInfinity)
	}
	if !pk.Verify(root, s) {
		return errors.New("signature does not verify")
	}
	return nil
}

// replace replaces signer id by a new server, has the others repair its
// shares, and checks what it holds: the component keys it had before
// (before), and slashing protection past the cutover (step 3's double
// vote for epoch is refused).
func (d *demo) replace(ctx context.Context, st *devnet.State, id, epoch uint64, before map[api.PublicKey]api.PublicKey) error {
	i := slices.IndexFunc(d.cf.Participants, func(p adminapi.ClusterParticipant) bool { return p.ID == id })
	// Every other signer runs again, to help.
	for _, s := range st.Status(ctx) {
		if !s.Running && s.ID != id {
			if err := startSigner(ctx, st, s.ID, time.Minute); err != nil {
				return err
			}
		}
	}
	if err := replaceSigner(ctx, st, id, time.Minute); err != nil {
		return err
	}
	if held, err := d.components(ctx, i); err != nil || len(held) != 0 {
		return fmt.Errorf("the new server holds %d accounts before the repair (%v)", len(held), err)
	}
	fmt.Fprintf(d.env.Stdout, "   signer %d replaced: a new token and TLS identity, no shares\n", id)
	o := reshareOptions{mode: adminapi.ReshareRepair, participant: id}
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	o.flags(fs)
	if err := fs.Parse([]string{"--cluster", filepath.Join(st.Dir, "cluster.yaml"), "--poll", "250ms"}); err != nil {
		return err
	}
	if err := runReshare(ctx, d.env, &o); err != nil {
		return err
	}
	after, err := d.components(ctx, i)
	if err != nil {
		return err
	}
	if len(after) != len(d.cf.Accounts) || len(before) != len(d.cf.Accounts) {
		return fmt.Errorf("signer %d held %d accounts before the loss and %d after the repair, want %d", id, len(before), len(after), len(d.cf.Accounts))
	}
	for k, c := range before {
		if after[k] != c {
			return fmt.Errorf("signer %d's component key of %s changed in the repair", id, k)
		}
	}
	body, _ := json.Marshal(attestation(d.net, epoch, 0xb2))
	resp, err := d.client(i).Post(d.cf.Participants[i].Endpoint+"/api/v1/eth2/distributed/sign/"+d.cf.Accounts[0], "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e api.Error
	json.Unmarshal(data, &e)
	fmt.Fprintf(d.env.Stdout, "   step 3's double vote, to the repaired signer %d (before its cutover): %d %s\n", id, resp.StatusCode, e.Message)
	if resp.StatusCode != http.StatusPreconditionFailed {
		return fmt.Errorf("the repaired signer %d answered %d to a double vote the lost server had refused", id, resp.StatusCode)
	}
	return nil
}

// components lists participant i's component key of each account.
func (d *demo) components(ctx context.Context, i int) (map[api.PublicKey]api.PublicKey, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.cf.Participants[i].Endpoint+"/api/v1/eth2/distributed/accounts", nil)
	resp, err := d.client(i).Do(req)
	if err != nil {
		return nil, fmt.Errorf("signer %d's accounts: %w", d.cf.Participants[i].ID, err)
	}
	defer resp.Body.Close()
	var as []api.Account
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("signer %d's accounts: status %d %v", d.cf.Participants[i].ID, resp.StatusCode, err)
	}
	out := map[api.PublicKey]api.PublicKey{}
	for _, a := range as {
		out[a.CompositePublicKey] = a.PublicKey
	}
	return out, nil
}

// slashable sends a double vote for the first validator to every
// participant's distributed endpoint and counts the 412s.
func (d *demo) slashable(ctx context.Context, epoch uint64) (int, error) {
	body, _ := json.Marshal(attestation(d.net, epoch, 0xb2))
	refused := 0
	for i, p := range d.cf.Participants {
		resp, err := d.client(i).Post(p.Endpoint+"/api/v1/eth2/distributed/sign/"+d.cf.Accounts[0], "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		json.Unmarshal(data, &e)
		fmt.Fprintf(d.env.Stdout, "   signer %d: %d %s\n", p.ID, resp.StatusCode, e.Message)
		if resp.StatusCode == http.StatusPreconditionFailed {
			refused++
		}
	}
	if refused != len(d.cf.Participants) {
		return refused, errors.New("a signer accepted a slashable attestation")
	}
	return refused, nil
}
