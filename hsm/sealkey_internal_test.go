package hsm

import (
	"errors"
	"testing"
)

// TestDecryptRefusesCiphertextShorterThanTag proves decryptGCM's first
// check (sealkey.go, "shorter than the tag"): a ciphertext that cannot
// even hold the tag is refused as a failed unseal before anything reaches
// the module. The conn here has no module, so any call would panic. (The
// parsers of sealed shares, data and tags refuse such input first; this
// check keeps decryptGCM safe for any caller.)
func TestDecryptRefusesCiphertextShorterThanTag(t *testing.T) {
	k := &SealingKey{obj: Object{Label: "seal"}}
	for _, n := range []int{0, 1, tagBits/8 - 1} {
		if _, err := k.decryptGCM(&conn{}, 0, [ivLength]byte{}, nil, make([]byte, n)); !errors.Is(err, ErrUnseal) {
			t.Fatalf("%d bytes: got %v; want ErrUnseal", n, err)
		}
	}
}
