package bls_test

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// TestBatchVerifyChecksEveryItem is the regression test for herumi
// MultiVerify's work split (which BatchVerify used to call), which skipped
// the items after the first 16·(n/16) when 16 <= n < 16·NumCPU: an invalid
// signature placed there was accepted. The test also runs under -race,
// which MultiVerify aborted. Batch sizes around both boundaries must refuse an invalid
// signature at every position tried and accept the valid batch.
func TestBatchVerifyChecksEveryItem(t *testing.T) {
	threads := min(runtime.NumCPU(), 32)
	sizes := map[int]bool{1: true, 2: true, 15: true, 16: true, 17: true, 20: true, 31: true, 33: true}
	for _, n := range []int{16*threads - 1, 16 * threads, 16*threads + 1, 16*threads + 17} {
		sizes[n] = true
	}
	max := 0
	for n := range sizes {
		max = maxInt(max, n)
	}
	keys := make([]*bls.PublicKey, max)
	msgs := make([][32]byte, max)
	sigs := make([]*bls.Signature, max)
	for i := range keys {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = [32]byte{byte(i), byte(i >> 8), byte(i % 3)}
		keys[i], sigs[i] = sk.PublicKey(), sk.Sign(msgs[i])
	}
	forged := sigs[0] // a valid signature, but of another key and message
	for n := range sizes {
		t.Run(fmt.Sprintf("%d items", n), func(t *testing.T) {
			if !bls.BatchVerify(keys[:n], msgs[:n], sigs[:n]) {
				t.Fatal("valid batch refused")
			}
			positions := map[int]bool{0: true, n / 2: true, n - 1: true}
			for _, p := range []int{15, 16, 17, 16 * (n / 16)} {
				if p > 0 && p < n {
					positions[p] = true
				}
			}
			for p := range positions {
				if p == 0 && n == 1 {
					continue // sigs[0] is the valid signature itself
				}
				bad := append([]*bls.Signature(nil), sigs[:n]...)
				bad[p] = forged
				if p == 0 {
					bad[p] = sigs[1]
				}
				if bls.BatchVerify(keys[:n], msgs[:n], bad) {
					t.Fatalf("invalid signature at position %d of %d accepted", p, n)
				}
			}
		})
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestBatchVerifyWithSharedMessages covers the grouping of items by
// message (a committee signing one attestation root): a forged or swapped
// signature inside a group is refused, and a valid mixed batch accepted.
func TestBatchVerifyWithSharedMessages(t *testing.T) {
	const n = 40
	keys := make([]*bls.PublicKey, n)
	msgs := make([][32]byte, n)
	sigs := make([]*bls.Signature, n)
	for i := range keys {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = [32]byte{byte(i % 3)} // three groups
		keys[i], sigs[i] = sk.PublicKey(), sk.Sign(msgs[i])
	}
	if !bls.BatchVerify(keys, msgs, sigs) {
		t.Fatal("valid batch with shared messages refused")
	}
	swapped := append([]*bls.Signature(nil), sigs...)
	// Same message, keys exchanged: the group's unweighted sums still match,
	// so only the random weights catch it.
	swapped[0], swapped[3] = swapped[3], swapped[0]
	if bls.BatchVerify(keys, msgs, swapped) {
		t.Fatal("signatures swapped within a message group accepted")
	}
	for _, p := range []int{0, 20, n - 1} {
		bad := append([]*bls.Signature(nil), sigs...)
		bad[p] = sigs[(p+1)%n]
		if bls.BatchVerify(keys, msgs, bad) {
			t.Fatalf("forged signature at %d accepted", p)
		}
	}
}
