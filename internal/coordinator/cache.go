package coordinator

import (
	"container/list"
	"sync"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// sigCache remembers recovered, verified signatures by (account, signing
// root), as the distributed profile recommends: a validator client that
// asks twice for the same message (a retry, or Prysm asking a sync
// committee selection proof once per seat) gets the signature already
// released instead of a second round of partial signatures. Returning it is
// safe: it is the signature of exactly that root by that key, which every
// participant would release again as an exact repeat.
type sigCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[cacheKey]*list.Element
}

type cacheKey struct {
	key  api.PublicKey
	root [32]byte
}

type cacheEntry struct {
	k   cacheKey
	sig *bls.Signature
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, order: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *sigCache) get(key api.PublicKey, root [32]byte) *bls.Signature {
	if c == nil || c.max == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[cacheKey{key, root}]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).sig
	}
	return nil
}

func (c *sigCache) put(key api.PublicKey, root [32]byte, sig *bls.Signature) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{key, root}
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{k: k, sig: sig})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).k)
	}
}
