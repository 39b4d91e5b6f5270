package signing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

func mainnetNet() *network.Network { return network.Mainnet() }

const sepoliaGVR = "0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"

func exitRequest(epoch string, info obj) obj {
	return obj{"type": "VOLUNTARY_EXIT", "fork_info": clone(info), "voluntary_exit": obj{"epoch": epoch, "validator_index": "12345"}}
}

func generic(domain phase0.Domain) obj {
	return obj{"type": "GENERIC", "signing_data": obj{"object_root": root(0x42), "domain": hx(domain[:])}}
}

func hx(b []byte) string {
	s := "0x"
	for _, c := range b {
		s += hexByte(c)
	}
	return s
}

func TestVerifyAgainstTheNetwork(t *testing.T) {
	mainnet, sepolia := network.Mainnet(), network.Sepolia()
	capellaInfo := forkInfo("0x02000000", "0x03000000", "194048", mainnetGVR)
	bellatrixInfo := forkInfo("0x01000000", "0x02000000", "144896", mainnetGVR)
	builder := signing.ComputeDomain(phase0.DomainType{0, 0, 0, 1}, phase0.Version{}, phase0.Root{})
	sepoliaSelection := signing.ComputeDomain(phase0.DomainType{5}, phase0.Version{0x90, 0, 0, 0x75}, sepolia.GenesisValidatorsRoot())
	mainnetSelection := signing.ComputeDomain(phase0.DomainType{5}, phase0.Version{6}, mainnet.GenesisValidatorsRoot())
	contribution := obj{"type": "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", "fork_info": clone(fuluInfo), "contribution_and_proof": obj{
		"aggregator_index": "4", "selection_proof": sig(1), "contribution": obj{
			"slot": "13440000", "beacon_block_root": root(2), "subcommittee_index": "1", "aggregation_bits": "0x24", "signature": sig(3)}}}

	for _, tc := range []struct {
		name    string
		n       *network.Network
		body    obj
		wantErr error
		wantMsg string
	}{
		{name: "accepts an attestation with the fork in effect", n: mainnet, body: attestationRequest()},
		{name: "accepts lodestar's message epoch as fork epoch", n: mainnet, body: with(attestationRequest(), "fork_info.fork.epoch", "420000")},
		{name: "accepts the new fork for an attestation of the epoch before it", n: mainnet,
			body: with(attestationRequest(), "attestation", attestationData("13164512", "411390", "411391"))},
		{name: "refuses an attestation for another network", n: mainnet, body: with(attestationRequest(), "fork_info.genesis_validators_root", sepoliaGVR),
			wantErr: network.ErrGenesisValidatorsRoot, wantMsg: "fork_info.genesis_validators_root"},
		{name: "refuses a fork from another network", n: mainnet, body: with(attestationRequest(), "fork_info", forkInfo("0x90000074", "0x90000075", "272640", mainnetGVR)),
			wantErr: network.ErrUnknownFork, wantMsg: "fork_info.fork.current_version 0x90000075"},
		{name: "refuses fork_info that does not match the message epoch", n: mainnet, body: with(attestationRequest(), "fork_info", clone(electraInfo)),
			wantErr: network.ErrWrongFork, wantMsg: "selects version 0x05000000 for epoch 420000, but network mainnet is in FULU"},
		{name: "accepts an exit after Deneb with the fork in effect", n: mainnet, body: exitRequest("420000", fuluInfo)},
		{name: "accepts an exit after Deneb with the Capella fork (lodestar)", n: mainnet, body: exitRequest("420000", capellaInfo)},
		{name: "refuses an exit after Deneb with a fork older than Capella", n: mainnet, body: exitRequest("420000", bellatrixInfo),
			wantErr: network.ErrWrongFork},
		{name: "accepts an exit before Deneb with its own fork", n: mainnet, body: exitRequest("150000", bellatrixInfo)},
		{name: "refuses a block version the network is not in", n: mainnet, body: blockV2Request("ELECTRA", "13440000", fuluInfo),
			wantErr: signing.ErrInvalidRequest, wantMsg: "beacon_block.version is ELECTRA, but network mainnet is in FULU at epoch 420000"},
		{name: "accepts a block of the fork in effect", n: mainnet, body: blockV2Request("FULU", "13440000", fuluInfo)},
		{name: "refuses a phase0 BLOCK after Altair", n: mainnet, body: obj{"type": "BLOCK", "fork_info": clone(fuluInfo), "block": phase0Block("13440000")},
			wantErr: signing.ErrInvalidRequest, wantMsg: "use BLOCK_V2"},
		{name: "refuses a phase0 AGGREGATE_AND_PROOF after Electra", n: mainnet, body: unversionedAggregate("DENEB", fuluInfo),
			wantErr: signing.ErrInvalidRequest, wantMsg: "carries a phase0 aggregate, but network mainnet is in FULU at epoch 420000, which needs an electra one"},
		{name: "accepts lighthouse's electra aggregate under AGGREGATE_AND_PROOF", n: mainnet, body: unversionedAggregate("FULU", fuluInfo)},
		{name: "refuses an electra aggregate under AGGREGATE_AND_PROOF before Electra", n: mainnet,
			body:    with(with(unversionedAggregate("FULU", forkInfo("0x03000000", "0x04000000", "269568", mainnetGVR)), "aggregate_and_proof.aggregate.data.slot", "9000000"), "aggregate_and_proof.aggregate.data.target.epoch", "281250"),
			wantErr: signing.ErrInvalidRequest, wantMsg: "carries an electra aggregate, but network mainnet is in DENEB"},
		{name: "accepts AGGREGATE_AND_PROOF_V2 of the fork in effect", n: mainnet, body: aggregateV2("FULU", "0x01")},
		{name: "refuses AGGREGATE_AND_PROOF_V2 of a past fork", n: mainnet, body: aggregateV2("DENEB", "0x01"),
			wantErr: signing.ErrInvalidRequest, wantMsg: "aggregate_and_proof.version is DENEB"},
		{name: "accepts a deposit for the network", n: mainnet, body: deposit("0x00000000")},
		{name: "refuses a deposit for another network", n: mainnet, body: deposit("0x90000069"),
			wantErr: signing.ErrForeignDomain, wantMsg: "deposit.genesis_fork_version is 0x90000069"},
		{name: "accepts a GENERIC builder-style domain of the network", n: mainnet, body: generic(builder)},
		{name: "accepts a GENERIC domain of a scheduled fork", n: mainnet, body: generic(mainnetSelection)},
		{name: "refuses a GENERIC domain of another network", n: mainnet, body: generic(sepoliaSelection),
			wantErr: signing.ErrForeignDomain, wantMsg: "signing_data.domain"},
		{name: "refuses a zero GENERIC domain", n: mainnet, body: generic(phase0.Domain{}), wantErr: signing.ErrForeignDomain},
		{name: "refuses a signingRoot the signer did not compute", n: mainnet, body: with(attestationRequest(), "signingRoot", root(0xee)),
			wantErr: signing.ErrSigningRootMismatch, wantMsg: "signingRoot is 0xeeee"},
		{name: "refuses minimal-sized contribution bits on mainnet", n: mainnet, body: contribution,
			wantErr: signing.ErrInvalidRequest, wantMsg: "contribution_and_proof.contribution.aggregation_bits: has 1 bytes, the mainnet preset needs 16"},
		{name: "accepts mainnet-sized contribution bits", n: mainnet, body: with(contribution, "contribution_and_proof.contribution.aggregation_bits", "0x"+strings.Repeat("01", 16))},
		{name: "accepts an attestation at a Gloas epoch of Sepolia", n: sepolia,
			body: obj{"type": "ATTESTATION", "fork_info": forkInfo("0x90000075", "0x90000076", "353024", sepoliaGVR), "attestation": attestationData("11300000", "353123", "353124")}},
		{name: "refuses a FULU block at a Gloas epoch of Sepolia", n: sepolia,
			body:    blockV2Request("FULU", "11300000", forkInfo("0x90000075", "0x90000076", "353024", sepoliaGVR)),
			wantErr: signing.ErrInvalidRequest, wantMsg: "beacon_block.version is FULU, but network sepolia is in GLOAS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := signing.ParseRequest(encode(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			_, err = req.Verify(tc.n)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

// unversionedAggregate is AGGREGATE_AND_PROOF with the container of
// version (phase0 before ELECTRA, electra from it), as Lighthouse sends it.
func unversionedAggregate(version string, info obj) obj {
	data := aggregateV2(version, "0x0501")["aggregate_and_proof"].(obj)["data"]
	return obj{"type": "AGGREGATE_AND_PROOF", "fork_info": clone(info), "aggregate_and_proof": data}
}

func phase0Block(slot string) obj {
	return obj{"slot": slot, "proposer_index": "1", "parent_root": root(1), "state_root": root(2), "body": obj{
		"randao_reveal": sig(1), "eth1_data": obj{"deposit_root": root(3), "deposit_count": "8", "block_hash": root(4)},
		"graffiti": root(5), "proposer_slashings": []any{}, "attester_slashings": []any{}, "attestations": []any{},
		"deposits": []any{}, "voluntary_exits": []any{}}}
}

// From Deneb on an exit is signed over the Capella fork version (EIP-7044)
// whatever fork_info says; before Deneb over the fork of its epoch.
func TestVoluntaryExitDomainFollowsEIP7044(t *testing.T) {
	mainnet := network.Mainnet()
	gvr := mainnet.GenesisValidatorsRoot()
	for _, tc := range []struct {
		name    string
		body    obj
		version phase0.Version
	}{
		{"signs an exit after Deneb over Capella", exitRequest("420000", fuluInfo), phase0.Version{3}},
		{"signs an exit after Deneb sent with the Capella fork over Capella", exitRequest("420000", forkInfo("0x02000000", "0x03000000", "194048", mainnetGVR)), phase0.Version{3}},
		{"signs an exit at the Deneb epoch over Capella", exitRequest("269568", forkInfo("0x03000000", "0x04000000", "269568", mainnetGVR)), phase0.Version{3}},
		{"signs an exit before Deneb over its own fork", exitRequest("150000", forkInfo("0x01000000", "0x02000000", "144896", mainnetGVR)), phase0.Version{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := signing.ParseRequest(encode(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			s, err := req.Verify(mainnet)
			if err != nil {
				t.Fatal(err)
			}
			object, err := req.VoluntaryExit.HashTreeRoot()
			if err != nil {
				t.Fatal(err)
			}
			want := signing.ComputeSigningRoot(object, signing.ComputeDomain(phase0.DomainType{4}, tc.version, gvr))
			if s.SigningRoot != want || s.Domain != signing.ComputeDomain(phase0.DomainType{4}, tc.version, gvr) {
				t.Fatalf("signed over domain %#x, want fork version %#x", s.Domain, tc.version)
			}
		})
	}
}

// A validator registration is signed over the network's genesis fork
// version with a zero root, so the same registration has a different root
// on each network.
func TestValidatorRegistrationUsesTheNetworksGenesisVersion(t *testing.T) {
	req, err := signing.ParseRequest(encode(t, registration()))
	if err != nil {
		t.Fatal(err)
	}
	object, err := req.ValidatorRegistration.HashTreeRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*network.Network{network.Mainnet(), network.Hoodi()} {
		s, err := req.Verify(n)
		if err != nil {
			t.Fatal(err)
		}
		want := signingRootOf(object, domainOf([4]byte{0, 0, 0, 1}, n.GenesisForkVersion(), chunk{}))
		if s.SigningRoot != want || s.HasEpoch {
			t.Errorf("%s: root %#x, want %#x", n.Name(), s.SigningRoot, want)
		}
	}
}

func TestVerifyReturnsSlashingData(t *testing.T) {
	mainnet := network.Mainnet()
	req, err := signing.ParseRequest(encode(t, attestationRequest()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := req.Verify(mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if s.Vote == nil || s.Vote.SourceEpoch != 419999 || s.Vote.TargetEpoch != 420000 || s.Vote.SigningRoot != s.SigningRoot || s.Proposal != nil {
		t.Fatalf("vote %+v proposal %+v", s.Vote, s.Proposal)
	}
	if !s.HasEpoch || s.Epoch != 420000 || s.DomainType() != (phase0.DomainType{1}) || !signing.IsSlashableDomain(s.DomainType()) {
		t.Fatalf("epoch %d %v domain type %#x", s.Epoch, s.HasEpoch, s.DomainType())
	}

	req, err = signing.ParseRequest(encode(t, blockV2Request("FULU", "13440005", fuluInfo)))
	if err != nil {
		t.Fatal(err)
	}
	s, err = req.Verify(mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if s.Proposal == nil || s.Proposal.Slot != 13440005 || s.Proposal.SigningRoot != s.SigningRoot || s.Vote != nil {
		t.Fatalf("proposal %+v vote %+v", s.Proposal, s.Vote)
	}
	if slot, ok := req.Slot(); !ok || slot != 13440005 {
		t.Fatalf("slot %d %v", slot, ok)
	}

	req, err = signing.ParseRequest(encode(t, generic(signing.ComputeDomain(phase0.DomainType{0, 0, 0, 1}, phase0.Version{}, phase0.Root{}))))
	if err != nil {
		t.Fatal(err)
	}
	if req.DomainType() != (phase0.DomainType{0, 0, 0, 1}) || signing.IsSlashableDomain(req.DomainType()) {
		t.Fatalf("GENERIC domain type %#x", req.DomainType())
	}
}

// The minimal preset hashes an Electra aggregate with its own limits
// (aggregation_bits up to 2048*4 bits, committee_bits of 4 bits); the
// independent hasher agrees.
func TestMinimalPresetElectraAggregateMatchesIndependentHash(t *testing.T) {
	minimal := exampleNetwork(t, "minimal")
	body := aggregateV2("ELECTRA", "0x0501")
	body = with(body, "aggregate_and_proof.data.aggregate.committee_bits", "0x05")
	body = with(body, "fork_info", forkInfo("0x00000001", "0x00000001", "0", hx(exampleGVR[:])))
	req, err := signing.ParseRequest(encode(t, body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := req.SigningRoot(minimal)
	if err != nil {
		t.Fatal(err)
	}
	a := req.AggregateAndProof.Electra
	d := a.Aggregate.Data
	attData := container(uint64Chunk(uint64(d.Slot)), uint64Chunk(uint64(d.Index)), chunk(d.BeaconBlockRoot),
		container(uint64Chunk(uint64(d.Source.Epoch)), chunk(d.Source.Root)),
		container(uint64Chunk(uint64(d.Target.Epoch)), chunk(d.Target.Root)))
	aggregate := container(bitlistRoot(a.Aggregate.AggregationBits, 2048*4), attData,
		bytesRoot(a.Aggregate.Signature[:]), merkleize(pack(a.Aggregate.CommitteeBits), 1))
	object := container(uint64Chunk(uint64(a.AggregatorIndex)), aggregate, bytesRoot(a.SelectionProof[:]))
	want := signingRootOf(object, domainOf([4]byte{6}, [4]byte{0, 0, 0, 1}, exampleGVR))
	if got != want {
		t.Fatalf("minimal electra aggregate: %#x, independent %#x", got, want)
	}
	if _, err := req.SigningRoot(network.Mainnet()); err == nil || !strings.Contains(err.Error(), "committee_bits: has 1 bytes, the mainnet preset needs 8") {
		t.Fatalf("minimal committee bits on mainnet: %v", err)
	}
	wide := with(body, "aggregate_and_proof.data.aggregate.committee_bits", "0x15")
	req, err = signing.ParseRequest(encode(t, wide))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := req.SigningRoot(minimal); err == nil || !strings.Contains(err.Error(), "sets bits beyond the 4 committees") {
		t.Fatalf("committee bit 4 on minimal: %v", err)
	}
}

// Attack: a client asks for a GENERIC signature over a block's root in the
// proposer domain, which is a block signature that slashing protection
// never saw. The root is identical to BLOCK_V2's, so only the signer's
// policy stops it; IsSlashableDomain is what that policy tests.
func TestAttackGenericSmugglesABlockProposal(t *testing.T) {
	mainnet := network.Mainnet()
	block, err := signing.ParseRequest(encode(t, blockV2Request("FULU", "13440000", fuluInfo)))
	if err != nil {
		t.Fatal(err)
	}
	proposal, err := block.Verify(mainnet)
	if err != nil {
		t.Fatal(err)
	}
	headerRoot, err := block.Block.Header.HashTreeRoot()
	if err != nil {
		t.Fatal(err)
	}
	smuggled := obj{"type": "GENERIC", "signing_data": obj{"object_root": hx(headerRoot[:]), "domain": hx(proposal.Domain[:])}}
	req, err := signing.ParseRequest(encode(t, smuggled))
	if err != nil {
		t.Fatal(err)
	}
	s, err := req.Verify(mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if s.SigningRoot != proposal.SigningRoot {
		t.Fatalf("GENERIC root %#x differs from the block's %#x", s.SigningRoot, proposal.SigningRoot)
	}
	if !signing.IsSlashableDomain(s.DomainType()) || s.Proposal != nil {
		t.Fatal("the smuggled proposal is not flagged as slashable")
	}
}

// Lighthouse's AGGREGATE_AND_PROOF with an electra aggregate signs to the
// same root as AGGREGATE_AND_PROOF_V2 version FULU with the same data.
func TestUnversionedElectraAggregateSignsLikeV2(t *testing.T) {
	roots := map[string]phase0.Root{}
	for name, body := range map[string]obj{"v1": unversionedAggregate("FULU", fuluInfo), "v2": aggregateV2("FULU", "0x0501")} {
		req, err := signing.ParseRequest(encode(t, body))
		if err != nil {
			t.Fatal(err)
		}
		s, err := req.Verify(network.Mainnet())
		if err != nil {
			t.Fatal(err)
		}
		roots[name] = s.SigningRoot
	}
	if roots["v1"] != roots["v2"] {
		t.Fatalf("AGGREGATE_AND_PROOF %#x, AGGREGATE_AND_PROOF_V2 %#x", roots["v1"], roots["v2"])
	}
}
