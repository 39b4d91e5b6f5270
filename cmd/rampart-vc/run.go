package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/vc"
)

// configError is a configuration the service manager must not retry:
// exit status 2, the unit's RestartPreventExitStatus.
func configError(err error) error { return cli.NoRestart(err) }

// startError classifies a start-up failure of the TLS identity (its key in
// the HSM) or of a listener, by sentinel errors: what may go away by itself
// (the HSM failing, busy or slow, an I/O error reading a file, a port
// still held, an address not configured yet) exits with status 1, which
// the unit restarts; everything else (a wrong or locked PIN, a missing PIN
// file, token, key or certificate, a certificate that does not match)
// exits with status 2, since a restart would only log in with the same
// wrong PIN again.
func startError(err error) error {
	var pe *fs.PathError
	switch {
	case hsm.Transient(err), errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return err
	case errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission):
		return err
	}
	return configError(err)
}

// run starts the client from its configuration file and performs duties
// until a signal arrives.
func run(ctx context.Context, env *cli.Env, configPath string, checkOnly bool) (err error) {
	cfg, err := vc.Load(configPath)
	if err != nil {
		return configError(err)
	}
	cl, err := cfg.Cluster.Open(ctx, "cluster")
	if err != nil {
		return configError(err)
	}
	cf, netw := cl.File, cl.Network
	if checkOnly {
		if err := checkConfig(ctx, cfg, cf, cl.Identity); err != nil {
			return configError(fmt.Errorf("%s: %w", configPath, err))
		}
		fmt.Fprintf(env.Stdout, "%s: configuration is valid (network %s, %d signers, %d beacon nodes; TLS identity loaded, ports free)\n", configPath, netw.Name(), len(cf.Participants), len(cfg.BeaconNodes))
		return nil
	}
	log := cfg.Log.NewLogger(env.Stderr)
	// The last line, in the configured log format (JSON too), as the
	// signer's: the error that stopped the client, a start-up failure
	// included (issue 17). Errors before the logger (the configuration's)
	// are only on standard error.
	defer func() {
		if err != nil {
			log.Error("stopped", "err", err)
		} else {
			log.Info("stopped")
		}
	}()
	if vc.PlaceholderFeeRecipient(cfg.FeeRecipient) {
		log.Error("fee_recipient looks like a placeholder: the fees of proposed blocks will be lost; set your own execution address", "fee_recipient", cfg.FeeRecipient)
	}
	notify := func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Warn("systemd notification failed", "err", err)
		}
	}
	tlsConfig, release, err := cf.TLSConfig(ctx, cl.Identity, hsm.OpenTLSCertificate)
	if err != nil {
		return startError(err)
	}
	defer release()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := coordinator.NewMetrics(reg)
	if err != nil {
		return err
	}
	coord, hps, err := cl.Coordinator(tlsConfig, log, metrics)
	if err != nil {
		return configError(err)
	}
	for _, hp := range hps {
		defer hp.Close()
	}
	bn, err := newBeacon(cfg, netw, log, reg)
	if err != nil {
		return configError(err)
	}
	opts := vc.Options{Network: netw, Beacon: bn, Signer: coord, Logger: log, Registerer: reg, Notify: notify}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		opts.WatchdogInterval = d / 2
	}
	client, err := vc.New(cfg, opts)
	if err != nil {
		return configError(err)
	}
	if cfg.Listen.Operations != "" {
		stop, err := serveOperations(cfg.Listen.Operations, client.OperationsHandler(reg), log)
		if err != nil {
			return startError(err)
		}
		defer stop()
	}
	if cfg.Keymanager.Listen != "" {
		token, err := readToken(cfg.Keymanager.TokenFile)
		if err != nil {
			return configError(fmt.Errorf("keymanager.token_file: %w", err))
		}
		stop, err := serveOn(cfg.Keymanager.Listen, "keymanager.listen", client.KeymanagerHandler(token), log)
		if err != nil {
			return startError(err)
		}
		defer stop()
	}

	// The beacon client and the coordinator's discovery run beside the
	// duties; one that fails stops the client, and its error is the
	// process's (exit status 1, so systemd restarts it).
	ctx, cancel := context.WithCancel(ctx)
	services := []struct {
		name string
		run  func(context.Context) error
	}{{"beacon nodes", bn.Run}, {"cluster discovery", coord.Run}}
	failed := make(chan error, len(services))
	for _, s := range services {
		go func() {
			var err error
			if err = s.run(ctx); err != nil {
				err = fmt.Errorf("%s: %w", s.name, err)
				log.Error("background service stopped", "err", err)
				cancel()
			}
			failed <- err
		}()
	}
	log.Info("rampart-vc starting", "network", netw.Name(), "signers", len(cf.Participants), "beacon_nodes", len(cfg.BeaconNodes))
	err = client.Run(ctx)
	cancel()
	var serviceErr error
	for range services {
		if e := <-failed; e != nil && serviceErr == nil {
			serviceErr = e
		}
	}
	switch {
	case errors.Is(err, vc.ErrDoppelganger):
		return cli.NoRestart(err)
	case serviceErr != nil:
		return serviceErr
	}
	return err
}

func newBeacon(cfg *vc.Config, netw *network.Network, log *slog.Logger, reg prometheus.Registerer) (*beacon.Client, error) {
	bcfg := beacon.DefaultConfig()
	bcfg.Network = netw
	bcfg.Timeout = cfg.Beacon.Timeout
	bcfg.Logger = log.With("component", "beacon")
	bcfg.Registerer = reg
	for _, n := range cfg.BeaconNodes {
		bcfg.Nodes = append(bcfg.Nodes, beacon.NodeConfig{Name: n.Name, URL: n.URL})
	}
	return beacon.New(bcfg)
}

// serveOperations serves /metrics and /healthz on addr until stop.
func serveOperations(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	return serveOn(addr, "listen.operations", h, log)
}

// readToken reads a bearer token from an owner-only file.
func readToken(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is mode %v: the token file must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tok := bytes.TrimSpace(raw)
	if len(tok) < 16 {
		return nil, fmt.Errorf("%s: a token of %d characters is too short (at least 16)", path, len(tok))
	}
	return tok, nil
}

// serveOn serves h on addr (the configuration's field name) until stop.
func serveOn(addr, field string, h http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	// Metrics and health only: no request has a body, every read and
	// write is bounded.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener stopped", "listener", field, "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// checkConfig finds, for --check-config, what the configuration's syntax
// does not show: a placeholder fee recipient (the shipped example's), a
// TLS identity that does not load (PIN file, one login, key, certificate)
// and a listen address already taken. It logs in to an HSM once, never
// again after a refused PIN.
func checkConfig(ctx context.Context, cfg *vc.Config, cf *clusterfile.File, identity *clusterfile.Identity) error {
	var errs []error
	if vc.PlaceholderFeeRecipient(cfg.FeeRecipient) {
		errs = append(errs, fmt.Errorf("fee_recipient: %s is a placeholder (the shipped example's, or one like it): the fees of proposed blocks would be lost; set your own execution address", cfg.FeeRecipient))
	}
	if _, release, err := cf.TLSConfig(ctx, identity, hsm.OpenTLSCertificate); err != nil {
		errs = append(errs, err)
	} else {
		release()
	}
	if a := cfg.Listen.Operations; a != "" {
		if ln, err := net.Listen("tcp", a); err != nil {
			errs = append(errs, fmt.Errorf("listen.operations: %s cannot be bound: %w (another process, or a running rampart-vc, holds it)", a, errors.Unwrap(err)))
		} else {
			ln.Close()
		}
	}
	return errors.Join(errs...)
}
