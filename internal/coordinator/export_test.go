package coordinator

import (
	"time"

	"github.com/rampart-signer/rampart/tss"
)

// WaitForWaiters returns once n single requests with body request wait
// in participant id's lane behind a call in flight (tests of coalescing
// wait on this state instead of sleeping).
func WaitForWaiters(c *Coordinator, id tss.ID, request []byte, n int) {
	for {
		c.coalesceMu.Lock()
		co := c.coalescers[id]
		c.coalesceMu.Unlock()
		if co != nil {
			co.mu.Lock()
			l := co.lanes[string(request)]
			k := 0
			if l != nil {
				k = len(l.waiting)
			}
			co.mu.Unlock()
			if k >= n {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitIdle returns once no coalesced call is in flight or waiting.
func WaitIdle(c *Coordinator) {
	for {
		busy := 0
		c.coalesceMu.Lock()
		for _, co := range c.coalescers {
			co.mu.Lock()
			busy += len(co.lanes)
			co.mu.Unlock()
		}
		c.coalesceMu.Unlock()
		if busy == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
