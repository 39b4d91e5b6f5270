package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/internal/cli"
)

// run starts the daemon from its configuration file and serves until a
// signal arrives.
func run(ctx context.Context, env *cli.Env, configPath string, checkOnly bool) error {
	cfg, err := appliance.Load(configPath)
	if err != nil {
		// Exit status 2: the unit's RestartPreventExitStatus, since a
		// wrong configuration does not get better by restarting.
		return cli.NoRestart(err)
	}
	if checkOnly {
		return checkConfig(ctx, env, configPath, cfg)
	}
	log := cfg.Log.NewLogger(env.Stderr)
	opts := appliance.Options{
		Logger:     log,
		ConfigFile: configPath,
		Notify: func(state string) {
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Warn("systemd notification failed", "err", err)
			}
		},
	}
	now, offset, err := testClock(os.Getenv)
	if err != nil {
		return cli.NoRestart(err)
	}
	if now != nil {
		opts.Now = now
		log.Warn("TEST ONLY: the signer's clock is shifted; never set this outside the chaos tests", "env", testClockOffsetEnv, "offset", offset.String())
	}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		opts.WatchdogInterval = d / 2
	}
	a, err := appliance.New(cfg, opts)
	if err != nil {
		return cli.NoRestart(err)
	}
	// SIGHUP (systemctl reload) reloads the authorization rules and the
	// TLS certificate and CA; it never stops the signer.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(ctx, a, configPath, log, opts.Notify)
			}
		}
	}()
	return exitStatus(a.Run(ctx))
}

// exitStatus maps the signer's error to the exit status its unit acts on:
// 2 for a start-up failure a restart cannot fix (a wrong PIN, a missing
// token, key, file or a configuration error: restarting would only try the
// PIN again), 1 for everything else, which the unit restarts.
func exitStatus(err error) error {
	var se *appliance.StartError
	if errors.As(err, &se) && se.Permanent {
		return cli.NoRestart(err)
	}
	return err
}

// checkConfig runs the signer's checks short of starting (appliance.Check):
// PIN files, one login per token, keys, certificate, CA and name, the
// administrative token, state paths and free ports. Any problem exits
// with status 2, like the start-up failure it foretells.
func checkConfig(ctx context.Context, env *cli.Env, configPath string, cfg *appliance.Config) error {
	a, err := appliance.New(cfg, appliance.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return cli.NoRestart(err)
	}
	r := a.Check(ctx)
	for _, c := range r.Checked {
		fmt.Fprintf(env.Stdout, "ok: %s\n", c)
	}
	if len(r.Problems) > 0 {
		for _, p := range r.Problems {
			fmt.Fprintf(env.Stdout, "problem: %v\n", p)
		}
		return cli.NoRestart(fmt.Errorf("%s: %d problems would stop the signer: %w", configPath, len(r.Problems), errors.Join(r.Problems...)))
	}
	fmt.Fprintf(env.Stdout, "%s: configuration is valid\n", configPath)
	return nil
}

// reload reads the configuration file again and puts in force what a
// running signer can take (appliance.Reload); a refused reload changes
// nothing and is logged.
func reload(ctx context.Context, a *appliance.Appliance, configPath string, log *slog.Logger, notify func(string)) {
	notify("RELOADING=1")
	defer notify("READY=1")
	cfg, err := appliance.Load(configPath)
	if err != nil {
		log.Error("reload refused; the signer runs on as before", "err", err)
		return
	}
	restart, err := a.Reload(ctx, cfg)
	if err != nil {
		log.Error("reload refused", "err", err)
		return
	}
	if len(restart) > 0 {
		log.Warn("configuration changes not in force until a restart", "sections", restart)
	}
}
