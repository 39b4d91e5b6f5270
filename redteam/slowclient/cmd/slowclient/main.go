// Command slowclient measures the slow-client attack of issue 13 against a
// rampart-signer binary: it provisions a one-signer cluster on loopback in
// a temporary directory, and for each scenario starts the signer, opens the
// connections, samples the process and stops it. It prints a Markdown
// table of the figures.
//
//	go build -o /tmp/rampart-signer ./cmd/rampart-signer
//	go run ./redteam/slowclient/cmd/slowclient -signer /tmp/rampart-signer
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rampart-signer/rampart/redteam/slowclient"
)

func main() {
	bin := flag.String("signer", "", "rampart-signer binary to attack (required)")
	conns := flag.Int("connections", 2000, "connections per scenario")
	body := flag.Int("body", 8<<20, "Content-Length announced; one byte is sent")
	settle := flag.Duration("settle", 5*time.Second, "second sample this long after the last connection opened")
	parallel := flag.Int("parallel", 64, "connections being opened at once")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "slowclient: -signer is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, slowclient.Config{Connections: *conns, BodySize: *body, Settle: *settle, Parallel: *parallel}, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "slowclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, cfg slowclient.Config, keep bool) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "slowclient-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	s, err := slowclient.Provision(ctx, filepath.Join(dir, "cluster"), abs)
	if err != nil {
		return err
	}
	targets, err := s.Scenarios()
	if err != nil {
		return err
	}
	var results []*slowclient.Result
	for _, t := range targets {
		if err := s.Start(ctx); err != nil {
			return err
		}
		c := cfg
		c.PID = s.PID()
		r, err := slowclient.Attack(ctx, c, t)
		if serr := s.Stop(context.WithoutCancel(ctx)); err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%s: done\n", t.Name)
	}
	fmt.Printf("%d connections per scenario, each announcing a %d-byte body and sending 1 byte; samples %v and %v after the last connection opened.\n\n", cfg.Connections, cfg.BodySize, cfg.Settle, 2*cfg.Settle)
	fmt.Print(slowclient.Table(results))
	return nil
}
