package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/internal/network"
)

// Config configures a [Client]. Start from [DefaultConfig].
type Config struct {
	// Nodes are the beacon nodes, most preferred first: reads go to the
	// first healthy one, writes to all.
	Nodes []NodeConfig
	// Network is the chain the nodes must serve. A node whose genesis, fork
	// schedule, slots per epoch or slot duration differ is never used.
	Network *network.Network
	// Timeout bounds each request to one node.
	Timeout time.Duration
	// HealthInterval is how often Run checks every node (sync state,
	// execution client, chain identity).
	HealthInterval time.Duration
	// MaxSyncDistance is how many slots behind its own clock a node may be
	// and still count as healthy.
	MaxSyncDistance uint64
	// AttestationDataWait bounds how long AttestationData waits for the
	// slower nodes once at least one has answered; the decision is made on
	// the answers in hand then.
	AttestationDataWait time.Duration
	// Logger receives node state changes, refusals and disagreements; nil
	// discards.
	Logger *slog.Logger
	// Registerer, when set, receives the client's per-node metrics.
	Registerer prometheus.Registerer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// NodeConfig is one beacon node.
type NodeConfig struct {
	// Name identifies the node in logs, metrics and errors: 1 to 32 of
	// [a-zA-Z0-9._-]. The URL never appears there (it may hold
	// credentials).
	Name string
	// URL is the node's REST API base URL (http or https).
	URL string
	// HTTPClient, when set, is used for every request to this node (mutual
	// TLS is configured here); nil uses a plain client. Its Timeout, if
	// any, also cuts the event stream, which then reconnects: prefer
	// leaving it zero (Config.Timeout bounds every request).
	HTTPClient *http.Client
}

// DefaultConfig returns the defaults for everything but Nodes and Network.
func DefaultConfig() Config {
	return Config{
		Timeout:             2 * time.Second,
		HealthInterval:      6 * time.Second,
		MaxSyncDistance:     2,
		AttestationDataWait: 500 * time.Millisecond,
	}
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,32}$`)

// Validate reports the first wrong field.
func (c Config) Validate() error {
	if len(c.Nodes) == 0 {
		return errors.New("beacon: Nodes: none configured")
	}
	names := map[string]bool{}
	for i, n := range c.Nodes {
		if !namePattern.MatchString(n.Name) {
			return fmt.Errorf("beacon: Nodes[%d].Name: %q is not 1 to 32 of [a-zA-Z0-9._-]", i, n.Name)
		}
		if names[n.Name] {
			return fmt.Errorf("beacon: Nodes[%d].Name: %q is used twice", i, n.Name)
		}
		names[n.Name] = true
		u, err := url.Parse(n.URL)
		// The URL itself is not quoted: it may hold credentials.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("beacon: Nodes[%d].URL: not an http(s) URL with a host", i)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("beacon: Nodes[%d].URL: has a query or fragment (give the API base URL)", i)
		}
	}
	switch {
	case c.Network == nil:
		return errors.New("beacon: Network: none configured")
	case c.Timeout <= 0:
		return errors.New("beacon: Timeout: must be positive")
	case c.HealthInterval <= 0:
		return errors.New("beacon: HealthInterval: must be positive")
	case c.AttestationDataWait < 0:
		return errors.New("beacon: AttestationDataWait: must not be negative")
	}
	return nil
}
