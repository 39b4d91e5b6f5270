package bls

import (
	"sync"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

var initOnce sync.Once

// ensureInit prepares the library the first time any operation runs. herumi
// keeps its curve parameters in C globals; doing this lazily keeps the package
// free of init() while every entry point still sees an initialised library.
func ensureInit() {
	initOnce.Do(func() {
		if err := herumi.Init(herumi.BLS12_381); err != nil {
			panic("bls: cannot initialise BLS12-381: " + err.Error())
		}
		if err := herumi.SetETHmode(herumi.EthModeDraft07); err != nil {
			panic("bls: cannot select Ethereum mode: " + err.Error())
		}
		// Subgroup checks on every deserialisation of outside points.
		herumi.VerifyPublicKeyOrder(true)
		herumi.VerifySignatureOrder(true)
	})
}
