package devnet

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/rampart-signer/rampart/internal/bls"
)

// curveOrder is r, the order of BLS12-381's prime subgroups.
var curveOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// InteropKey returns the secret key of interop validator i, the
// deterministic keys every client's interop mode and prysmctl's
// generate-genesis use (eth2.0-pm interop/mocked_start/keygen.md):
// sk = int.from_bytes(sha256(i as 32 little-endian bytes), "little") mod r.
// These keys are public knowledge; they exist only for test networks.
func InteropKey(i uint64) (*bls.SecretKey, error) {
	var in [32]byte
	binary.LittleEndian.PutUint64(in[:8], i)
	h := sha256.Sum256(in[:])
	// big.Int reads big-endian; reverse for the little-endian reading.
	for l, r := 0, len(h)-1; l < r; l, r = l+1, r-1 {
		h[l], h[r] = h[r], h[l]
	}
	n := new(big.Int).SetBytes(h[:])
	n.Mod(n, curveOrder)
	var be [32]byte
	n.FillBytes(be[:])
	sk, err := bls.SecretKeyFromBytes(be[:])
	if err != nil {
		return nil, fmt.Errorf("interop key %d: %w", i, err)
	}
	return sk, nil
}
