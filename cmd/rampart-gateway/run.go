package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampart-signer/rampart/gateway"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/coordinator"
)

// configError is a configuration the service manager must not retry:
// exit status 2, the unit's RestartPreventExitStatus.
func configError(err error) error { return &cli.ExitError{Code: 2, Err: err} }

// shutdownGrace is how long requests under way may finish after SIGTERM.
const shutdownGrace = 10 * time.Second

// run starts the gateway from its configuration file and serves until a
// signal arrives.
func run(ctx context.Context, env *cli.Env, configPath string, checkOnly bool) (err error) {
	cfg, err := gateway.Load(configPath)
	if err != nil {
		return configError(err)
	}
	cl, err := cfg.Cluster.Open(ctx, "gateway")
	if err != nil {
		return configError(err)
	}
	cf, netw := cl.File, cl.Network
	if checkOnly {
		fmt.Fprintf(env.Stdout, "%s: configuration is valid (network %s, %d signers, API on %s)\n", configPath, netw.Name(), len(cf.Participants), cfg.Listen.API)
		return nil
	}
	log := cfg.Log.NewLogger(env.Stderr)
	// The last line, in the configured log format (JSON too), as the
	// signer's: the error that stopped the gateway, a start-up failure
	// included (issue 17). Errors before the logger (the configuration's)
	// are only on standard error.
	defer func() {
		if err != nil {
			log.Error("stopped", "err", err)
		} else {
			log.Info("stopped")
		}
	}()
	notify := func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Warn("systemd notification failed", "err", err)
		}
	}
	tlsConfig, release, err := cf.TLSConfig(ctx, cl.Identity, hsm.OpenTLSCertificate)
	if err != nil {
		return configError(err)
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
	signers := make([]gateway.Signer, len(hps))
	for i, hp := range hps {
		defer hp.Close()
		signers[i] = hp
	}
	opts := gateway.Options{Network: netw, Coordinator: coord, Signers: signers, Logger: log, Registerer: reg, Notify: notify}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		opts.WatchdogInterval = d / 2
	}
	gw, err := gateway.New(cfg, opts)
	if err != nil {
		return configError(err)
	}

	apiLn, err := gateway.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	servers := []*http.Server{gw.Server(gw.Handler())}
	listeners := []net.Listener{apiLn}
	if cfg.Listen.Operations != "" {
		opsLn, err := net.Listen("tcp", cfg.Listen.Operations)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("listen.operations: %w", err)
		}
		servers = append(servers, gw.Server(gw.OperationsHandler(reg)))
		listeners = append(listeners, opsLn)
	}

	// The first discovery and probe before READY: a validator client
	// started after the gateway finds the accounts at once. Neither has to
	// succeed (signers may be down); health says what they found.
	notify("STATUS=discovering the cluster's accounts")
	dctx, cancel := context.WithTimeout(ctx, cfg.Cluster.Timeout)
	if err := coord.Refresh(dctx); err != nil {
		log.Warn("first discovery failed; retrying in the background", "err", err)
	}
	cancel()
	gw.Probe(ctx)

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	failed := make(chan error, len(servers)+2)
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("serving %s: %w", listeners[i].Addr(), err)
			}
		}()
	}
	for name, svc := range map[string]func(context.Context) error{"cluster discovery": coord.Run, "health probes": gw.Run} {
		go func() {
			if err := svc(ctx); err != nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	report, healthy := gw.Health()
	log.Info("rampart-gateway serving", "api", cfg.Listen.API, "operations", cfg.Listen.Operations, "network", netw.Name(),
		"signers", len(cf.Participants), "healthy", healthy, "accounts", report.Checks["accounts"].Detail)
	notify("READY=1\nSTATUS=serving the Remote Signing API on " + cfg.Listen.API)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		log.Error("stopping", "err", runErr)
	}
	notify("STOPPING=1")
	stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	return runErr
}
