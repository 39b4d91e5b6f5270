package devnet

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// validatorRegistryLimit is VALIDATOR_REGISTRY_LIMIT (2^40), the limit of
// the state's validators list, which fixes the depth of its Merkle tree.
const validatorRegistryLimitDepth = 40

// genesisFacts is what the devnet needs from the genesis state prysmctl
// wrote.
type genesisFacts struct {
	time                  time.Time
	genesisValidatorsRoot phase0.Root
}

// checkGenesisState decodes the Electra genesis state and checks it against
// the config before anyone relies on it: genesis time, fork, the validator
// set (exactly the interop keys, in order), and the genesis validators root
// recomputed from the validators rather than trusted from the state.
func checkGenesisState(c Config, ssz []byte, wantTime time.Time) (genesisFacts, error) {
	var st electra.BeaconState
	if err := st.UnmarshalSSZ(ssz); err != nil {
		return genesisFacts{}, fmt.Errorf("genesis state is not an Electra state: %w", err)
	}
	if got := time.Unix(int64(st.GenesisTime), 0); !got.Equal(wantTime) {
		return genesisFacts{}, fmt.Errorf("genesis state: genesis time %s, want %s", got.UTC(), wantTime.UTC())
	}
	if st.Fork == nil || st.Fork.CurrentVersion != ForkVersion(5) {
		return genesisFacts{}, fmt.Errorf("genesis state: fork is not Electra (%s)", forkVersion(5))
	}
	if len(st.Validators) != c.Validators {
		return genesisFacts{}, fmt.Errorf("genesis state: %d validators, want %d", len(st.Validators), c.Validators)
	}
	leaves := make([][32]byte, len(st.Validators))
	for i, v := range st.Validators {
		sk, err := InteropKey(uint64(i))
		if err != nil {
			return genesisFacts{}, err
		}
		want := sk.PublicKey().Bytes()
		sk.Zero()
		if v.PublicKey != phase0.BLSPubKey(want) {
			return genesisFacts{}, fmt.Errorf("genesis state: validator %d has pubkey %#x, not interop key %d", i, v.PublicKey[:], i)
		}
		if leaves[i], err = v.HashTreeRoot(); err != nil {
			return genesisFacts{}, fmt.Errorf("genesis state: validator %d: %w", i, err)
		}
	}
	root := listRoot(leaves, validatorRegistryLimitDepth)
	if root != st.GenesisValidatorsRoot {
		return genesisFacts{}, fmt.Errorf("genesis state: genesis_validators_root %#x, but the validators hash to %#x", st.GenesisValidatorsRoot[:], root[:])
	}
	return genesisFacts{time: wantTime, genesisValidatorsRoot: root}, nil
}

// listRoot is hash_tree_root of an SSZ list of composite elements whose
// roots are leaves, with a limit of 2^depth elements: the Merkle root of the
// leaves padded with zero subtrees to that depth, mixed with the length.
func listRoot(leaves [][32]byte, depth int) phase0.Root {
	zero := [32]byte{}
	level := append([][32]byte(nil), leaves...)
	for d := 0; d < depth; d++ {
		if len(level)%2 == 1 {
			level = append(level, zero)
		}
		next := make([][32]byte, len(level)/2)
		for i := range next {
			next[i] = sha256.Sum256(append(level[2*i][:], level[2*i+1][:]...))
		}
		level = next
		zero = sha256.Sum256(append(zero[:], zero[:]...))
	}
	root := zero
	if len(level) == 1 {
		root = level[0]
	}
	var length [32]byte
	binary.LittleEndian.PutUint64(length[:8], uint64(len(leaves)))
	return sha256.Sum256(append(root[:], length[:]...))
}
