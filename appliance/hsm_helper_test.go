package appliance_test

import (
	"context"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
)

func openToken(t testing.TB, uri string) (*hsm.Token, *hsm.URI) {
	t.Helper()
	u, err := hsm.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := hsm.Open(context.Background(), u, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok, u
}
