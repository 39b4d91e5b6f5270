package bls

import (
	"runtime"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// herumi's MultiVerify splits its work into blocks of 16 items over up to 32
// threads (one per CPU).
const (
	multiVerifyBlock      = 16
	multiVerifyMaxThreads = 32
)

// multiVerify calls herumi.MultiVerify around a bug in its work split
// (bls-eth-go-binary v1.36.4, bls/eth.go): when 16 <= n < 16·threads, the
// loop that hands blocks to threads stops at the first thread with no whole
// block before giving the remainder to anyone, so the items after the first
// 16·(n/16) are never checked and an invalid signature among them is
// accepted. Batches in that range are verified in chunks of fewer than 16
// items, which herumi checks in full on one thread; smaller and larger
// batches take herumi's own path, which covers every item.
func multiVerify(sigs []herumi.Sign, pubs []herumi.PublicKey, msgs []byte) bool {
	n := len(sigs)
	threads := min(runtime.NumCPU(), multiVerifyMaxThreads)
	if threads <= 1 || n < multiVerifyBlock || n >= multiVerifyBlock*threads {
		return herumi.MultiVerify(sigs, pubs, msgs)
	}
	const chunk = multiVerifyBlock - 1
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		if !herumi.MultiVerify(sigs[lo:hi], pubs[lo:hi], msgs[32*lo:32*hi]) {
			return false
		}
	}
	return true
}
