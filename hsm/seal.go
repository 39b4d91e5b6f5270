package hsm

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Binding is what a sealed share is bound to. The share's own component
// public key is computed from the share and bound too.
type Binding struct {
	ClusterID   ClusterID
	Participant uint64 // 1..65535
	Threshold   uint64 // 1..65535
	// CompositeKey is the validator's public key.
	CompositeKey *bls.PublicKey
	// Members and Generation name the account's configuration: the
	// members holding its shares (ascending, Participant among them) and
	// how many resharings made it. Left nil and 0, the share belongs to
	// the cluster's configuration (its participants) and is sealed in
	// version 1; otherwise in version 2.
	Members    []uint64
	Generation uint64
}

// Placement is where the unsealing signer sits. Shares made for another
// cluster or participant are refused before the HSM sees them, so a share
// file copied between signers or clusters is caught by name, not only by a
// failed decryption.
type Placement struct {
	ClusterID   ClusterID
	Participant uint64
}

func (p Placement) validate() error {
	if p.Participant == 0 || p.Participant > maxParticipant {
		return fmt.Errorf("%w: placement participant id %d is outside 1..%d", ErrInvalidBinding, p.Participant, maxParticipant)
	}
	return nil
}

func (p Placement) check(i *ShareInfo) error {
	switch {
	case i.ClusterID != p.ClusterID:
		return fmt.Errorf("%w: sealed for cluster %v, this signer is in cluster %v", ErrWrongPlacement, i.ClusterID, p.ClusterID)
	case i.Participant != p.Participant:
		return fmt.Errorf("%w: sealed for participant %d, this signer is participant %d", ErrWrongPlacement, i.Participant, p.Participant)
	}
	return nil
}

// Share is an unsealed share with its authenticated metadata. Key is
// secret: zero it (or Close the ShareSet holding it) when done.
type Share struct {
	Info ShareInfo
	Key  *bls.SecretKey
}

// Seal encrypts share inside the HSM, bound to b and to the share's
// component public key, and returns the sealed blob (SealedShareLength
// bytes in version 1). Before returning, the blob is unsealed once and
// compared with the share, so a module that mis-seals is caught while the share still exists
// elsewhere.
func (k *SealingKey) Seal(ctx context.Context, share *bls.SecretKey, b Binding) ([]byte, error) {
	switch {
	case share == nil:
		return nil, fmt.Errorf("%w: no share", ErrInvalidBinding)
	case b.CompositeKey == nil:
		return nil, fmt.Errorf("%w: no composite public key", ErrInvalidBinding)
	case b.Participant == 0 || b.Participant > maxParticipant:
		return nil, fmt.Errorf("%w: participant id %d is outside 1..%d", ErrInvalidBinding, b.Participant, maxParticipant)
	case b.Threshold == 0 || b.Threshold > maxParticipant:
		return nil, fmt.Errorf("%w: threshold %d is outside 1..%d", ErrInvalidBinding, b.Threshold, maxParticipant)
	}
	sh := &sealedShare{info: ShareInfo{
		Version:      BlobVersion,
		ClusterID:    b.ClusterID,
		Participant:  b.Participant,
		Threshold:    b.Threshold,
		CompositeKey: b.CompositeKey.Bytes(),
		ComponentKey: share.PublicKey().Bytes(),
	}}
	if b.Members != nil || b.Generation != 0 {
		if err := checkMembers(b.Members, b.Participant, b.Threshold); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidBinding, err)
		}
		sh.info.Version, sh.info.Generation, sh.info.Members = BlobVersionMembers, b.Generation, slices.Clone(b.Members)
	}
	// A fresh random 96-bit IV per seal: with fewer than 2^32 seals per
	// key the chance of a repeat is negligible (NIST SP 800-38D §8.3).
	if _, err := io.ReadFull(k.t.opts.Rand, sh.iv[:]); err != nil {
		return nil, fmt.Errorf("hsm: drawing an AES-GCM IV: %w", err)
	}
	secret := share.Bytes()
	defer clear(secret[:])
	aad := sh.info.additionalData()
	err := k.t.do(ctx, "sealing a share", func(c *conn, s pkcs11.SessionHandle) error {
		sealed, err := k.sealChecked(c, s, sh.iv, aad, secret[:], "a share")
		if err != nil {
			return err
		}
		if len(sealed) != sealedLength {
			return fmt.Errorf("%w: AES-GCM returned %d bytes, want %d", ErrModule, len(sealed), sealedLength)
		}
		copy(sh.sealed[:], sealed)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sh.marshal(), nil
}

// Unseal opens one sealed share made for want. The caller zeroes
// share.Key. For many shares use UnsealAll, which is much faster.
func (k *SealingKey) Unseal(ctx context.Context, blob []byte, want Placement) (Share, error) {
	if err := want.validate(); err != nil {
		return Share{}, err
	}
	sh, err := parseSealedShare(blob)
	if err != nil {
		return Share{}, err
	}
	if err := want.check(&sh.info); err != nil {
		return Share{}, err
	}
	var key *bls.SecretKey
	err = k.t.do(ctx, "unsealing a share", func(c *conn, s pkcs11.SessionHandle) error {
		key, err = k.unsealOne(c, s, sh)
		return err
	})
	if err != nil {
		return Share{}, err
	}
	return Share{Info: sh.info, Key: key}, nil
}

// unsealOne decrypts a parsed share and checks it against its component
// public key.
func (k *SealingKey) unsealOne(c *conn, s pkcs11.SessionHandle, sh *sealedShare) (*bls.SecretKey, error) {
	pt, err := k.decrypt(c, s, sh.iv, sh.info.additionalData(), sh.sealed)
	if err != nil {
		return nil, err
	}
	key, err := bls.SecretKeyFromBytes(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: the unsealed value is not a BLS secret key", ErrComponentKeyMismatch)
	}
	if key.PublicKey().Bytes() != sh.info.ComponentKey {
		key.Zero()
		return nil, ErrComponentKeyMismatch
	}
	return key, nil
}

// ShareSet holds unsealed shares. Close zeroes them; the process should
// Close it on shutdown.
type ShareSet struct {
	mu     sync.Mutex
	shares []Share
}

// Len returns the number of shares (0 after Close).
func (s *ShareSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shares)
}

// Shares returns the shares in the order of the blobs given to UnsealAll.
// The slice and keys belong to the set and are zeroed by Close.
func (s *ShareSet) Shares() []Share {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shares
}

// Close zeroes every key. It is safe to call more than once.
func (s *ShareSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shares {
		s.shares[i].Key.Zero()
	}
	s.shares = nil
	return nil
}

// BlobError says which sealed share of a bulk unseal was refused and why.
type BlobError struct {
	Index int // position in the blobs given to UnsealAll
	Err   error
}

// Error names the blob by its index and gives the reason.
func (e *BlobError) Error() string { return fmt.Sprintf("sealed share #%d: %v", e.Index, e.Err) }

// Unwrap returns the reason, one of this package's sentinel errors.
func (e *BlobError) Unwrap() error { return e.Err }

// UnsealError lists every sealed share a bulk unseal refused.
type UnsealError struct {
	Total  int
	Failed []*BlobError
}

// maxListed bounds how many failures Error spells out.
const maxListed = 5

// Error counts the refused blobs and lists the first few.
func (e *UnsealError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hsm: %d of %d sealed shares refused", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-maxListed)
			break
		}
		fmt.Fprintf(&b, "; %v", f)
	}
	return b.String()
}

// Unwrap returns every BlobError, so errors.Is finds any reason.
func (e *UnsealError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}
