package beacon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"

	client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	ehttp "github.com/attestantio/go-eth2-client/http"
)

// read asks the usable nodes one after the other, best first, until one
// answers with data that f accepts. A refusal (4xx) ends the search: the
// request is at fault, not the node. The caller's context ending ends it
// too, without blaming the node.
func read[T any](ctx context.Context, c *Client, op string, f func(context.Context, *ehttp.Service) (T, error)) (T, error) {
	var zero T
	nodes := c.candidates()
	if len(nodes) == 0 {
		return zero, c.noNode()
	}
	var errs []error
	for i, n := range nodes {
		if i > 0 {
			c.metrics.failover(op)
		}
		v, err := attempt(ctx, c, n, op, f)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		errs = append(errs, err)
		if errors.Is(err, ErrRejected) {
			break
		}
	}
	return zero, errors.Join(errs...)
}

// attempt makes one request to one node, bounded by the configured
// timeout, and accounts for it: metrics, the node's health, the log.
func attempt[T any](ctx context.Context, c *Client, n *node, op string, f func(context.Context, *ehttp.Service) (T, error)) (T, error) {
	var zero T
	svc, _ := n.service()
	if svc == nil {
		return zero, &NodeError{Node: n.name, Op: op, Kind: ErrUnavailable, Err: errors.New("node is not usable")}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := c.now()
	v, err := f(actx, svc)
	took := c.now().Sub(start)
	if err == nil {
		c.metrics.request(n.name, op, outcomeOK, took)
		return v, nil
	}
	if ctx.Err() != nil {
		return zero, ctx.Err()
	}
	ne := classify(n.name, op, err)
	switch ne.Kind {
	case ErrRejected:
		c.metrics.request(n.name, op, outcomeRejected, took)
		c.log.Debug("beacon node refused request", "node", n.name, "op", op, "status", ne.Status, "err", ne.Err)
	case ErrInvalidResponse:
		c.metrics.request(n.name, op, outcomeInvalid, took)
		c.log.Warn("beacon node gave an invalid answer", "node", n.name, "op", op, "err", ne.Err)
		c.degrade(n, op+": invalid answer")
	default:
		c.metrics.request(n.name, op, outcomeUnavailable, took)
		c.degrade(n, op+": "+ne.Err.Error())
	}
	return zero, ne
}

// broadcast sends a write to every usable node at once and succeeds when
// at least one accepts it. Writes go everywhere because each node gossips
// what it receives and keeps its own subscriptions and proposer
// preparations; one node's refusal does not stop the others.
func broadcast(ctx context.Context, c *Client, op string, f func(context.Context, *ehttp.Service) error) error {
	nodes := c.candidates()
	if len(nodes) == 0 {
		return c.noNode()
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = attempt(ctx, c, n, op, func(ctx context.Context, svc *ehttp.Service) (struct{}, error) {
				return struct{}{}, f(ctx, svc)
			})
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return errors.Join(errs...)
}

// classify turns an error from one request into a NodeError of the right
// kind. Status 408 and 429 are refusals only in form: the node is busy or
// slow, so they fail over like 5xx.
func classify(node, op string, err error) *NodeError {
	ne := &NodeError{Node: node, Op: op, Err: scrub(err)}
	var apiErr *api.Error
	switch {
	case errors.As(err, &apiErr):
		ne.Status = apiErr.StatusCode
		switch {
		case apiErr.StatusCode == http.StatusRequestTimeout, apiErr.StatusCode == http.StatusTooManyRequests, apiErr.StatusCode >= 500:
			ne.Kind = ErrUnavailable
		case apiErr.StatusCode >= 400:
			ne.Kind = ErrRejected
		default:
			ne.Kind = ErrInvalidResponse
		}
	case errors.Is(err, ErrUnavailable):
		ne.Kind = ErrUnavailable
	case errors.Is(err, ErrInvalidResponse), errors.Is(err, client.ErrInconsistentResult):
		ne.Kind = ErrInvalidResponse
	case errors.Is(err, client.ErrNotActive), errors.Is(err, client.ErrNotSynced),
		errors.Is(err, context.DeadlineExceeded), isNetError(err):
		ne.Kind = ErrUnavailable
	default:
		// Anything else is an answer that could not be used: a body that
		// does not decode, an unexpected content type, a missing field.
		ne.Kind = ErrInvalidResponse
	}
	return ne
}

func isNetError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// scrub replaces an error that quotes a request URL (which may carry
// credentials) by its cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request: %w", ue.Op, ue.Err)
	}
	return err
}

// unwrapURLError is scrub for the client's own requests.
func unwrapURLError(err error) error { return scrub(err) }
