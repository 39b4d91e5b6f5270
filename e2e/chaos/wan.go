package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// LossToxic is how a TCP proxy can show packet loss. Toxiproxy sees byte
// streams, not packets: the kernel retransmits a lost segment and the
// application only sees its data arrive late, after the retransmission
// timeout (Linux waits at least 200 ms, plus about one round trip). So
// each chunk the proxy forwards (one read: typically one TLS record or
// one small HTTP message) is held back by Delay milliseconds with
// probability Probability, and the chunks behind it wait too, as TCP's
// in-order delivery makes them. Connection-level faults (resets, hangs)
// are other toxics (reset_peer, timeout).
type LossToxic struct {
	Probability float64 `json:"probability"`
	Delay       int64   `json:"delay"`
}

// Pipe forwards chunks, holding one back now and then.
func (t *LossToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if rand.Float64() < t.Probability {
				select {
				case <-time.After(time.Duration(t.Delay) * time.Millisecond):
				case <-stub.Interrupt:
					stub.Output <- c // drop nothing on the floor
					return
				}
			}
			stub.Output <- c
		}
	}
}

// lossToxicName is LossToxic's type name in the API.
const lossToxicName = "loss"

// RunWAN serves toxiproxy's API on addr with LossToxic registered beside
// the built-in toxics. The proxies it will run are created through the
// API. It returns when the listener fails.
func RunWAN(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	// toxiproxy keeps its toxic types in a registry of its own.
	toxics.Register(lossToxicName, new(LossToxic))
	logger := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.ErrorLevel)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	server.Listen(host, port) // exits the process when the listener fails
	return fmt.Errorf("chaos wan: toxiproxy's API on %s stopped", addr)
}

// WANClient drives toxiproxy's HTTP API. The API listens on the WAN
// namespace's loopback; the client's connections are made there.
type WANClient struct {
	base string
	http *http.Client
}

// NewWANClient returns a client of the API at addr inside ns.
func NewWANClient(ns Netns, addr string) *WANClient {
	return &WANClient{base: "http://" + addr, http: ns.HTTPClient(10 * time.Second)}
}

// Toxic is one toxic as the API takes it.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"` // "upstream" (client to server) or "downstream"
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

func (c *WANClient) call(ctx context.Context, method, path string, in any, want int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return fmt.Errorf("chaos: toxiproxy %s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// Ready waits until the API answers.
func (c *WANClient) Ready(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := c.call(ctx, http.MethodGet, "/version", nil, http.StatusOK)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CreateProxy makes a proxy listening on listen and forwarding to upstream.
func (c *WANClient) CreateProxy(ctx context.Context, name, listen, upstream string) error {
	return c.call(ctx, http.MethodPost, "/proxies", map[string]any{"name": name, "listen": listen, "upstream": upstream, "enabled": true}, http.StatusCreated)
}

// AddToxic adds t to the proxy.
func (c *WANClient) AddToxic(ctx context.Context, proxy string, t Toxic) error {
	return c.call(ctx, http.MethodPost, "/proxies/"+proxy+"/toxics", t, http.StatusOK)
}

// RemoveToxic removes the proxy's toxic called name.
func (c *WANClient) RemoveToxic(ctx context.Context, proxy, name string) error {
	return c.call(ctx, http.MethodDelete, "/proxies/"+proxy+"/toxics/"+name, nil, http.StatusNoContent)
}

// baseToxics are a link's everyday conditions: the round trip between the
// two sites split over the two directions (toxiproxy counts whole
// milliseconds: a 1 ms round trip is 1 ms up and none down), jitter of
// the profile's share of each direction, and loss each way.
func baseToxics(t *Topology, l Link) ([]Toxic, error) {
	rtt, err := t.Profile.RTT(t.Host(l.Client).Site, t.Host(l.Service.Host).Site)
	if err != nil {
		return nil, err
	}
	total := int64((rtt + time.Millisecond/2) / time.Millisecond)
	down := total / 2
	oneWay := map[string]int64{"upstream": total - down, "downstream": down}
	var out []Toxic
	for _, dir := range []string{"upstream", "downstream"} {
		out = append(out, Toxic{Name: "latency-" + dir, Type: "latency", Stream: dir, Toxicity: 1,
			Attributes: map[string]any{"latency": oneWay[dir], "jitter": oneWay[dir] * int64(t.Profile.JitterPercent) / 100}})
		if t.Profile.Loss > 0 {
			out = append(out, Toxic{Name: "loss-" + dir, Type: lossToxicName, Stream: dir, Toxicity: 1,
				Attributes: map[string]any{"probability": t.Profile.Loss, "delay": int64(200) + total}})
		}
	}
	return out, nil
}

// SetUpLinks creates every link's proxy with its everyday conditions.
func SetUpLinks(ctx context.Context, c *WANClient, t *Topology) error {
	for _, l := range t.Links {
		client, server := t.Host(l.Client), t.Host(l.Service.Host)
		listen := net.JoinHostPort(client.Gateway().String(), strconv.Itoa(l.Service.Port))
		upstream := net.JoinHostPort(server.Addr().String(), strconv.Itoa(l.Service.Port))
		if err := c.CreateProxy(ctx, l.Name(), listen, upstream); err != nil {
			return err
		}
		ts, err := baseToxics(t, l)
		if err != nil {
			return err
		}
		for _, tx := range ts {
			if err := c.AddToxic(ctx, l.Name(), tx); err != nil {
				return err
			}
		}
	}
	return nil
}
