package localcluster

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// Running is a signer running in this process (tests, and tools that run
// a whole cluster in one process).
type Running struct {
	App    *appliance.Appliance
	cancel context.CancelFunc
	done   chan error
	result error
	ended  bool
}

// Run starts the signer in this process with opts (opts.Listeners nil:
// it binds its configured addresses itself; s.Listeners are the pre-bound
// ones) and returns without waiting for it to serve: Ready waits. Starting
// every signer first and then waiting for each lets them come up together.
func (s *Signer) Run(opts appliance.Options) (*Running, error) {
	app, err := appliance.New(s.Config, opts)
	if err != nil {
		return nil, fmt.Errorf("signer %d: %w", s.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{App: app, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(ctx) }()
	return r, nil
}

// Ready waits until the signer serves every listener, and returns an error
// if it stopped first or limit passed.
func (r *Running) Ready(limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-r.App.Ready():
		return nil
	case err := <-r.done:
		r.result, r.ended = err, true
		return fmt.Errorf("stopped while starting: %v", err)
	case <-t.C:
		return fmt.Errorf("not ready after %s", limit)
	}
}

// Stop ends the signer gracefully (its listeners close with it), waits for
// it, and returns what its Run returned.
func (r *Running) Stop() error {
	r.cancel()
	if !r.ended {
		r.result, r.ended = <-r.done, true
	}
	return r.result
}

// Relisten binds the signer's configured addresses again, after a stop
// closed its listeners, so that Run starts it where its peers expect it.
func (s *Signer) Relisten() error {
	ls := map[string]net.Listener{}
	for name, addr := range map[string]string{
		appliance.ListenerParticipant:      s.Config.Listen.Participant,
		appliance.ListenerCoordinator:      s.Config.Listen.Coordinator,
		appliance.ListenerOperations:       s.Config.Listen.Operations,
		appliance.ListenerInsecureLoopback: s.Config.Listen.CoordinatorInsecureLoopback,
	} {
		if addr == "" {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll([]map[string]net.Listener{ls})
			return fmt.Errorf("signer %d: %w", s.ID, err)
		}
		ls[name] = l
	}
	s.Listeners = ls
	return nil
}

// RunAll starts every signer in this process on its pre-bound listeners,
// with the options opts returns (nil: the defaults), and waits until all
// serve; stop ends them all. If one fails to start, those started are
// stopped.
func (c *Cluster) RunAll(opts func(*Signer) appliance.Options) (stop func(), err error) {
	var running []*Running
	stop = func() {
		for _, r := range running {
			r.cancel()
		}
		for _, r := range running {
			r.Stop()
		}
	}
	for _, s := range c.Signers {
		var o appliance.Options
		if opts != nil {
			o = opts(s)
		}
		o.Listeners = s.Listeners
		r, err := s.Run(o)
		if err != nil {
			stop()
			return nil, err
		}
		running = append(running, r)
	}
	for i, r := range running {
		if err := r.Ready(2 * time.Minute); err != nil {
			stop()
			return nil, fmt.Errorf("signer %d: %w", c.Signers[i].ID, err)
		}
	}
	return stop, nil
}
