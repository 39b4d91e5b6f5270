package appliance_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// crashAt is a participant's administrator whose activation is lost (the
// importer was killed as it activated), or whose proof is another
// account's (a different share under the key asked).
type crashAt struct {
	*adminapi.Client
	skipActivate bool
	proofOf      *api.PublicKey
}

func (c crashAt) Activate(ctx context.Context, keys []api.PublicKey) error {
	if c.skipActivate {
		return nil
	}
	return c.Client.Activate(ctx, keys)
}

func (c crashAt) Prove(ctx context.Context, keys []api.PublicKey) ([]api.Signature, error) {
	if c.proofOf == nil {
		return c.Client.Prove(ctx, keys)
	}
	return c.Client.Prove(ctx, slices.Repeat([]api.PublicKey{*c.proofOf}, len(keys)))
}

// TestImportResumesAnInterruptedImport is the regression test for an
// interrupted import that could not be run again (409 "account already
// exists on this signer" failed the whole batch): a key every signer
// holds is skipped once its shares prove it, one an interrupted import
// left staged somewhere is completed, the rest imported; a different share
// under the same key, or a key held by some signers only, is an error
// naming it, before anything changes.
func TestImportResumesAnInterruptedImport(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 0)
	peers := tc.adminPeers(t)
	importer := func(wrap func(i int, c *adminapi.Client) adminapi.AccountAdmin) *adminapi.Importer {
		var admins []adminapi.AccountAdmin
		for i, p := range peers {
			admins = append(admins, wrap(i, p))
		}
		return &adminapi.Importer{Admins: admins, Threshold: 2, Network: tc.net, Rand: rand.Reader}
	}
	plain := importer(func(_ int, c *adminapi.Client) adminapi.AccountAdmin { return c })
	ctx := context.Background()
	newKey := func() adminapi.ImportKey {
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		return adminapi.ImportKey{Secret: sk}
	}
	pub := func(k adminapi.ImportKey) api.PublicKey { return api.PublicKey(k.Secret.PublicKey().Bytes()) }

	done, staged, fresh := newKey(), newKey(), newKey()
	if _, err := plain.Import(ctx, []adminapi.ImportKey{done}); err != nil {
		t.Fatal(err)
	}
	// Killed while activating: participant 3 never activated it.
	lost := importer(func(i int, c *adminapi.Client) adminapi.AccountAdmin { return crashAt{Client: c, skipActivate: i == 2} })
	if _, err := lost.Import(ctx, []adminapi.ImportKey{staged}); err != nil {
		t.Fatal(err)
	}
	if st, err := peers[2].Held(ctx, []api.PublicKey{pub(staged)}); err != nil || st[0] != adminapi.AccountStaged {
		t.Fatalf("participant 3: %v %v", st, err)
	}

	out, err := plain.ImportResumable(ctx, []adminapi.ImportKey{done, staged, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Present, []api.PublicKey{pub(done)}) || !slices.Equal(out.Completed, []api.PublicKey{pub(staged)}) || !slices.Equal(out.Imported, []api.PublicKey{pub(fresh)}) {
		t.Fatalf("outcome %+v", out)
	}
	for i, p := range peers {
		st, err := p.Held(ctx, []api.PublicKey{pub(done), pub(staged), pub(fresh)})
		if err != nil || !slices.Equal(st, []string{"active", "active", "active"}) {
			t.Fatalf("participant %d: %v %v", i+1, st, err)
		}
	}

	t.Run("a different share under the same key", func(t *testing.T) {
		other := pub(fresh)
		forged := importer(func(i int, c *adminapi.Client) adminapi.AccountAdmin {
			if i == 1 {
				return crashAt{Client: c, proofOf: &other}
			}
			return c
		})
		another := newKey()
		_, err := forged.ImportResumable(ctx, []adminapi.ImportKey{done, another})
		if !errors.Is(err, adminapi.ErrAccountConflict) || !strings.Contains(err.Error(), pub(done).String()) || !strings.Contains(err.Error(), "participant 2") {
			t.Fatalf("%v", err)
		}
		if st, _ := peers[0].Held(ctx, []api.PublicKey{pub(another)}); st[0] != adminapi.AccountAbsent {
			t.Fatalf("the rest of a refused batch was imported: %v", st)
		}
	})
	t.Run("a key some signers hold", func(t *testing.T) {
		if _, _, err := peers[2].Remove(ctx, pub(done)); err != nil {
			t.Fatal(err)
		}
		_, err := plain.ImportResumable(ctx, []adminapi.ImportKey{done})
		if !errors.Is(err, adminapi.ErrAccountIncomplete) || !strings.Contains(err.Error(), pub(done).String()) || !strings.Contains(err.Error(), "not by [3]") {
			t.Fatalf("%v", err)
		}
	})
}
