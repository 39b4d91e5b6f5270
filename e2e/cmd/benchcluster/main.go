// Command benchcluster is `make bench-cluster`: it starts a `rampartctl
// devnet` 2-of-3 cluster (313 validators by a trusted dealer, hedge_delay
// 0: every participant asked) and a rampart-gateway beside it, runs the
// load generator (internal/loadgen, as `rampartctl bench`) through signer
// 1's coordinator over mTLS and through the gateway, measures a raw local
// BLS signature in the same run, prints the goal table of issue 19 (every
// figure a ratio to the raw work of the same run) and draws the charts.
// It stops everything it started, on success and on failure.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/loadgen"
)

type options struct {
	bin, dir, out, label   string
	validators             int
	single, rounds, larger int
	keep                   bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "directory holding rampartctl, rampart-signer and rampart-gateway (required)")
	flag.StringVar(&o.dir, "dir", "", "work directory for the devnet (default: a new temporary directory, removed at the end)")
	flag.StringVar(&o.out, "out", "docs/performance", "directory for the charts, the table and the JSON")
	flag.StringVar(&o.label, "label", "run", "name of this run in the file names (e.g. before, after)")
	flag.IntVar(&o.validators, "validators", 313, "validators of the devnet")
	flag.IntVar(&o.single, "single", 500, "single requests per endpoint")
	flag.IntVar(&o.rounds, "rounds", 10, "rounds of the concurrent and batch modes")
	flag.IntVar(&o.larger, "larger", 0, "also a burst of this many (e.g. 3125: several targets per key), 3 rounds; 0: none")
	flag.BoolVar(&o.keep, "keep", false, "leave the devnet directory (stopped) for inspection")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-cluster:", err)
		os.Exit(1)
	}
}

// endpoint is one way into the cluster.
type endpoint struct {
	name, url string
	client    *http.Client
}

// report is everything one run measured, written as JSON.
type report struct {
	Label      string                       `json:"label"`
	Started    time.Time                    `json:"started"`
	Validators int                          `json:"validators"`
	Signers    int                          `json:"signers"`
	Threshold  int                          `json:"threshold"`
	Raw        loadgen.Raw                  `json:"raw"`
	Results    map[string][]*loadgen.Result `json:"results"`
}

func run(ctx context.Context, o *options) (err error) {
	if o.bin == "" {
		return errors.New("--bin is required")
	}
	for _, b := range []string{"rampartctl", "rampart-signer", "rampart-gateway"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return fmt.Errorf("--bin: %w", err)
		}
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rampart-bench-cluster-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	devnetDir := filepath.Join(dir, "devnet")
	ctl := filepath.Join(o.bin, "rampartctl")
	const signers, threshold, futureEpochs = 3, 2, 1024
	started := time.Now().UTC()
	fmt.Printf("starting a %d-of-%d devnet with %d validators (hedge_delay 0) in %s\n", threshold, signers, o.validators, devnetDir)
	up := exec.CommandContext(ctx, ctl, "devnet", "up", "--dir", devnetDir, "--signers", fmt.Sprint(signers), "--threshold", fmt.Sprint(threshold),
		"--validators", fmt.Sprint(o.validators), "--dealer", "--hedge-delay", "0", "--future-epochs", fmt.Sprint(futureEpochs))
	up.Stdout, up.Stderr = os.Stdout, os.Stderr
	upErr := up.Run()
	defer func() {
		down := exec.Command(ctl, "devnet", "down", "--dir", devnetDir)
		down.Stdout, down.Stderr = os.Stdout, os.Stderr
		if derr := down.Run(); derr != nil && err == nil {
			err = fmt.Errorf("devnet down: %w", derr)
		}
	}()
	if upErr != nil {
		return fmt.Errorf("devnet up: %w", upErr)
	}
	clusterPath := filepath.Join(devnetDir, "cluster.yaml")
	cf, err := adminapi.LoadClusterFile(clusterPath)
	if err != nil {
		return err
	}
	cf.Abs(devnetDir)
	n, err := cf.LoadNetwork(ctx)
	if err != nil {
		return err
	}
	tlsConfig, release, err := cf.TLSConfig(ctx, cf.Client)
	if err != nil {
		return err
	}
	defer release()
	var signer1 endpoint
	for _, p := range cf.Participants {
		if p.ID == 1 {
			c := tlsConfig.Clone()
			c.ServerName = p.TLSName
			signer1 = endpoint{name: "signer 1's coordinator (mTLS)", url: p.Coordinator, client: client(c)}
		}
	}
	gwURL, stopGateway, err := startGateway(ctx, o.bin, dir, clusterPath)
	if err != nil {
		return err
	}
	defer stopGateway()
	gateway := endpoint{name: "rampart-gateway (local coordinator)", url: gwURL, client: client(nil)}

	bursts := []int{o.validators}
	if o.larger > 0 {
		bursts = append(bursts, o.larger)
	}
	fmt.Println("measuring a raw local BLS signature (one core) and bursts of them (all cores)")
	raw, err := loadgen.MeasureRaw(o.single, bursts, 5)
	if err != nil {
		return err
	}
	raws := []loadgen.Raw{raw}
	rep := &report{Label: o.label, Started: started, Validators: o.validators, Signers: signers, Threshold: threshold, Raw: raw, Results: map[string][]*loadgen.Result{}}
	offset := uint64(0)
	for _, ep := range []endpoint{signer1, gateway} {
		r, err := loadgen.New(ctx, loadgen.Options{URL: ep.url, Client: ep.client, Network: n, EpochOffset: offset, EpochsAhead: futureEpochs, Progress: os.Stderr})
		if err != nil {
			return fmt.Errorf("%s: %w", ep.name, err)
		}
		if len(r.Keys()) != o.validators {
			return fmt.Errorf("%s lists %d keys, the devnet made %d", ep.name, len(r.Keys()), o.validators)
		}
		steps := []loadgen.Step{
			{Label: "single", Mode: loadgen.Single, Count: o.single, Warmup: 20},
			{Label: fmt.Sprintf("concurrent-%d", o.validators), Mode: loadgen.Concurrent, N: o.validators, Count: o.rounds, Warmup: 1},
			{Label: fmt.Sprintf("batch-%d", o.validators), Mode: loadgen.Batch, N: o.validators, Count: o.rounds, Warmup: 1},
		}
		if o.larger > 0 {
			steps = append(steps,
				loadgen.Step{Label: fmt.Sprintf("concurrent-%d", o.larger), Mode: loadgen.Concurrent, N: o.larger, Count: 3},
				loadgen.Step{Label: fmt.Sprintf("batch-%d", o.larger), Mode: loadgen.Batch, N: o.larger, Count: 3})
		}
		if err := r.Check(steps); err != nil {
			return err
		}
		fmt.Printf("measuring %s at %s\n", ep.name, ep.url)
		for _, s := range steps {
			res, err := r.Run(ctx, s)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", ep.name, s.Label, err)
			}
			if res.Errors > 0 {
				// Counted in the table: a run under load that loses a
				// few signatures to timeouts is itself a finding.
				fmt.Fprintf(os.Stderr, "%s, %s: %d signatures failed, e.g. %s\n", ep.name, s.Label, res.Errors, firstFailure(res))
			}
			rep.Results[ep.name] = append(rep.Results[ep.name], res)
		}
		offset = r.NextOffset()
		// The raw figures again after each endpoint: the machine's load
		// changes during a run, so the denominator is the median of its
		// measurements spread over the run.
		again, err := loadgen.MeasureRaw(o.single, bursts, 5)
		if err != nil {
			return err
		}
		raws = append(raws, again)
	}
	rep.Raw = loadgen.MergeRaw(raws...)
	table := goalTable(rep, []string{signer1.name, gateway.name}, bursts)
	fmt.Print("\n" + table)
	return writeOutputs(o, rep, table, []string{signer1.name, gateway.name})
}

func firstFailure(res *loadgen.Result) string {
	for _, s := range append(res.Samples, res.Requests...) {
		if s.Failed != "" {
			return s.Failed
		}
	}
	return "?"
}

// client is a validator client's connection pool: large enough for a
// slot's burst, every connection kept.
func client(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsConfig, MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// startGateway runs rampart-gateway over the devnet's cluster file with
// its client identity, hedge_delay 0, on a free loopback port, and waits
// for /upcheck.
func startGateway(ctx context.Context, bin, dir, clusterPath string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`cluster:
  file: %s
  timeout: 10s
  hedge_delay: 0s
listen:
  api: "%s"
  operations: ""
accounts: all
`, clusterPath, addr)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "rampart-gateway"), "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/upcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		select {
		case err := <-exited:
			logf.Close()
			tail, _ := os.ReadFile(filepath.Join(dir, "gateway.log"))
			return "", nil, fmt.Errorf("rampart-gateway exited (%v): %s", err, lastLines(string(tail), 10))
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("rampart-gateway did not answer /upcheck within 60 s")
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func find(rs []*loadgen.Result, label string) *loadgen.Result {
	for _, r := range rs {
		if r.Step.Label == label {
			return r
		}
	}
	return nil
}

// goalTable is the table of issue 19's goals: every figure against the raw
// work of the same run.
func goalTable(rep *report, names []string, bursts []int) string {
	var b strings.Builder
	one := rep.Raw.One.Median
	fmt.Fprintf(&b, "Run %q, %s: %d-of-%d, %d validators, hedge_delay 0 (all asked), %d cores.\n", rep.Label, rep.Started.Format(time.RFC3339), rep.Threshold, rep.Signers, rep.Validators, rep.Raw.CPUs)
	fmt.Fprintf(&b, "Raw local signature (one core): median %s; ", ms(one))
	for _, n := range bursts {
		fmt.Fprintf(&b, "%d signatures on all cores: %s; ", n, ms(rep.Raw.Bursts[n]))
	}
	fmt.Fprintf(&b, "batch floor (all %d asked) = %d x raw N.\n\n", rep.Signers, rep.Signers)
	fmt.Fprintln(&b, "| Endpoint | Work | Time | Ratio | Goal | Failed |")
	fmt.Fprintln(&b, "| --- | --- | --- | --- | --- | --- |")
	for _, name := range names {
		rs := rep.Results[name]
		if s := find(rs, "single"); s != nil {
			fmt.Fprintf(&b, "| %s | one attestation, median of %d | %s | %.1fx raw | <= 6.5x | %d |\n", name, s.Summary.Count, ms(s.Summary.Median), float64(s.Summary.Median)/float64(one), s.Errors)
			fmt.Fprintf(&b, "| %s | one attestation, p99 | %s | %.2fx the median | <= 1.5x | |\n", name, ms(s.Summary.P99), float64(s.Summary.P99)/float64(s.Summary.Median))
		}
		for _, n := range bursts {
			c := find(rs, fmt.Sprintf("concurrent-%d", n))
			bt := find(rs, fmt.Sprintf("batch-%d", n))
			rawN := rep.Raw.Bursts[n]
			if c != nil && bt != nil {
				fmt.Fprintf(&b, "| %s | %d attestations as %d concurrent single requests, median of %d | %s | %.2fx the batch; %.1fx raw N | <= 1.2x; <= 4.5x | %d |\n",
					name, n, n, c.Summary.Count, ms(c.Summary.Median), float64(c.Summary.Median)/float64(bt.Summary.Median), float64(c.Summary.Median)/float64(rawN), c.Errors)
				floor := time.Duration(rep.Signers) * rawN
				fmt.Fprintf(&b, "| %s | %d attestations, batch endpoint, median of %d | %s | %.2fx the floor (%s); %.1fx raw N | <= 1.15x the floor | %d |\n",
					name, n, bt.Summary.Count, ms(bt.Summary.Median), float64(bt.Summary.Median)/float64(floor), ms(floor), float64(bt.Summary.Median)/float64(rawN), bt.Errors)
			}
		}
	}
	return b.String()
}

// writeOutputs writes the table, the JSON and the charts into o.out:
// LABEL-table.md, LABEL.json, and per mode a histogram and a
// latency-over-time chart with both endpoints.
func writeOutputs(o *options, rep *report, table string, names []string) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, o.label+"-table.md"), []byte(table), 0o644); err != nil {
		return err
	}
	// The JSON keeps each round and single request, not each request of
	// a burst (thousands): the charts show those.
	slim := *rep
	slim.Results = map[string][]*loadgen.Result{}
	for name, rs := range rep.Results {
		for _, r := range rs {
			c := *r
			c.Requests = nil
			slim.Results[name] = append(slim.Results[name], &c)
		}
	}
	data, err := json.Marshal(&slim)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, o.label+".json"), data, 0o644); err != nil {
		return err
	}
	first := rep.Results[names[0]]
	var paths []string
	for _, res := range first {
		var series []loadgen.Series
		for _, name := range names {
			r := find(rep.Results[name], res.Step.Label)
			if r == nil {
				continue
			}
			samples := r.Samples
			if len(r.Requests) > 0 {
				samples = r.Requests
			}
			series = append(series, loadgen.Series{Name: name, Samples: samples})
		}
		for _, c := range []struct {
			suffix, title string
			draw          func(io.Writer, string, []loadgen.Series) error
		}{
			{"histogram", "Latency of each request, " + res.Step.Label + " (" + o.label + ")", loadgen.WriteHistogram},
			{"over-time", "Latency over time, " + res.Step.Label + " (" + o.label + ")", loadgen.WriteOverTime},
		} {
			p := filepath.Join(o.out, fmt.Sprintf("%s-%s-%s.svg", o.label, res.Step.Label, c.suffix))
			f, err := os.Create(p)
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
			paths = append(paths, p)
		}
	}
	fmt.Printf("\nwrote %s, %s and %d charts:\n  %s\n", filepath.Join(o.out, o.label+"-table.md"), filepath.Join(o.out, o.label+".json"), len(paths), strings.Join(paths, "\n  "))
	return nil
}
