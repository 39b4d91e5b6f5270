package hsm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
)

// UnsealAll opens many sealed shares at start-up, all or nothing: when any
// blob is refused, every share already opened is zeroed and the error, an
// *UnsealError, lists each refused blob with its reason (malformed, wrong
// placement, duplicate composite key, failed authentication, component key
// mismatch). Module failures and timeouts abort at once with their own
// error.
//
// Work is spread over up to Options.MaxSessions workers, each with its own
// session: decryption happens in the HSM and the component key check (one
// G1 scalar multiplication per share) on the CPUs, so both overlap. Each
// share's HSM call is bounded by the call timeout; ctx bounds the whole.
func (k *SealingKey) UnsealAll(ctx context.Context, blobs [][]byte, want Placement) (*ShareSet, error) {
	if err := want.validate(); err != nil {
		return nil, err
	}
	parsed, failed := parseAll(blobs, want)
	keys := make([]*bls.SecretKey, len(blobs))
	errs := make([]error, len(blobs))
	if err := k.unsealParsed(ctx, parsed, keys, errs); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			failed = append(failed, &BlobError{Index: i, Err: err})
		}
	}
	if len(failed) > 0 {
		zeroAll(keys)
		sortBlobErrors(failed)
		return nil, &UnsealError{Total: len(blobs), Failed: failed}
	}
	set := &ShareSet{shares: make([]Share, len(blobs))}
	for i, sh := range parsed {
		set.shares[i] = Share{Info: sh.info, Key: keys[i]}
	}
	return set, nil
}

// parseAll checks every blob's structure, placement and uniqueness, without
// the HSM. Refused blobs are nil in the result.
func parseAll(blobs [][]byte, want Placement) ([]*sealedShare, []*BlobError) {
	parsed := make([]*sealedShare, len(blobs))
	var failed []*BlobError
	first := make(map[[bls.PublicKeyLength]byte]int, len(blobs))
	for i, b := range blobs {
		sh, err := parseSealedShare(b)
		if err == nil {
			err = want.check(&sh.info)
		}
		if err == nil {
			if j, dup := first[sh.info.CompositeKey]; dup {
				err = fmt.Errorf("%w: same composite public key as sealed share #%d", ErrDuplicateShare, j)
			} else {
				first[sh.info.CompositeKey] = i
			}
		}
		if err != nil {
			failed = append(failed, &BlobError{Index: i, Err: err})
			continue
		}
		parsed[i] = sh
	}
	return parsed, failed
}

// unsealParsed fills keys[i] or errs[i] for every non-nil parsed[i]. It
// returns an error only for failures that are not about one blob (module,
// session, timeout, cancellation); then keys are zeroed.
func (k *SealingKey) unsealParsed(ctx context.Context, parsed []*sealedShare, keys []*bls.SecretKey, errs []error) error {
	todo := 0
	for _, sh := range parsed {
		if sh != nil {
			todo++
		}
	}
	if todo == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return ctxError(ctx, "unsealing shares")
	}
	c, err := k.t.enter()
	if err != nil {
		return err
	}
	timeout := k.t.opts.CallTimeout
	workers := min(k.t.opts.MaxSessions, max(2, runtime.GOMAXPROCS(0)), todo)
	var (
		next    atomic.Int64
		stop    atomic.Bool
		started = make([]atomic.Int64, workers) // UnixNano when the worker's HSM call began, 0 when idle
		fatal   = make(chan error, workers)
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			getCtx, cancel := context.WithTimeout(ctx, timeout)
			s, err := c.pool.get(getCtx)
			cancel()
			if err != nil {
				fatal <- err
				return
			}
			reusable := true
			defer func() { c.pool.release(s, reusable) }()
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(parsed) {
					return
				}
				if parsed[i] == nil {
					continue
				}
				started[w].Store(time.Now().UnixNano())
				key, err := k.unsealOne(c, s, parsed[i])
				started[w].Store(0)
				switch {
				case err == nil:
					keys[i] = key
				case errors.Is(err, ErrUnseal) || errors.Is(err, ErrComponentKeyMismatch):
					// About this blob only; a failed C_Decrypt ends its
					// operation, so the session stays usable.
					errs[i] = err
				default:
					reusable = false
					fatal <- err
					return
				}
			}
		})
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	abort := func(err error) error {
		stop.Store(true)
		// Workers still inside the module finish in the background; zero
		// whatever they produced once they are all out.
		go func() {
			<-finished
			zeroAll(keys)
			k.t.leave(c)
		}()
		return err
	}
	tick := time.NewTicker(max(timeout/4, 5*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-finished:
			k.t.leave(c)
			select {
			case err := <-fatal:
				zeroAll(keys)
				return err
			default:
				return nil
			}
		case err := <-fatal:
			return abort(err)
		case <-ctx.Done():
			return abort(ctxError(ctx, "unsealing shares"))
		case now := <-tick.C:
			for w := range started {
				if t0 := started[w].Load(); t0 != 0 && now.Sub(time.Unix(0, t0)) > timeout {
					return abort(fmt.Errorf("%w: unsealing a share took longer than %v", ErrTimeout, timeout))
				}
			}
		}
	}
}

func zeroAll(keys []*bls.SecretKey) {
	for i, key := range keys {
		key.Zero()
		keys[i] = nil
	}
}

func sortBlobErrors(e []*BlobError) {
	slices.SortFunc(e, func(a, b *BlobError) int { return a.Index - b.Index })
}
