package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// dropAllSessions does to the token what a removal does: the module closes
// every session of the token in this process (here another part of the
// process calls C_CloseAllSessions), which ends the login and, in
// SoftHSM, invalidates the handles of private objects.
func dropAllSessions(t testing.TB, env *softhsm.Env, label string) {
	t.Helper()
	p, s := rawSession(t, env.ModulePath, label)
	info, err := p.GetSessionInfo(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CloseAllSessions(info.SlotID); err != nil {
		t.Fatal(err)
	}
}

var handshake = sha256.Sum256([]byte("handshake"))

// TestTokenLostUnderARunningSigner is issue 17's "HSM token removed under
// a running signer: every TLS handshake failed and health still said UP;
// it did not recover when the token came back", against real SoftHSM:
// sealing and TLS signatures fail with a transient ErrTokenRemoved, Probe
// says so (health can go DOWN), and Reopen brings back sealing, unsealing
// and TLS signatures with the keys found before, without a restart. The
// old keys' handles are dead (CKR_OBJECT_HANDLE_INVALID): the keys find
// their objects again.
func TestTokenLostUnderARunningSigner(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, k := sealingKey(t, env.Tokens[0])
	tlsKey, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	if _, err := tlsKey.Sign(rand.Reader, handshake[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := ht.Probe(t.Context()); err != nil {
		t.Fatalf("probe of a healthy token: %v", err)
	}

	dropAllSessions(t, env, "signer-1")
	for range 2 { // a dead pooled session, then a fresh one without login
		if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrTokenRemoved) || !hsm.Transient(err) {
			t.Fatalf("seal on a lost token: got %v; want a transient ErrTokenRemoved", err)
		}
	}
	if _, err := tlsKey.Sign(rand.Reader, handshake[:], crypto.SHA256); !errors.Is(err, hsm.ErrTokenRemoved) {
		t.Fatalf("TLS signature on a lost token: got %v; want ErrTokenRemoved", err)
	}
	if err := ht.Probe(t.Context()); !errors.Is(err, hsm.ErrTokenRemoved) {
		t.Fatalf("probe of a lost token: got %v; want ErrTokenRemoved", err)
	}

	if err := ht.Reopen(t.Context()); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := ht.Probe(t.Context()); err != nil {
		t.Fatalf("probe after reopen: %v", err)
	}
	got, err := k.Unseal(t.Context(), blob, a.placement())
	if err != nil {
		t.Fatalf("unseal after reopen: %v", err)
	}
	got.Key.Zero()
	seal(t, k, a)
	if _, err := tlsKey.Sign(rand.Reader, handshake[:], crypto.SHA256); err != nil {
		t.Fatalf("TLS signature after reopen: %v", err)
	}
}

// TestProbeSeesALogout proves Probe's session-state check (reopen.go): a
// token logged out under the Token (C_Logout elsewhere in the process, or
// a token reset) keeps answering, but its sessions are public; Probe
// reports ErrTokenRemoved, and Reopen logs in again.
func TestProbeSeesALogout(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht := open(t, env.Tokens[0])
	if err := ht.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, s := rawSession(t, env.ModulePath, "signer-1")
	if err := p.Logout(s); err != nil {
		t.Fatal(err)
	}
	if err := ht.Probe(t.Context()); !errors.Is(err, hsm.ErrTokenRemoved) {
		t.Fatalf("probe of a logged-out token: got %v; want ErrTokenRemoved", err)
	}
	if err := ht.Reopen(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := ht.Probe(t.Context()); err != nil {
		t.Fatalf("probe after reopen: %v", err)
	}
}

// TestProbeFaults proves Probe's other branches (reopen.go): the slot
// empty or failing, another token in it, a session that cannot be opened
// or is dead (and is then closed, not reused).
func TestProbeFaults(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	for _, tc := range []struct {
		name string
		set  func(f *hsm.Faults)
		want error
	}{
		{"reports a removed token", func(f *hsm.Faults) {
			f.TokenInfo = func(func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT)
			}
		}, hsm.ErrTokenRemoved},
		{"reports another token in the slot", func(f *hsm.Faults) {
			f.TokenInfo = func(next func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				ti, err := next()
				ti.SerialNumber = "another"
				return ti, err
			}
		}, hsm.ErrTokenRemoved},
		{"reports a slot that fails", func(f *hsm.Faults) {
			f.TokenInfo = func(func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
			}
		}, hsm.ErrModule},
		{"reports a session that cannot be opened", func(f *hsm.Faults) {
			f.OpenSession = func(func() (pkcs11.SessionHandle, error)) (pkcs11.SessionHandle, error) {
				return 0, pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)
			}
		}, hsm.ErrTokenRemoved},
		{"reports a dead session", func(f *hsm.Faults) {
			f.SessionInfo = func(func() (pkcs11.SessionInfo, error)) (pkcs11.SessionInfo, error) {
				return pkcs11.SessionInfo{}, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)
			}
		}, hsm.ErrTokenRemoved},
		{"reports a read-only or public session", func(f *hsm.Faults) {
			f.SessionInfo = func(next func() (pkcs11.SessionInfo, error)) (pkcs11.SessionInfo, error) {
				si, err := next()
				si.State = pkcs11.CKS_RW_PUBLIC_SESSION
				return si, err
			}
		}, hsm.ErrTokenRemoved},
		{"passes a healthy token", func(*hsm.Faults) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Set(func(f *hsm.Faults) {
				f.TokenInfo, f.OpenSession, f.SessionInfo = nil, nil, nil
				tc.set(f)
			})
			before := len(f.ClosedSessions())
			err := ht.Probe(t.Context())
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
			if closed := len(f.ClosedSessions()) - before; (err != nil) != (closed > 0) && tc.name != "reports a session that cannot be opened" {
				t.Fatalf("%d sessions closed after %v", closed, err)
			}
		})
	}
}

// TestReopenFaults proves Reopen's branches (reopen.go): a token not back
// yet is a transient ErrTokenRemoved, another token under the same label
// is refused, a wrong PIN once the old login is gone is permanent, and a
// closed Token stays closed. A failed Reopen leaves the Token as it was
// and releases what it opened.
func TestReopenFaults(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)
	gen := ht.Generation()

	t.Run("a token not back yet is transient", func(t *testing.T) {
		f.Set(func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return errors.New("could not find PKCS#11 token") }
		})
		defer f.Set(func(f *hsm.Faults) { f.Configure = nil })
		err := ht.Reopen(t.Context())
		if !errors.Is(err, hsm.ErrTokenRemoved) || !hsm.Transient(err) {
			t.Fatalf("got %v; want a transient ErrTokenRemoved", err)
		}
	})
	t.Run("another token with the label is refused", func(t *testing.T) {
		released := f.Released()
		f.Set(func(f *hsm.Faults) {
			f.TokenInfo = func(next func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				ti, err := next()
				ti.SerialNumber = "another"
				return ti, err
			}
		})
		err := ht.Reopen(t.Context())
		f.Set(func(f *hsm.Faults) { f.TokenInfo = nil })
		if !errors.Is(err, hsm.ErrTokenRemoved) {
			t.Fatalf("got %v; want ErrTokenRemoved", err)
		}
		if f.Released() != released+1 {
			t.Fatal("the refused token's conn was not released")
		}
	})
	if ht.Generation() != gen {
		t.Fatal("a failed reopen replaced the token's sessions")
	}
	seal(t, k, a)

	t.Run("a wrong PIN after the token came back is permanent", func(t *testing.T) {
		pin, err := os.ReadFile(env.Tokens[0].PINFile)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(env.Tokens[0].PINFile, pin, 0o600)
		if err := os.WriteFile(env.Tokens[0].PINFile, []byte("0000wrong\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dropAllSessions(t, env, "signer-1")
		if err := ht.Reopen(t.Context()); !errors.Is(err, hsm.ErrWrongPIN) || !hsm.Permanent(err) {
			t.Fatalf("got %v; want a permanent ErrWrongPIN", err)
		}
	})
	if err := ht.Reopen(t.Context()); err != nil {
		t.Fatalf("reopen with the right PIN: %v", err)
	}
	seal(t, k, a)

	t.Run("a closed token is not reopened", func(t *testing.T) {
		if err := ht.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ht.Reopen(t.Context()); !errors.Is(err, hsm.ErrClosed) {
			t.Fatalf("got %v; want ErrClosed", err)
		}
	})
}

// TestReopenChecksKeysAgain proves the re-resolution after a Reopen
// (sealkey.go SealingKey.handle, tlskey.go hsmSigner.current): the keys
// found before are found and checked again on first use, so a sealing key
// now weaker than required is refused, and a TLS key whose public key
// changed is refused rather than used to sign.
func TestReopenChecksKeysAgain(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	tlsKey, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"})
	if err != nil {
		t.Fatal(err)
	}
	otherID := []byte{0x0e, 0x0e}
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "other", ID: otherID}); err != nil {
		t.Fatal(err)
	}
	if err := ht.Reopen(t.Context()); err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)

	alterAttribute(f, attrCase{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, boolValue(true)})
	if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrKeyAttributes) {
		t.Fatalf("seal with a key now extractable: got %v; want ErrKeyAttributes", err)
	}
	f.Set(func(f *hsm.Faults) { f.Attribute = nil })
	seal(t, k, a)

	// The token comes back with the other key pair's public half under
	// the TLS key's label and id.
	f.Set(func(f *hsm.Faults) {
		f.FindKeyPairs = func(id, label []byte, find func(id, label []byte) ([]crypto11.Signer, error)) ([]crypto11.Signer, error) {
			return find(otherID, []byte("other"))
		}
	})
	if _, err := tlsKey.Sign(rand.Reader, handshake[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyAttributes) {
		t.Fatalf("signature with a TLS key that changed: got %v; want ErrKeyAttributes", err)
	}
	f.Set(func(f *hsm.Faults) { f.FindKeyPairs = nil })
	if _, err := tlsKey.Sign(rand.Reader, handshake[:], crypto.SHA256); err != nil {
		t.Fatalf("signature once the right key is back: %v", err)
	}
}

// TestReopenWhileACallRuns proves Reopen's hand-over (reopen.go): a call
// running on the old sessions finishes on them, the old module handle is
// released only once it has, and new calls use the new login.
func TestReopenWhileACallRuns(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	f.Set(func(f *hsm.Faults) {
		f.Encrypt = func(_ pkcs11.SessionHandle, pt []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			if calls.Add(1) == 1 {
				close(entered)
				<-release
			}
			return next(pt)
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := k.Seal(t.Context(), a.share, a.binding)
		done <- err
	}()
	<-entered
	gen := ht.Generation()
	if err := ht.Reopen(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ht.Generation() == gen {
		t.Fatal("reopen kept the old sessions")
	}
	if f.Released() != 0 {
		t.Fatal("the old module handle was released under a running call")
	}
	seal(t, k, a) // on the new login, while the old call still runs
	close(release)
	if err := waitFor(t, done, "the call on the old sessions returning"); err != nil {
		t.Fatalf("the call on the old sessions: %v", err)
	}
	waitFor(t, f.ModuleReleased(), "releasing the old module handle")
}

// TestCloseDuringReopen proves Reopen's closed check (reopen.go): a Close
// that comes while Reopen is logging in waits for it, Reopen then
// releases the login it made instead of installing it (ErrClosed), and
// both the old and the new module handles end up released.
func TestCloseDuringReopen(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	f := hsm.NewFaults()
	ht, err := hsm.OpenFaulty(t.Context(), env.Tokens[0].URI, hsm.DefaultOptions(), f)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	f.Set(func(f *hsm.Faults) {
		f.Configure = func(next func() error) error {
			close(entered)
			<-release
			return next()
		}
	})
	reopened := make(chan error, 1)
	go func() { reopened <- ht.Reopen(t.Context()) }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- ht.Close() }()
	// Close waits for the running Reopen; wait until it has begun to.
	for !ht.Closing() {
		select {
		case err := <-closed:
			t.Fatalf("Close returned while Reopen was still logging in: %v", err)
		default:
			runtime.Gosched()
		}
	}
	close(release)
	if err := waitFor(t, reopened, "Reopen returning"); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("reopen during close: got %v; want ErrClosed", err)
	}
	if err := waitFor(t, closed, "Close returning"); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitFor(t, f.ModuleReleased(), "releasing one module handle")
	waitFor(t, f.ModuleReleased(), "releasing the other module handle")
}
