package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// examplesCommand shows the signing-root pipeline on every request example
// of the specification (the first demo of the project, kept as a quick check
// of a build).
func examplesCommand() *cli.Command {
	return &cli.Command{
		Name:    "examples",
		Summary: "Sign every Remote Signing API example with a fresh key.",
		Description: `Decodes each request example of the Remote Signing API (the copy embedded
in the binary), computes its signing root, signs it with a freshly generated
BLS key and verifies the signature. Roots come from each example's own
fork_info on a test network like the examples' (genesis fork version
0x00000001); the check against a real network's schedule is not applied.`,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return runExamples(ctx, env.Stdout)
		},
	}
}

// exampleGVR is the genesis validators root of the examples' fork_info.
const exampleGVR = "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"

// exampleNetwork is a network like the one the examples were made on.
func exampleNetwork(preset string) (*network.Network, error) {
	var gvr phase0.Root
	if n, err := hex.Decode(gvr[:], []byte(strings.TrimPrefix(exampleGVR, "0x"))); err != nil || n != len(gvr) {
		return nil, fmt.Errorf("example genesis validators root: %v", err)
	}
	config := fmt.Sprintf("PRESET_BASE: %s\nCONFIG_NAME: examples-%s\nGENESIS_FORK_VERSION: 0x00000001\nSECONDS_PER_SLOT: 6\n", preset, preset)
	return network.ParseConfig([]byte(config), gvr)
}

func runExamples(ctx context.Context, w io.Writer) error {
	examples, err := specexamples.Load(specexamples.Embedded())
	if err != nil {
		return fmt.Errorf("embedded examples: %w", err)
	}
	nets := map[string]*network.Network{}
	for _, preset := range []string{"mainnet", "minimal"} {
		if nets[preset], err = exampleNetwork(preset); err != nil {
			return err
		}
	}
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		return err
	}
	defer sk.Zero()
	pk := sk.PublicKey()

	fmt.Fprintf(w, "Signing every request example of the Remote Signing API (embedded copy,\n")
	fmt.Fprintf(w, "ethereum/remote-signing-api, CC0) with a fresh BLS key %s.\n\n", pk)
	types := map[signing.Type]bool{}
	published, wrong := 0, 0
	for _, e := range examples {
		if err := ctx.Err(); err != nil {
			return err
		}
		req, err := demoRequest(w, e)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		root, err := req.SigningRoot(nets[e.Preset])
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		sig := sk.Sign(root)
		if !pk.Verify(root, sig) {
			return fmt.Errorf("%s: signature does not verify", e.Name)
		}
		types[req.Type] = true
		note := "as published"
		switch {
		case root == e.SigningRoot:
			published++
		case e.WrongRoot:
			wrong++
			note = fmt.Sprintf("the example publishes %#x, which is wrong for its content", e.SigningRoot)
		default:
			return fmt.Errorf("%s: computed %#x, the example publishes %#x", e.Name, root, e.SigningRoot)
		}
		sigBytes := sig.Bytes()
		fmt.Fprintf(w, "%s  (%s, %s preset)\n", req.Type, e.Name, e.Preset)
		fmt.Fprintf(w, "  signing root  %#x  (%s)\n", root, note)
		fmt.Fprintf(w, "  signature     %#x  (verified)\n\n", sigBytes)
	}
	fmt.Fprintf(w, "%d examples of %d request types: %d roots as published, %d published roots wrong; every signature verified.\n",
		len(examples), len(types), published, wrong)
	if len(types) != len(signing.Types()) {
		return fmt.Errorf("the examples cover %d of the %d request types", len(types), len(signing.Types()))
	}
	return nil
}

// demoRequest decodes an example. Examples spelled in camelCase are refused
// by strict decoding, as a real signer would; the demo says so and uses the
// schema's spelling.
func demoRequest(w io.Writer, e specexamples.Example) (*signing.Request, error) {
	body := e.JSON
	if e.CamelCase {
		_, err := parse(e.Batch, body)
		var fe *signing.FieldError
		if !errors.As(err, &fe) {
			return nil, fmt.Errorf("camelCase example was not refused: %v", err)
		}
		fmt.Fprintf(w, "(%s is refused as published: %v; respelled as the schema spells it)\n", e.Name, err)
		if body, err = specexamples.SchemaSpelling(body); err != nil {
			return nil, err
		}
	}
	return parse(e.Batch, body)
}

func parse(batch bool, body []byte) (*signing.Request, error) {
	if !batch {
		return signing.ParseRequest(body)
	}
	b, err := signing.ParseBatch(body)
	if err != nil {
		return nil, err
	}
	return b.Request, nil
}
