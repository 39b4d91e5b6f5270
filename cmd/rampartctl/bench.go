package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/loadgen"
	"github.com/rampart-signer/rampart/internal/network"
)

// benchOptions are rampartctl bench's flags.
type benchOptions struct {
	clusterPath        string
	signer             uint64
	url, ca, cert, key string
	serverName         string
	keys               multiFlag
	maxKeys            int
	modes              string
	n, count, warmup   int
	rate               float64
	epochOffset        uint64
	epochsAhead        uint64
	jsonPath, svgDir   string
	label              string
	rawSamples         int
	quiet              bool
	net                network.Flags
}

func benchCommand() *cli.Command {
	var o benchOptions
	return &cli.Command{
		Name:    "bench",
		Summary: "Measure a Remote Signing API endpoint with synthetic, slashing-safe attestations.",
		Description: `Drives any Remote Signing API endpoint (a Rampart coordinator, rampart-gateway,
or anything Web3Signer-compatible) with valid attestation requests for its
keys (GET /api/v1/eth2/publicKeys, or --key), and prints latency
percentiles and throughput next to a raw local BLS signature measured in
the same run (the denominator of every ratio). Every signature received is
verified afterwards; an invalid one fails the run.

Modes (--mode, comma-separated): single (one request after the other, or
open loop at --rate per second), concurrent (rounds of --n single requests
sent at once: a slot's burst), batch (Rampart's batch endpoint, POST
/api/v1/eth2/sign, --n keys per round).

Slashing safety: the attestations' target epochs start at the network's
current wall-clock epoch (+ --epoch-offset) and only move forward, the data
fixed by the target, source = target - 1. A signer signs no target beyond
its current epoch + slashing.future_epochs (default 1): give the signers'
value as --epochs-ahead; a plan needing more is refused before anything is
sent (a devnet made for benchmarks: rampartctl devnet up --future-epochs).
A second run against the same signers continues with the --epoch-offset
the first printed.

Endpoint: --cluster takes signer --signer's coordinator, the client
identity and the network from a cluster file; --url, --ca, --cert and --key
override it (an http:// URL is plain HTTP; --key is a PEM file or a
pkcs11: URI). --json writes every sample; --svg-dir draws a latency
histogram and a latency-over-time chart per mode.`,
		Flags: func(f *flag.FlagSet) {
			f.StringVar(&o.clusterPath, "cluster", "", "cluster `file` (endpoint, client identity, network)")
			f.Uint64Var(&o.signer, "signer", 1, "with --cluster: the participant `id` whose coordinator to use")
			f.StringVar(&o.url, "url", "", "endpoint base `URL` (https://host:port or http://host:port)")
			f.StringVar(&o.serverName, "server-name", "", "TLS `name` the endpoint's certificate carries (default: the URL's host, or the cluster file's tls_name)")
			f.StringVar(&o.ca, "ca", "", "CA certificate `file` of an https endpoint")
			f.StringVar(&o.cert, "cert", "", "client certificate `file` (mTLS)")
			f.StringVar(&o.key, "key", "", "client key: PEM `file` or pkcs11: URI")
			f.Var(&o.keys, "validator", "validator public `key` to sign with (repeatable; default: the endpoint's list)")
			f.IntVar(&o.maxKeys, "max-keys", 0, "use at most this many `keys` (0: all)")
			f.StringVar(&o.modes, "mode", "single,concurrent,batch", "comma-separated `modes`: single, concurrent, batch")
			f.IntVar(&o.n, "n", 0, "burst size of concurrent and batch (default: the number of keys)")
			f.IntVar(&o.count, "count", 0, "requests (single; default 500) or rounds (concurrent, batch; default 10)")
			f.IntVar(&o.warmup, "warmup", 1, "rounds (or, single, requests x10) sent first and not counted")
			f.Float64Var(&o.rate, "rate", 0, "single mode: requests per `second`, open loop (0: one after the other)")
			f.Uint64Var(&o.epochOffset, "epoch-offset", 0, "start targets this many `epochs` after the current one")
			f.Uint64Var(&o.epochsAhead, "epochs-ahead", 1, "the signers' slashing.future_epochs")
			f.StringVar(&o.jsonPath, "json", "", "write the results and every sample to this `file`")
			f.StringVar(&o.svgDir, "svg-dir", "", "write the charts into this `directory`")
			f.StringVar(&o.label, "label", "", "name of the endpoint in the output (default: its URL)")
			f.IntVar(&o.rawSamples, "raw-samples", 500, "raw local signatures to time")
			f.BoolVar(&o.quiet, "quiet", false, "no progress lines")
			o.net.Register(f)
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments %q", args)
			}
			return runBench(ctx, env, &o)
		},
	}
}

// BenchEndpoint is an endpoint to measure and how to reach it.
type benchEndpoint struct {
	url     string
	client  *http.Client
	net     *network.Network
	release func()
}

// benchClient is a validator client's HTTP client: a pool large enough
// for a slot's burst, every connection kept.
func benchClient(tlsConfig *tls.Config, conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
	}
}

func openBenchEndpoint(ctx context.Context, o *benchOptions, conns int) (*benchEndpoint, error) {
	ep := &benchEndpoint{release: func() {}}
	var cf *adminapi.ClusterFile
	serverName := o.serverName
	if o.clusterPath != "" {
		var err error
		if cf, err = adminapi.LoadClusterFile(o.clusterPath); err != nil {
			return nil, err
		}
		cf.Abs(filepath.Dir(o.clusterPath))
		for _, p := range cf.Participants {
			if p.ID == o.signer {
				ep.url = p.Coordinator
				if serverName == "" {
					serverName = p.TLSName
				}
			}
		}
		if ep.url == "" && o.url == "" {
			return nil, cli.Usagef("--signer %d: the cluster file names no coordinator for this participant", o.signer)
		}
	}
	if o.url != "" {
		ep.url = o.url
	}
	if ep.url == "" {
		return nil, cli.Usagef("--url or --cluster is required")
	}
	var tlsConfig *tls.Config
	if strings.HasPrefix(ep.url, "https://") {
		file := &adminapi.ClusterFile{}
		var id *adminapi.Identity
		if cf != nil {
			file.CA, id = cf.CA, cf.Client
		}
		if o.ca != "" {
			file.CA = o.ca
		}
		if o.cert != "" || o.key != "" {
			if o.cert == "" || o.key == "" {
				return nil, cli.Usagef("--cert and --key go together")
			}
			id = &adminapi.Identity{Name: "bench", Certificate: o.cert, Key: o.key}
		}
		if file.CA == "" || id == nil {
			return nil, cli.Usagef("an https endpoint needs --ca, --cert and --key (or --cluster)")
		}
		var err error
		if tlsConfig, ep.release, err = file.TLSConfig(ctx, id); err != nil {
			return nil, err
		}
		tlsConfig.ServerName = serverName
	} else if !strings.HasPrefix(ep.url, "http://") {
		return nil, cli.Usagef("--url %q: give http:// or https://", ep.url)
	}
	ep.client = benchClient(tlsConfig, conns)
	var err error
	switch {
	case o.net.Given():
		ep.net, err = o.net.Load(ctx)
	case cf != nil:
		ep.net, err = cf.LoadNetwork(ctx)
	default:
		err = cli.Usagef("the network is needed: --network or --network-config (or --cluster)")
	}
	if err != nil {
		ep.release()
		return nil, err
	}
	return ep, nil
}

// BenchReport is the JSON output of rampartctl bench.
type BenchReport struct {
	Label string `json:"label"`
	URL   string `json:"url"`
	Keys  int    `json:"keys"`
	// Raw is the local signing speed in the same run.
	Raw     loadgen.Raw       `json:"raw"`
	Results []*loadgen.Result `json:"results"`
	// NextEpochOffset is the --epoch-offset of a later run against the
	// same signers.
	NextEpochOffset uint64 `json:"next_epoch_offset"`
}

func runBench(ctx context.Context, env *cli.Env, o *benchOptions) error {
	var steps []loadgen.Step
	for _, m := range strings.Split(o.modes, ",") {
		mode := loadgen.Mode(strings.TrimSpace(m))
		switch mode {
		case loadgen.Single, loadgen.Concurrent, loadgen.Batch:
		default:
			return cli.Usagef("--mode %q: single, concurrent or batch", m)
		}
		steps = append(steps, loadgen.Step{Mode: mode})
	}
	if o.rate < 0 || o.n < 0 || o.count < 0 || o.warmup < 0 {
		return cli.Usagef("--rate, --n, --count and --warmup are not negative")
	}
	ep, err := openBenchEndpoint(ctx, o, max(o.n, 1024))
	if err != nil {
		return err
	}
	defer ep.release()
	var keys []api.PublicKey
	for _, k := range o.keys {
		pk, err := api.ParsePublicKey(k)
		if err != nil {
			return cli.Usagef("--validator %q: %v", k, err)
		}
		keys = append(keys, pk)
	}
	var progress io.Writer = env.Stderr
	if o.quiet {
		progress = nil
	}
	r, err := loadgen.New(ctx, loadgen.Options{URL: ep.url, Client: ep.client, Network: ep.net, Keys: keys, MaxKeys: o.maxKeys,
		EpochOffset: o.epochOffset, EpochsAhead: o.epochsAhead, Progress: progress})
	if err != nil {
		return err
	}
	n := o.n
	if n == 0 {
		n = len(r.Keys())
	}
	for i := range steps {
		s := &steps[i]
		s.Label = string(s.Mode)
		switch s.Mode {
		case loadgen.Single:
			s.N, s.Count, s.Warmup, s.Rate = 1, 500, 10*o.warmup, o.rate
		default:
			s.N, s.Count, s.Warmup = n, 10, o.warmup
			s.Label = fmt.Sprintf("%s-%d", s.Mode, n)
		}
		if o.count > 0 {
			s.Count = o.count
		}
	}
	if err := r.Check(steps); err != nil {
		return err
	}
	label := o.label
	if label == "" {
		label = ep.url
	}
	fmt.Fprintf(env.Stderr, "measuring a raw local signature (%d samples; %d signatures on all cores)\n", o.rawSamples, n)
	raw, err := loadgen.MeasureRaw(max(o.rawSamples, 1), []int{n}, 5)
	if err != nil {
		return err
	}
	rep := &BenchReport{Label: label, URL: ep.url, Keys: len(r.Keys()), Raw: raw}
	for _, s := range steps {
		res, err := r.Run(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.NextEpochOffset = r.NextOffset()
	printBench(env.Stdout, rep)
	if o.jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.svgDir != "" {
		if err := writeBenchCharts(o.svgDir, label, rep.Results); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "a later run against these signers: --epoch-offset %d\n", rep.NextEpochOffset)
	for _, res := range rep.Results {
		if res.Errors > 0 {
			return fmt.Errorf("%s: %d of %d signatures failed", res.Step.Label, res.Errors, res.Errors+res.Signatures)
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func printBench(w io.Writer, rep *BenchReport) {
	one := rep.Raw.One.Median
	fmt.Fprintf(w, "%s: %d keys; raw local signature: median %s (one core); ", rep.Label, rep.Keys, ms(one))
	for n, d := range rep.Raw.Bursts {
		fmt.Fprintf(w, "%d signatures on %d cores: %s", n, rep.Raw.CPUs, ms(d))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSAMPLES\tMEDIAN\tP90\tP99\tMAX\tSIG/S\tERRORS\tMEDIAN/RAW")
	for _, res := range rep.Results {
		s := res.Summary
		den := one
		if res.Step.Mode != loadgen.Single {
			den = rep.Raw.Bursts[res.Step.N]
		}
		ratio := "-"
		if den > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(s.Median)/float64(den))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%d\t%s\n", res.Step.Label, s.Count, ms(s.Median), ms(s.P90), ms(s.P99), ms(s.Max), res.Throughput, res.Errors, ratio)
	}
	tw.Flush()
}

// writeBenchCharts draws, per step, the histogram and the latency over
// time of its requests.
func writeBenchCharts(dir, label string, results []*loadgen.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, res := range results {
		samples := res.Samples
		if len(res.Requests) > 0 {
			samples = res.Requests
		}
		series := []loadgen.Series{{Name: label, Samples: samples}}
		for _, c := range []struct {
			suffix string
			draw   func(io.Writer, string, []loadgen.Series) error
			title  string
		}{
			{"histogram", loadgen.WriteHistogram, "latency of " + res.Step.Label},
			{"over-time", loadgen.WriteOverTime, "latency over time, " + res.Step.Label},
		} {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s.svg", res.Step.Label, c.suffix)))
			if err != nil {
				return err
			}
			err = c.draw(f, c.title, series)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
